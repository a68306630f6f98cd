#include "tests/unit/image_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/image_internal.h"

struct tar {
    struct archive *a;
    char *data;
    size_t len, capacity;
    bool done;
};

static la_ssize_t append(struct archive *a, void *ctx, const void *buf, size_t len)
{
    struct tar *t = ctx;
    (void)a;
    if (t->len + len > t->capacity) {
        t->capacity = (t->len + len) * 2;
        t->data = realloc(t->data, t->capacity);
        assert_non_null(t->data);
    }
    memcpy(t->data + t->len, buf, len);
    t->len += len;
    return (la_ssize_t)len;
}

struct tar *tar_new(bool gzip)
{
    struct tar *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
    if (gzip)
        assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_in_last_block(t->a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open(t->a, t, NULL, append, NULL), ARCHIVE_OK);
    return t;
}

static struct archive_entry *entry(const char *path, mode_t type, mode_t mode, int64_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, size);
    archive_entry_set_uid(e, 1000);
    archive_entry_set_gid(e, 1000);
    return e;
}

static void put(struct tar *t, struct archive_entry *e, const char *data, size_t len)
{
    if (archive_write_header(t->a, e) != ARCHIVE_OK)
        fail_msg("writing %s: %s", archive_entry_pathname(e), archive_error_string(t->a));
    if (len > 0)
        assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

void tar_file(struct tar *t, const char *path, mode_t mode, const char *data)
{
    put(t, entry(path, AE_IFREG, mode, (int64_t)strlen(data)), data, strlen(data));
}

void tar_zeros(struct tar *t, const char *path, size_t size)
{
    static const char block[1 << 16];
    put(t, entry(path, AE_IFREG, 0644, (int64_t)size), NULL, 0);
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof(block) ? size - done : sizeof(block);
        assert_int_equal(archive_write_data(t->a, block, n), (la_ssize_t)n);
        done += n;
    }
}

void tar_dir(struct tar *t, const char *path, mode_t mode)
{
    put(t, entry(path, AE_IFDIR, mode, 0), NULL, 0);
}

void tar_symlink(struct tar *t, const char *path, const char *target)
{
    struct archive_entry *e = entry(path, AE_IFLNK, 0777, 0);
    archive_entry_set_symlink(e, target);
    put(t, e, NULL, 0);
}

void tar_hardlink(struct tar *t, const char *path, const char *target)
{
    struct archive_entry *e = entry(path, AE_IFREG, 0644, 0);
    archive_entry_set_hardlink(e, target);
    put(t, e, NULL, 0);
}

void tar_special(struct tar *t, const char *path, mode_t type)
{
    struct archive_entry *e = entry(path, type, 0666, 0);
    archive_entry_set_rdev(e, makedev(1, 3));
    put(t, e, NULL, 0);
}

const char *tar_bytes(struct tar *t, size_t *len)
{
    if (!t->done) {
        assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
        t->done = true;
    }
    *len = t->len;
    return t->data;
}

void tar_free(struct tar *t)
{
    archive_write_free(t->a);
    free(t->data);
    free(t);
}

/* ---- layouts ---- */

typedef void (*emit_fn)(void *ctx, const char *name, const char *data, size_t len);

static char *format(const char *fmt, ...)
{
    va_list ap;
    char *text;
    va_start(ap, fmt);
    assert_true(vasprintf(&text, fmt, ap) >= 0);
    va_end(ap);
    return text;
}

static void emit_blob(emit_fn emit, void *ctx, const char *data, size_t len, char hex[65])
{
    char name[96];
    image_sha256_hex(data, len, hex);
    snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
    emit(ctx, name, data, len);
}

static void layout(const struct layer *layers, size_t n, int wrong_digest, emit_fn emit, void *ctx)
{
    char *list = strdup(""), hex[65];
    for (size_t i = 0; i < n; i++) {
        if ((int)i == wrong_digest) {
            char name[96];
            image_sha256_hex("other bytes", 11, hex);
            snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
            emit(ctx, name, layers[i].data, layers[i].len);
        } else {
            emit_blob(emit, ctx, layers[i].data, layers[i].len, hex);
        }
        char *grown =
            format("%s%s{\"mediaType\": \"application/vnd.oci.image.layer.v1.tar%s\","
                   " \"digest\": \"sha256:%s\", \"size\": %zu}",
                   list, i ? ", " : "", layers[i].gzip ? "+gzip" : "", hex, layers[i].len);
        free(list);
        list = grown;
    }
    char *manifest = format("{\"schemaVersion\": 2, \"mediaType\": "
                            "\"application/vnd.oci.image.manifest.v1+json\", \"layers\": [%s]}",
                            list);
    emit_blob(emit, ctx, manifest, strlen(manifest), hex);
    char *index = format("{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": "
                         "\"application/vnd.oci.image.manifest.v1+json\", \"digest\": "
                         "\"sha256:%s\", \"size\": %zu}]}",
                         hex, strlen(manifest));
    emit(ctx, "index.json", index, strlen(index));
    const char *version = "{\"imageLayoutVersion\": \"1.0.0\"}";
    emit(ctx, "oci-layout", version, strlen(version));
    free(index);
    free(manifest);
    free(list);
}

static void write_in_dir(void *ctx, const char *name, const char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/blobs", (const char *)ctx);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/blobs/sha256", (const char *)ctx);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s", (const char *)ctx, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

void oci_write(const char *dir, const struct layer *layers, size_t n, int wrong_digest)
{
    mkdir(dir, 0755);
    layout(layers, n, wrong_digest, write_in_dir, (void *)dir);
}

static void write_in_tar(void *ctx, const char *name, const char *data, size_t len)
{
    struct tar *t = ctx;
    put(t, entry(name, AE_IFREG, 0644, (int64_t)len), data, len);
}

static void save(struct tar *t, const char *path)
{
    size_t len;
    const char *data = tar_bytes(t, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    tar_free(t);
}

void oci_write_tar(const char *path, const struct layer *layers, size_t n)
{
    struct tar *t = tar_new(false);
    layout(layers, n, -1, write_in_tar, t);
    save(t, path);
}

void docker_write(const char *path, const struct layer *layers, size_t n)
{
    struct tar *t = tar_new(false);
    char *diff_ids = strdup(""), *names = strdup(""), hex[65], config_hex[65];
    for (size_t i = 0; i < n; i++) {
        image_sha256_hex(layers[i].data, layers[i].len, hex);
        char name[96];
        snprintf(name, sizeof(name), "%.16s%zu/layer.tar", hex, i);
        write_in_tar(t, name, layers[i].data, layers[i].len);
        char *ids = format("%s%s\"sha256:%s\"", diff_ids, i ? ", " : "", hex);
        char *list = format("%s%s\"%s\"", names, i ? ", " : "", name);
        free(diff_ids);
        free(names);
        diff_ids = ids;
        names = list;
    }
    char *config = format("{\"rootfs\": {\"type\": \"layers\", \"diff_ids\": [%s]}}", diff_ids);
    image_sha256_hex(config, strlen(config), config_hex);
    char *config_name = format("%s.json", config_hex);
    write_in_tar(t, config_name, config, strlen(config));
    char *manifest = format("[{\"Config\": \"%s\", \"Layers\": [%s]}]", config_name, names);
    write_in_tar(t, "manifest.json", manifest, strlen(manifest));
    save(t, path);
    free(manifest);
    free(config_name);
    free(config);
    free(names);
    free(diff_ids);
}
