/* The formats an image comes in, read into the writer layer by layer:
 *
 *   a directory with oci-layout   an OCI layout: blobs are files below it
 *   a directory with manifest.json  an unpacked docker save
 *   any other directory            the tree itself (archive_read_disk,
 *                                  links not followed, mounts not entered)
 *   a tarball (maybe compressed)   an OCI layout or a docker save, packed
 *
 * A layer is read as a stream whose every byte goes through SHA-256 on its
 * way to the tar reader; what the reader leaves at the end is read too, and
 * the sum must be the digest the manifest gave. A layer whose digest is not
 * the manifest's is refused as that, even when it also failed to unpack:
 * its content was not the image's. Blobs in a tarball are found by reading
 * it from the start again for each (libarchive skips what it can seek
 * past). Files of a layout directory are opened below it without following
 * a link. */
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/image_internal.h"

#define READ_BLOCK (64u << 10)

/* Where an image's files are: below a directory, or in a tarball. */
struct store {
    const char *path;  /* to open */
    const char *shown; /* to name in messages */
    int dir_fd;        /* the layout directory, or -1 for a tarball */
};

static struct archive *open_tar(const char *shown, char *err, size_t errlen)
{
    struct archive *a = archive_read_new();
    if (a == NULL) {
        snprintf(err, errlen, "reading %s: out of memory", shown);
        return NULL;
    }
    archive_read_support_format_tar(a);
    /* Named, not all: some of the others would run external programs. */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_zstd(a);
    return a;
}

/* The next entry of a tarball and its normalised name ("" when it has
 * none that is acceptable); 1, 0 at the end, -1 on error. */
static int next_entry(struct archive *a, const char *tarball, char name[4096],
                      struct archive_entry **entry, char *err, size_t errlen)
{
    int r = archive_read_next_header(a, entry);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r < ARCHIVE_WARN) {
        snprintf(err, errlen, "reading %s: %s", tarball, archive_error_string(a));
        return -1;
    }
    const char *raw = archive_entry_pathname(*entry);
    if (raw == NULL || image_path_normalise(raw, name, 4096) != NULL)
        name[0] = '\0';
    return 1;
}

/* Moves outer to the regular file named name; 1 found, 0 not, -1 error. */
static int seek_entry(struct archive *outer, const char *tarball, const char *name,
                      struct archive_entry **entry, char *err, size_t errlen)
{
    char path[4096];
    int r;
    while ((r = next_entry(outer, tarball, path, entry, err, errlen)) == 1) {
        if (strcmp(path, name) == 0 && archive_entry_filetype(*entry) == AE_IFREG)
            return 1;
    }
    return r;
}

static struct archive *open_tar_at(const struct store *s, const char *name, int64_t *size,
                                   char *err, size_t errlen)
{
    struct archive *outer = open_tar(s->shown, err, errlen);
    struct archive_entry *entry;
    if (outer == NULL)
        return NULL;
    if (archive_read_open_filename(outer, s->path, READ_BLOCK) != ARCHIVE_OK) {
        snprintf(err, errlen, "reading %s: %s", s->shown, archive_error_string(outer));
        archive_read_free(outer);
        return NULL;
    }
    int found = seek_entry(outer, s->shown, name, &entry, err, errlen);
    if (found <= 0) {
        if (found == 0)
            snprintf(err, errlen, "%s has no file %s", s->shown, name);
        archive_read_free(outer);
        return NULL;
    }
    *size = archive_entry_size(entry);
    return outer;
}

/* name below the layout directory, never through a link. */
static int open_below(const struct store *s, const char *name, char *err, size_t errlen)
{
    char path[4096];
    const char *why = image_path_normalise(name, path, sizeof(path));
    if (why != NULL || path[0] == '\0') {
        snprintf(err, errlen, "%s: the path %s %s", s->shown, name, why ? why : "is empty");
        return -1;
    }
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, s->dir_fd, path, &how, sizeof(how));
    if (fd < 0)
        snprintf(err, errlen, "opening %s/%s: %s", s->shown, path, strerror(errno));
    return fd;
}

