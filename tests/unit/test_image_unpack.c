/* The image writer against hostile images, each built here entry by entry
 * and read through the real formats (an OCI layout, a docker save): paths
 * that climb or are absolute, links that would be written through, hardlinks
 * out of the tree, device nodes, setuid bits, whiteouts, sizes and counts
 * past the limits, digests that are not the manifest's, truncated archives;
 * and the same tree from every format with the same digest. Runs in
 * process, as root (files are created root's). */
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/image_internal.h"
#include "tests/unit/image_tar.h"
#include "tests/unit/tree.h"

struct fixture {
    char dir[64];     /* everything of the test */
    char root[96];    /* the tree */
    char outside[96]; /* what an escape would reach */
    char image[96];   /* the layout */
    int root_fd;
    char err[2048];
    char notes[4096];
    struct image_limits limits;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/brig-image-unpack-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    snprintf(f->image, sizeof(f->image), "%s/image", f->dir);
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY);
    assert_true(f->root_fd >= 0);
    image_limits_default(&f->limits);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->root_fd);
    remove_tree(f->dir);
    free(f);
    return 0;
}

static void collect_note(void *ctx, const char *text)
{
    struct fixture *f = ctx;
    size_t used = strlen(f->notes);
    snprintf(f->notes + used, sizeof(f->notes) - used, "%s\n", text);
}

/* Unpacks source (a layout or tarball) into the tree. */
static int unpack_path(struct fixture *f, const char *source)
{
    struct unpacker *u;
    f->err[0] = '\0';
    assert_int_equal(
        unpacker_new(f->root_fd, &f->limits, collect_note, f, &u, f->err, sizeof(f->err)), 0);
    int rc = image_unpack_source(source, "the image", u, f->err, sizeof(f->err));
    unpacker_free(u);
    return rc;
}

/* The layers as an OCI layout, unpacked. */
static int unpack(struct fixture *f, const struct layer *layers, size_t n)
{
    remove_tree(f->image);
    oci_write(f->image, layers, n, -1);
    return unpack_path(f, f->image);
}

/* One layer of one tar, unpacked; the tar is freed. */
static int unpack_tar(struct fixture *f, struct tar *t)
{
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    int rc = unpack(f, &layer, 1);
    tar_free(t);
    return rc;
}

static void assert_refused(struct fixture *f, int rc, const char *expected)
{
    assert_int_equal(rc, -1);
    if (strstr(f->err, expected) == NULL)
        fail_msg("expected \"%s\" in: %s", expected, f->err);
}

