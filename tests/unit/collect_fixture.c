/* What the collect tests share: hostile trees in a tmpfs of their own, and
 * checks every collection must pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "schema/schema.h"
#include "common/common.h"
#include "worker/collect.h"
#include "tests/unit/collect_fixture.h"

void path_of(const struct tree *t, const char *rel, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", t->dir, rel);
    assert_true(n > 0 && (size_t)n < outlen);
}

/* Makes every directory on the way to rel (but not rel itself). */
void make_parents(const struct tree *t, const char *rel)
{
    char path[4096];
    path_of(t, rel, path, sizeof(path));
    for (char *slash = path + strlen(t->dir) + 1; (slash = strchr(slash, '/')); slash++) {
        *slash = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", path, strerror(errno));
        *slash = '/';
    }
}

void put(const struct tree *t, const char *rel, const void *data, size_t len)
{
    char path[4096];
    make_parents(t, rel);
    path_of(t, rel, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail_msg("creating %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

void put_text(const struct tree *t, const char *rel, const char *text)
{
    put(t, rel, text, strlen(text));
}

void put_sized(const struct tree *t, const char *rel, size_t len)
{
    char *data = malloc(len ? len : 1);
    assert_non_null(data);
    memset(data, 'x', len);
    put(t, rel, data, len);
    free(data);
}

void put_symlink(const struct tree *t, const char *target, const char *rel)
{
    char path[4096];
    make_parents(t, rel);
    path_of(t, rel, path, sizeof(path));
    if (symlink(target, path) != 0)
        fail_msg("symlink %s: %s", path, strerror(errno));
}

void put_node(const struct tree *t, const char *rel, mode_t mode, dev_t dev)
{
    char path[4096];
    make_parents(t, rel);
    path_of(t, rel, path, sizeof(path));
    if (mknod(path, mode, dev) != 0)
        fail_msg("mknod %s: %s", path, strerror(errno));
}

int tree_setup(void **state)
{
    struct tree *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->base, sizeof(t->base), "/tmp/brig-collect-XXXXXX");
    assert_non_null(mkdtemp(t->base));
    if (mount("brig-collect-test", t->base, "tmpfs", MS_NOSUID, "size=256m,mode=0755") != 0) {
        fprintf(stderr, "test_collect: mounting a tmpfs on %s (run as root): %s\n", t->base,
                strerror(errno));
        rmdir(t->base);
        free(t);
        return -1;
    }
    snprintf(t->dir, sizeof(t->dir), "%s/work", t->base);
    assert_int_equal(mkdir(t->dir, 0755), 0);
    t->fd = open(t->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(t->fd >= 0);
    *state = t;
    return 0;
}

int tree_teardown(void **state)
{
    struct tree *t = *state;
    close(t->fd);
    /* Detached with whatever a test mounted inside it. */
    int rc = umount2(t->base, MNT_DETACH) == 0 && rmdir(t->base) == 0 ? 0 : -1;
    free(t);
    return rc;
}

void assert_encodable(const struct collection *c)
{
    struct brig_result result = {
        .id = "collect-test",
        .attempt = 1,
        .status = BRIG_STATUS_OK,
        .files = c->files,
        .file_count = c->file_count,
        .files_omitted = c->omitted,
        .omitted_count = c->omitted_count,
        .files_omitted_truncated = c->omitted_truncated,
    };
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct brig_error err;
    if (brig_result_encode(&result, &buf, &err) != 0)
        fail_msg("the collection is not a valid result: %s: %s", err.field, err.reason);
    msgpack_sbuffer_destroy(&buf);

    uint64_t total = 0;
    for (size_t i = 0; i < c->file_count; i++) {
        total += c->files[i].content.len;
        if (i > 0)
            assert_true(strcmp(c->files[i - 1].path, c->files[i].path) < 0);
    }
    assert_int_equal(total, c->total_bytes);
}

void collect_ok(int root_fd, const char *const *patterns, size_t count, uint64_t max_bytes,
                struct collection *c)
{
    char err[256];
    if (collect_files(root_fd, patterns, count, max_bytes, c, err, sizeof(err)) != 0)
        fail_msg("collect_files: %s", err);
    assert_encodable(c);
}

/* The collected paths, joined with ",". */
const char *file_list(const struct collection *c)
{
    static char list[16384];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < c->file_count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "", c->files[i].path);
    return list;
}

const char *omitted_list(const struct collection *c)
{
    static char list[16384];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < c->omitted_count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "", c->omitted[i].path);
    return list;
}

const char *reason_for(const struct collection *c, const char *shown_path)
{
    for (size_t i = 0; i < c->omitted_count; i++) {
        if (strcmp(c->omitted[i].path, shown_path) == 0)
            return c->omitted[i].reason;
    }
    fail_msg("\"%s\" is not in files_omitted: %s", shown_path, omitted_list(c));
    return NULL;
}

void assert_reason(const struct collection *c, const char *shown_path, const char *start)
{
    const char *reason = reason_for(c, shown_path);
    if (strncmp(reason, start, strlen(start)) != 0)
        fail_msg("%s: reason \"%s\" does not start with \"%s\"", shown_path, reason, start);
}

void put_many(const struct tree *t, const char *format, int count)
{
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof(name), format, i);
        put_text(t, name, "x");
    }
}

/* Each match past the 256 files is listed with its reason. */

/* From here on the process sees the kernel as one without openat2. */
static void refuse_openat2(void)
{
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    if (!filter || seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) != 0 ||
        seccomp_load(filter) != 0) {
        fprintf(stderr, "test_collect: cannot install the seccomp filter\n");
        exit(1);
    }
    seccomp_release(filter);
    errno = 0;
    if (syscall(SYS_openat2, AT_FDCWD, "/", NULL, 0) != -1 || errno != ENOSYS) {
        fprintf(stderr, "test_collect: openat2 still answers under the filter\n");
        exit(1);
    }
}
int run_both_ways(const char *name, const struct CMUnitTest *tests, size_t count)
{
    char title[128];
    snprintf(title, sizeof(title), "%s with openat2", name);
    int failed = _cmocka_run_group_tests(title, tests, count, NULL, NULL);
    refuse_openat2();
    snprintf(title, sizeof(title), "%s with the O_NOFOLLOW fallback", name);
    failed += _cmocka_run_group_tests(title, tests, count, NULL, NULL);
    return failed;
}