static int read_all_fd(int fd, char *data, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = read(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errno = n == 0 ? EIO : errno;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int store_read(void *ctx, const char *name, char **data, size_t *len, char *err,
                      size_t errlen)
{
    const struct store *s = ctx;
    int64_t size = -1;
    int fd = -1;
    struct archive *outer = NULL;
    struct stat st;
    if (s->dir_fd >= 0) {
        if ((fd = open_below(s, name, err, errlen)) < 0)
            return -1;
        size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
    } else if ((outer = open_tar_at(s, name, &size, err, errlen)) == NULL) {
        return -1;
    }
    int rc = -1;
    if (size < 0 || size > IMAGE_JSON_MAX_BYTES) {
        snprintf(err, errlen, "%s: %s is not a regular file of at most %u bytes", s->shown, name,
                 IMAGE_JSON_MAX_BYTES);
    } else if ((*data = malloc((size_t)size + 1)) == NULL) {
        snprintf(err, errlen, "reading %s: out of memory", name);
    } else if (fd >= 0 ? read_all_fd(fd, *data, (size_t)size) != 0
                       : archive_read_data(outer, *data, (size_t)size) != size) {
        snprintf(err, errlen, "%s: reading %s: %s", s->shown, name,
                 fd >= 0 ? strerror(errno) : archive_error_string(outer));
        free(*data);
    } else {
        (*data)[size] = '\0';
        *len = (size_t)size;
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    if (outer != NULL)
        archive_read_free(outer);
    return rc;
}

/* A blob as the layer reader gets it, hashed on the way. */
struct blob {
    struct archive *outer; /* the tarball, at the blob's entry; or NULL */
    int fd;                /* or the blob's file */
    EVP_MD_CTX *md;
    uint64_t bytes;
    char error[256];
    char buf[READ_BLOCK];
};

static ssize_t blob_next(struct blob *b)
{
    ssize_t n;
    if (b->outer != NULL) {
        n = archive_read_data(b->outer, b->buf, sizeof(b->buf));
        if (n < 0)
            snprintf(b->error, sizeof(b->error), "%s", archive_error_string(b->outer));
    } else {
        while ((n = read(b->fd, b->buf, sizeof(b->buf))) < 0 && errno == EINTR)
            ;
        if (n < 0)
            snprintf(b->error, sizeof(b->error), "%s", strerror(errno));
    }
    if (n > 0) {
        EVP_DigestUpdate(b->md, b->buf, (size_t)n);
        b->bytes += (uint64_t)n;
    }
    return n;
}

static la_ssize_t blob_read(struct archive *a, void *ctx, const void **buf)
{
    struct blob *b = ctx;
    ssize_t n = blob_next(b);
    if (n < 0) {
        archive_set_error(a, EIO, "reading the layer: %s", b->error);
        return -1;
    }
    *buf = b->buf;
    return n;
}

/* Reads what the layer's reader left, then compares the sum. */
static int blob_verify(struct blob *b, const struct image_layer *layer, const char *label,
                       char *err, size_t errlen)
{
    ssize_t n;
    while ((n = blob_next(b)) > 0)
        ;
    if (n < 0) {
        snprintf(err, errlen, "%s: reading it: %s", label, b->error);
        return -1;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    char hex[65] = "";
    if (EVP_DigestFinal_ex(b->md, digest, &digest_len) == 1 && digest_len == 32) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    if (strcmp(hex, layer->sha256) != 0) {
        snprintf(err, errlen, "%s: its SHA-256 is %s, not sha256:%s as the manifest says", label,
                 hex, layer->sha256);
        return -1;
    }
    if (layer->size >= 0 && (uint64_t)layer->size != b->bytes) {
        snprintf(err, errlen, "%s: %llu bytes, not %lld as the manifest says", label,
                 (unsigned long long)b->bytes, (long long)layer->size);
        return -1;
    }
    return 0;
}

static int unpack_layer(const struct store *s, const struct image_layer *layer, const char *label,
                        struct unpacker *u, char *err, size_t errlen)
{
    struct blob *b = calloc(1, sizeof(*b));
    struct archive *a = NULL;
    int64_t size;
    int rc = -1;
    char why[512] = "";
    if (b == NULL || (b->md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "%s: out of memory", label);
        goto out;
    }
    b->fd = -1;
    if (s->dir_fd >= 0 ? (b->fd = open_below(s, layer->path, err, errlen)) < 0
                       : (b->outer = open_tar_at(s, layer->path, &size, err, errlen)) == NULL)
        goto out;
    if ((a = open_tar(layer->path, err, errlen)) == NULL)
        goto out;
    int applied = -1;
    if (archive_read_open(a, b, NULL, blob_read, NULL) != ARCHIVE_OK)
        snprintf(why, sizeof(why), "%s: %s", label, archive_error_string(a));
    else
        applied = unpacker_apply(u, a, label, IMAGE_LAYER_TAR, why, sizeof(why));
    /* A digest that is not the manifest's says more than what it broke. */
    if (blob_verify(b, layer, label, err, errlen) == 0) {
        if (applied == 0)
            rc = 0;
        else
            snprintf(err, errlen, "%s", why);
    }
out:
    if (a != NULL)
        archive_read_free(a);
    if (b != NULL) {
        if (b->outer != NULL)
            archive_read_free(b->outer);
        if (b->fd >= 0)
            close(b->fd);
        EVP_MD_CTX_free(b->md);
        free(b);
    }
    return rc;
}

static int unpack_layers(const struct store *s, bool oci, struct unpacker *u, char *err,
                         size_t errlen)
{
    struct image_files files = {(void *)s, store_read};
    struct image_layers layers;
    if ((oci ? image_oci_layers(&files, &layers, err, errlen)
             : image_docker_layers(&files, &layers, err, errlen)) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < layers.count; i++) {
        char label[128];
        snprintf(label, sizeof(label), "layer %zu of %zu (sha256:%.12s)", i + 1, layers.count,
                 layers.items[i].sha256);
        rc = unpack_layer(s, &layers.items[i], label, u, err, errlen);
    }
    image_layers_free(&layers);
    return rc;
}

static int unpack_tree(const char *path, const char *shown, struct unpacker *u, char *err,
                       size_t errlen)
{
    struct archive *a = archive_read_disk_new();
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    if (a == NULL || cwd < 0) {
        snprintf(err, errlen, "reading %s: %s", shown,
                 a == NULL ? "out of memory" : strerror(errno));
        goto out;
    }
    /* Paths relative to the tree, so they read as a layer's do. */
    if (chdir(path) != 0) {
        snprintf(err, errlen, "entering %s: %s", shown, strerror(errno));
        goto out;
    }
    archive_read_disk_set_symlink_physical(a);
    archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS |
                                          ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL |
                                          ARCHIVE_READDISK_NO_FFLAGS);
    if (archive_read_disk_open(a, ".") != ARCHIVE_OK)
        snprintf(err, errlen, "reading %s: %s", shown, archive_error_string(a));
    else
        rc = unpacker_apply(u, a, shown, IMAGE_LAYER_DISK, err, errlen);
    if (fchdir(cwd) != 0 && rc == 0) {
        snprintf(err, errlen, "leaving %s: %s", shown, strerror(errno));
        rc = -1;
    }
out:
    if (a != NULL)
        archive_read_free(a);
    if (cwd >= 0)
        close(cwd);
    return rc;
}

/* Which of oci-layout, index.json, manifest.json a tarball has at its top. */
static int tar_kind(const struct store *s, bool *oci, bool *docker, char *err, size_t errlen)
{
    struct archive *a = open_tar(s->shown, err, errlen);
    struct archive_entry *entry;
    bool layout = false, index = false, manifest = false;
    char name[4096];
    int r = -1;
    if (a == NULL)
        return -1;
    if (archive_read_open_filename(a, s->path, READ_BLOCK) != ARCHIVE_OK)
        snprintf(err, errlen, "reading %s: %s", s->shown, archive_error_string(a));
    else
        while ((r = next_entry(a, s->shown, name, &entry, err, errlen)) == 1) {
            layout = layout || strcmp(name, "oci-layout") == 0;
            index = index || strcmp(name, "index.json") == 0;
            manifest = manifest || strcmp(name, "manifest.json") == 0;
        }
    archive_read_free(a);
    *oci = layout && index;
    *docker = manifest;
    return r;
}

int image_unpack_source(const char *path, const char *shown, struct unpacker *u, char *err,
                        size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", shown, strerror(errno));
        return -1;
    }
    struct store s = {.path = path, .shown = shown, .dir_fd = -1};
    bool oci = false, docker = false;
    if (S_ISDIR(st.st_mode)) {
        if ((s.dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            snprintf(err, errlen, "opening %s: %s", shown, strerror(errno));
            return -1;
        }
        oci = faccessat(s.dir_fd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        docker = !oci && faccessat(s.dir_fd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        int rc = oci || docker ? unpack_layers(&s, oci, u, err, errlen)
                               : unpack_tree(path, shown, u, err, errlen);
        close(s.dir_fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: neither a directory nor a tarball", shown);
        return -1;
    }
    if (tar_kind(&s, &oci, &docker, err, errlen) != 0)
        return -1;
    if (!oci && !docker) {
        snprintf(err, errlen,
                 "%s: neither an OCI layout (oci-layout, index.json) nor a docker save "
                 "(manifest.json)",
                 shown);
        return -1;
    }
    return unpack_layers(&s, oci, u, err, errlen);
}