static bool exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static mode_t mode_of(struct fixture *f, const char *name)
{
    struct stat st;
    assert_int_equal(fstatat(f->root_fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st.st_mode;
}

static void test_dotdot_refused(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_file(t, "a/../../outside/escaped", 0644, "x");
    assert_refused(f, unpack_tar(f, t), "entry \"a/../../outside/escaped\": has a \"..\"");
    assert_false(exists(f->outside, "escaped"));
}

static void test_absolute_refused(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/escaped", f->outside);
    struct tar *t = tar_new(false);
    tar_file(t, path, 0644, "x");
    assert_refused(f, unpack_tar(f, t), "is an absolute path");
    assert_false(exists(f->outside, "escaped"));
}

/* A link is kept as the string it is, and never written through: not as a
 * parent, not as the file a later entry of the same name replaces. */
static void test_links_never_written_through(void **state)
{
    struct fixture *f = *state;
    const char *parents[] = {f->outside, "../outside", "../../../../../../.."};
    for (size_t i = 0; i < 3; i++) {
        struct tar *t = tar_new(false);
        tar_symlink(t, "evil", parents[i]);
        tar_file(t, "evil/planted", 0644, "x");
        assert_refused(f, unpack_tar(f, t),
                       "its parent evil is a symbolic link, and links are never written through");
        assert_false(exists(f->outside, "planted"));
        char target[PATH_MAX] = "";
        assert_true(readlinkat(f->root_fd, "evil", target, sizeof(target) - 1) > 0);
        assert_string_equal(target, parents[i]);
    }
    char victim[PATH_MAX];
    snprintf(victim, sizeof(victim), "%s/victim", f->outside);
    struct tar *t = tar_new(false);
    tar_symlink(t, "x", victim);
    tar_file(t, "x", 0644, "replaced");
    assert_int_equal(unpack_tar(f, t), 0);
    assert_false(exists(f->outside, "victim"));
    assert_true(S_ISREG(mode_of(f, "x")));
}

static void test_hardlinks_only_to_files_in_the_tree(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *target;
        const char *why;
    } bad[] = {
        {"../outside/secret", "has a \"..\" component"},
        {"/etc/passwd", "is an absolute path"},
        {"link", "not a regular file unpacked before it"},
        {"later", "not a regular file unpacked before it"},
        {"dir", "not a regular file unpacked before it"},
        {"link/passwd", "not a regular file unpacked before it"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tar *t = tar_new(false);
        tar_symlink(t, "link", "/etc");
        tar_dir(t, "dir", 0755);
        tar_hardlink(t, "h", bad[i].target);
        tar_file(t, "later", 0644, "x");
        assert_refused(f, unpack_tar(f, t), bad[i].why);
    }
    struct tar *t = tar_new(false);
    tar_file(t, "target", 0644, "shared");
    tar_hardlink(t, "same", "target");
    assert_int_equal(unpack_tar(f, t), 0);
    struct stat a, b;
    assert_int_equal(fstatat(f->root_fd, "target", &a, 0), 0);
    assert_int_equal(fstatat(f->root_fd, "same", &b, 0), 0);
    assert_int_equal(a.st_ino, b.st_ino);
}

static void test_special_files_skipped(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_special(t, "dev/null", AE_IFCHR);
    tar_special(t, "dev/sda", AE_IFBLK);
    tar_special(t, "fifo", AE_IFIFO);
    tar_file(t, "kept", 0644, "x");
    assert_int_equal(unpack_tar(f, t), 0);
    assert_non_null(strstr(f->notes, "skipped the character device dev/null"));
    assert_non_null(strstr(f->notes, "skipped the block device dev/sda"));
    assert_non_null(strstr(f->notes, "skipped the FIFO fifo"));
    assert_false(exists(f->root, "dev/null"));
    assert_false(exists(f->root, "dev/sda"));
    assert_false(exists(f->root, "fifo"));
    assert_true(exists(f->root, "kept"));
}

/* A directory tree is read without following its links; FIFOs are skipped
 * with a note, sockets (libarchive's disk reader passes over them) without. */
static void test_tree_specials_skipped_links_kept(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];
    assert_int_equal(mkdir(f->image, 0755), 0);
    snprintf(path, sizeof(path), "%s/fifo", f->image);
    assert_int_equal(mkfifo(path, 0644), 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/sock", f->image);
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
    snprintf(path, sizeof(path), "%s/setuid", f->image);
    assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
    assert_int_equal(chmod(path, 04755), 0);
    snprintf(path, sizeof(path), "%s/outside-link", f->image);
    assert_int_equal(symlink(f->outside, path), 0);
    assert_int_equal(unpack_path(f, f->image), 0);
    close(sock);
    assert_non_null(strstr(f->notes, "the image: skipped the FIFO ./fifo"));
    assert_false(exists(f->root, "sock"));
    assert_false(exists(f->root, "fifo"));
    assert_int_equal(mode_of(f, "setuid") & 07777, 0755);
    assert_true(S_ISLNK(mode_of(f, "outside-link")));
}

/* Modes keep their rwx bits but lose setuid, setgid, sticky, and group and
 * other write; owners are root whatever the archive says. */
static void test_modes_neutralised(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_file(t, "suid", 04755, "x");
    tar_file(t, "sgid", 02711, "x");
    tar_file(t, "writable", 0666, "x");
    tar_dir(t, "sticky", 01777);
    tar_dir(t, "private", 0700);
    assert_int_equal(unpack_tar(f, t), 0);
    assert_int_equal(mode_of(f, "suid") & 07777, 0755);
    assert_int_equal(mode_of(f, "sgid") & 07777, 0711);
    assert_int_equal(mode_of(f, "writable") & 07777, 0644);
    assert_int_equal(mode_of(f, "sticky") & 07777, 0755);
    assert_int_equal(mode_of(f, "private") & 07777, 0700);
    struct stat st;
    assert_int_equal(fstatat(f->root_fd, "suid", &st, 0), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, 0);
}

static void test_whiteouts_apply_to_lower_layers(void **state)
{
    struct fixture *f = *state;
    struct tar *lower = tar_new(true), *upper = tar_new(false);
    tar_file(lower, "gone", 0644, "lower");
    tar_file(lower, "d/x", 0644, "lower");
    tar_file(lower, "d/sub/y", 0644, "lower");
    tar_file(lower, "kept", 0644, "lower");
    tar_file(lower, "e/replaced", 0644, "lower");
    /* The whiteout of a name the layer also writes, before or after it,
     * hides only what is below. */
    tar_file(upper, "e/replaced", 0644, "upper");
    tar_file(upper, ".wh.gone", 0644, "");
    tar_file(upper, "d/.wh..wh..opq", 0644, "");
    tar_file(upper, "d/z", 0644, "upper");
    tar_file(upper, "e/.wh.replaced", 0644, "");
    tar_file(upper, "e/.wh.never-was", 0644, "");
    tar_file(upper, "missing/.wh.x", 0644, "");
    tar_file(upper, ".wh..wh.plnk", 0644, "");
    struct layer layers[2] = {{.gzip = true}, {.gzip = false}};
    layers[0].data = tar_bytes(lower, &layers[0].len);
    layers[1].data = tar_bytes(upper, &layers[1].len);
    assert_int_equal(unpack(f, layers, 2), 0);
    tar_free(lower);
    tar_free(upper);
    assert_false(exists(f->root, "gone"));
    assert_false(exists(f->root, ".wh.gone"));
    assert_false(exists(f->root, "d/x"));
    assert_false(exists(f->root, "d/sub"));
    assert_false(exists(f->root, "d/.wh..wh..opq"));
    assert_true(exists(f->root, "d/z"));
    assert_true(exists(f->root, "kept"));
    assert_true(exists(f->root, "e/replaced"));
    assert_false(exists(f->root, "missing"));
}

/* A whiteout is a path like any: it neither climbs nor goes through a link. */
static void test_whiteouts_stay_in_the_tree(void **state)
{
    struct fixture *f = *state;
    int fd = open(f->outside, O_RDONLY);
    assert_int_equal(close(openat(fd, "victim", O_CREAT | O_WRONLY, 0644)), 0);
    close(fd);
    struct tar *t = tar_new(false);
    tar_file(t, "../outside/.wh.victim", 0644, "");
    assert_refused(f, unpack_tar(f, t), "has a \"..\" component");
    t = tar_new(false);
    tar_symlink(t, "out", f->outside);
    tar_file(t, "out/.wh.victim", 0644, "");
    assert_refused(f, unpack_tar(f, t), "its parent out is a symbolic link");
    t = tar_new(false);
    tar_file(t, "d/.wh..", 0644, "");
    assert_refused(f, unpack_tar(f, t), "a whiteout of nothing, \".\" or \"..\"");
    assert_true(exists(f->outside, "victim"));
}

static void test_file_past_the_largest_refused(void **state)
{
    struct fixture *f = *state;
    f->limits.file_bytes = 1 << 20;
    struct tar *t = tar_new(true);
    tar_zeros(t, "big", 2 << 20);
    assert_refused(f, unpack_tar(f, t),
                   "entry \"big\": 2.0 MiB is larger than the image's largest file (1.0 MiB)");
    assert_false(exists(f->root, "big"));
}

/* A bomb: little gzip, many bytes. The total stops it. */
static void test_bomb_stopped_by_the_total(void **state)
{
    struct fixture *f = *state;
    f->limits.total_bytes = 4 << 20;
    struct tar *t = tar_new(true);
    char name[32];
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof(name), "zeros%d", i);
        tar_zeros(t, name, 1 << 20);
    }
    size_t len;
    tar_bytes(t, &len);
    assert_true(len < (64 << 10)); /* 8 MiB in under 64 KiB */
    assert_refused(f, unpack_tar(f, t),
                   "entry \"zeros4\": the image's files come to more than its total (4.0 MiB)");
}

static void test_too_many_entries_refused(void **state)
{
    struct fixture *f = *state;
    f->limits.entries = 100;
    struct tar *t = tar_new(true);
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        tar_file(t, name, 0644, "");
    }
    assert_refused(f, unpack_tar(f, t), "entry \"f100\": the image has more than 100 entries");
}

static void test_layer_digest_not_the_manifests_refused(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_file(t, "a", 0644, "x");
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    oci_write(f->image, &layer, 1, 0);
    assert_refused(f, unpack_path(f, f->image), "layer 1 of 1 (sha256:");
    assert_refused(
        f, -1, "not sha256:a3ead5eedad5df82318c51685dbc1c147a36d1ff8584fc82de6b08d0bf63a795 as");
    tar_free(t);
}

/* A byte of a layer changed inside a packed image: the outer tar is intact,
 * the layer's digest is not the one the manifest (OCI) or the config's
 * diff_ids (docker save) give. */
static void test_changed_layer_in_a_tarball_refused(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_file(t, "a", 0644, "the original content");
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/packed.tar", f->dir);
    for (int docker = 0; docker < 2; docker++) {
        if (docker)
            docker_write(path, &layer, 1);
        else
            oci_write_tar(path, &layer, 1);
        assert_int_equal(unpack_path(f, path), 0);
        int fd = open(path, O_RDWR);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        char *bytes = malloc((size_t)st.st_size);
        assert_int_equal(read(fd, bytes, (size_t)st.st_size), st.st_size);
        char *hit = memmem(bytes, (size_t)st.st_size, "original", 8);
        assert_non_null(hit);
        assert_int_equal(pwrite(fd, "ORIGINAL", 8, hit - bytes), 8);
        close(fd);
        free(bytes);
        assert_refused(f, unpack_path(f, path), "as the manifest says");
    }
    tar_free(t);
}

static void test_truncated_archives_refused(void **state)
{
    struct fixture *f = *state;
    for (int gzip = 0; gzip < 2; gzip++) {
        struct tar *t = tar_new(gzip);
        tar_file(t, "first", 0644, "complete");
        tar_zeros(t, "second", 64 << 10);
        struct layer layer = {.gzip = gzip};
        layer.data = tar_bytes(t, &layer.len);
        layer.len = gzip ? layer.len / 2 : 512 * 4; /* inside second's data */
        assert_int_equal(unpack(f, &layer, 1), -1);
        if (strstr(f->err, "layer 1 of 1") == NULL ||
            (strstr(f->err, "runcated") == NULL && strstr(f->err, "premature") == NULL))
            fail_msg("not a truncation: %s", f->err);
        tar_free(t);
    }
}

static void test_broken_manifests_refused(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *name, *text, *why;
    } bad[] = {
        {"index.json", "{\"manifests\": []}", "index.json: \"manifests\" must be a non-empty"},
        {"index.json", "{\"manifests\": [{\"digest\": \"md5:00\"}]}",
         "digest must be \"sha256:\" and 64 lowercase hex digits"},
        {"index.json", "not json", "index.json:1:"},
        {"index.json",
         "{\"manifests\": [{\"digest\": "
         "\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"}]}",
         "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000"},
    };
    struct tar *t = tar_new(false);
    tar_file(t, "a", 0644, "x");
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        remove_tree(f->image);
        oci_write(f->image, &layer, 1, -1);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", f->image, bad[i].name);
        FILE *file = fopen(path, "w");
        fputs(bad[i].text, file);
        fclose(file);
        assert_refused(f, unpack_path(f, f->image), bad[i].why);
    }
    tar_free(t);
}

/* The digest is the tree's: an OCI layout, its tarball, a docker save and
 * a directory of the same files have the same. */
static void test_same_tree_same_digest_in_every_format(void **state)
{
    struct fixture *f = *state;
    struct tar *t = tar_new(false);
    tar_dir(t, "usr", 0755);
    tar_file(t, "usr/tool", 0755, "#!/bin/sh\n");
    tar_symlink(t, "bin", "usr");
    tar_file(t, "etc/os-release", 0644, "ID=test\n");
    struct layer layer = {.gzip = false};
    layer.data = tar_bytes(t, &layer.len);
    char sources[4][PATH_MAX], digests[4][IMAGE_DIGEST_SIZE];
    snprintf(sources[0], PATH_MAX, "%s/oci", f->dir);
    snprintf(sources[1], PATH_MAX, "%s/oci.tar", f->dir);
    snprintf(sources[2], PATH_MAX, "%s/docker.tar", f->dir);
    oci_write(sources[0], &layer, 1, -1);
    oci_write_tar(sources[1], &layer, 1);
    docker_write(sources[2], &layer, 1);
    for (int i = 0; i < 4; i++) {
        char root[PATH_MAX];
        snprintf(root, sizeof(root), "%s/root%d", f->dir, i);
        assert_int_equal(mkdir(root, 0755), 0);
        close(f->root_fd);
        f->root_fd = open(root, O_RDONLY | O_DIRECTORY);
        /* The fourth source is the first tree, as a directory. */
        if (i == 3)
            snprintf(sources[3], PATH_MAX, "%s/root0", f->dir);
        if (unpack_path(f, sources[i]) != 0)
            fail_msg("%s: %s", sources[i], f->err);
        assert_int_equal(image_tree_digest(f->root_fd, digests[i], f->err, sizeof(f->err)), 0);
    }
    assert_string_equal(digests[0], digests[1]);
    assert_string_equal(digests[0], digests[2]);
    assert_string_equal(digests[0], digests[3]);
    /* And a byte of content changes it. */
    int fd = openat(f->root_fd, "etc/os-release", O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    char changed[IMAGE_DIGEST_SIZE];
    assert_int_equal(image_tree_digest(f->root_fd, changed, f->err, sizeof(f->err)), 0);
    assert_string_not_equal(changed, digests[0]);
    tar_free(t);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_image_unpack: skipped, unpacking makes root's files\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_dotdot_refused),
        T(test_absolute_refused),
        T(test_links_never_written_through),
        T(test_hardlinks_only_to_files_in_the_tree),
        T(test_special_files_skipped),
        T(test_tree_specials_skipped_links_kept),
        T(test_modes_neutralised),
        T(test_whiteouts_apply_to_lower_layers),
        T(test_whiteouts_stay_in_the_tree),
        T(test_file_past_the_largest_refused),
        T(test_bomb_stopped_by_the_total),
        T(test_too_many_entries_refused),
        T(test_layer_digest_not_the_manifests_refused),
        T(test_changed_layer_in_a_tarball_refused),
        T(test_truncated_archives_refused),
        T(test_broken_manifests_refused),
        T(test_same_tree_same_digest_in_every_format),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
