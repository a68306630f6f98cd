/* collect_files() against real hostile trees, each built in a tmpfs of its
 * own as the worker's workspaces are (run as root: the tmpfs, device nodes, a
 * mount point inside the tree).
 * Every test runs twice: with openat2, then under a seccomp filter that makes
 * openat2 fail with ENOSYS, so the O_NOFOLLOW fallback meets the same trees.
 * Every collection is also encoded as a result, which proves its paths and
 * reasons are valid wire text. */
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

/* A workspace as the worker has one: a tmpfs of its own (here not nodev,
 * so that device nodes can be planted), with the tree to collect from in
 * base/work and room for files outside it in base. */
struct tree {
    char base[64];
    char dir[80];
    int fd; /* O_PATH, as the worker holds the workspace root */
};

static void path_of(const struct tree *t, const char *rel, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s", t->dir, rel);
    assert_true(n > 0 && (size_t)n < outlen);
}

/* Makes every directory on the way to rel (but not rel itself). */
static void make_parents(const struct tree *t, const char *rel)
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

static void put(const struct tree *t, const char *rel, const void *data, size_t len)
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

static void put_text(const struct tree *t, const char *rel, const char *text)
{
    put(t, rel, text, strlen(text));
}

static void put_sized(const struct tree *t, const char *rel, size_t len)
{
    char *data = malloc(len ? len : 1);
    assert_non_null(data);
    memset(data, 'x', len);
    put(t, rel, data, len);
    free(data);
}

static void put_symlink(const struct tree *t, const char *target, const char *rel)
{
    char path[4096];
    make_parents(t, rel);
    path_of(t, rel, path, sizeof(path));
    if (symlink(target, path) != 0)
        fail_msg("symlink %s: %s", path, strerror(errno));
}

static void put_node(const struct tree *t, const char *rel, mode_t mode, dev_t dev)
{
    char path[4096];
    make_parents(t, rel);
    path_of(t, rel, path, sizeof(path));
    if (mknod(path, mode, dev) != 0)
        fail_msg("mknod %s: %s", path, strerror(errno));
}

static int tree_setup(void **state)
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

static int tree_teardown(void **state)
{
    struct tree *t = *state;
    close(t->fd);
    /* Detached with whatever a test mounted inside it. */
    int rc = umount2(t->base, MNT_DETACH) == 0 && rmdir(t->base) == 0 ? 0 : -1;
    free(t);
    return rc;
}

static void assert_encodable(const struct collection *c)
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

static void collect_ok(int root_fd, const char *const *patterns, size_t count, uint64_t max_bytes,
                       struct collection *c)
{
    char err[256];
    if (collect_files(root_fd, patterns, count, max_bytes, c, err, sizeof(err)) != 0)
        fail_msg("collect_files: %s", err);
    assert_encodable(c);
}

#define COLLECT(t, max_bytes, c, ...)                                                              \
    do {                                                                                           \
        const char *patterns_[] = {__VA_ARGS__};                                                   \
        collect_ok((t)->fd, patterns_, ARRAY_SIZE(patterns_), max_bytes, c);                       \
    } while (0)

#define BUDGET (1u << 20)

/* The collected paths, joined with ",". */
static const char *file_list(const struct collection *c)
{
    static char list[16384];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < c->file_count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "", c->files[i].path);
    return list;
}

static const char *omitted_list(const struct collection *c)
{
    static char list[16384];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < c->omitted_count; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "", c->omitted[i].path);
    return list;
}

static const char *reason_for(const struct collection *c, const char *shown_path)
{
    for (size_t i = 0; i < c->omitted_count; i++) {
        if (strcmp(c->omitted[i].path, shown_path) == 0)
            return c->omitted[i].reason;
    }
    fail_msg("\"%s\" is not in files_omitted: %s", shown_path, omitted_list(c));
    return NULL;
}

static void assert_reason(const struct collection *c, const char *shown_path, const char *start)
{
    const char *reason = reason_for(c, shown_path);
    if (strncmp(reason, start, strlen(start)) != 0)
        fail_msg("%s: reason \"%s\" does not start with \"%s\"", shown_path, reason, start);
}

static void regular_files_in_path_order(void **state)
{
    struct tree *t = *state;
    put_text(t, "out/b.txt", "bee");
    put_text(t, "out/a.txt", "a");
    put_text(t, "out/empty", "");
    put_text(t, "out/sub/c.txt", "sea");
    put_text(t, "top.txt", "top");
    struct collection c;
    COLLECT(t, BUDGET, &c, "out/*", "top.txt");
    assert_string_equal(file_list(&c), "out/a.txt,out/b.txt,out/empty,top.txt");
    assert_int_equal(c.omitted_count, 0);
    assert_int_equal(c.files[1].content.len, 3);
    assert_memory_equal(c.files[1].content.data, "bee", 3);
    assert_int_equal(c.files[2].content.len, 0);
    assert_int_equal(c.files[2].content.data[0], '\0');
    assert_int_equal(c.total_bytes, 7);
    collection_free(&c);
}

static void glob_semantics(void **state)
{
    struct tree *t = *state;
    const char *names[] = {"a.txt",   "b.log",     "ab.txt",     ".hidden.txt",  "[x].txt",
                           "d/x.txt", "d/e/y.txt", "d/.h/z.txt", "d/e/f/g/w.log"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        put_text(t, names[i], names[i]);
    static const struct {
        const char *pattern, *expected;
    } cases[] = {
        {"*.txt", "[x].txt,a.txt,ab.txt"},
        {"?.txt", "a.txt"},
        {"[ab]*", "a.txt,ab.txt,b.log"},
        {"[!a]*", "[x].txt,b.log"},
        {"\\[x].txt", "[x].txt"},
        {".*", ".hidden.txt"},
        {"**/*.txt", "[x].txt,a.txt,ab.txt,d/e/y.txt,d/x.txt"},
        {"**/*.log", "b.log,d/e/f/g/w.log"},
        {"d/**", "d/e/f/g/w.log,d/e/y.txt,d/x.txt"},
        {"d/**/y.txt", "d/e/y.txt"},
        {"d/**/**/x.txt", "d/x.txt"},
        {"d/*/y.txt", "d/e/y.txt"},
        {"d/.h/*", "d/.h/z.txt"},
        {"d/*/*", "d/e/y.txt"},
        {"**", "[x].txt,a.txt,ab.txt,b.log,d/e/f/g/w.log,d/e/y.txt,d/x.txt"},
        {"d", ""},
        {"a.txt/**", ""},
        {"nothing/*", ""},
        {"*.none", ""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct collection c;
        COLLECT(t, BUDGET, &c, cases[i].pattern);
        if (strcmp(file_list(&c), cases[i].expected) != 0)
            fail_msg("pattern %s: collected \"%s\", expected \"%s\"", cases[i].pattern,
                     file_list(&c), cases[i].expected);
        assert_int_equal(c.omitted_count, 0);
        collection_free(&c);
    }
    /* Overlapping patterns return a file once. */
    struct collection c;
    COLLECT(t, BUDGET, &c, "*.txt", "a.*", "**/a.txt");
    assert_string_equal(file_list(&c), "[x].txt,a.txt,ab.txt");
    collection_free(&c);
}

static void symlink_to_a_host_file_is_not_followed(void **state)
{
    struct tree *t = *state;
    put_text(t, "out/a.txt", "hi");
    put_symlink(t, "/etc/passwd", "out/p");
    put_symlink(t, "../../../../../../etc/passwd", "out/rel");
    struct collection c;
    COLLECT(t, BUDGET, &c, "out/*", "out/p");
    assert_string_equal(file_list(&c), "out/a.txt");
    assert_string_equal(omitted_list(&c), "out/p,out/rel");
    assert_reason(&c, "out/p", "symlink: never followed");
    assert_reason(&c, "out/rel", "symlink: never followed");
    collection_free(&c);
}

static void symlink_chain_is_not_followed(void **state)
{
    struct tree *t = *state;
    put_symlink(t, "b", "a");
    put_symlink(t, "/etc/shadow", "b");
    struct collection c;
    COLLECT(t, BUDGET, &c, "*");
    assert_int_equal(c.file_count, 0);
    assert_string_equal(omitted_list(&c), "a,b");
    assert_reason(&c, "a", "symlink");
    assert_reason(&c, "b", "symlink");
    collection_free(&c);
}

static void symlinked_directory_is_not_entered(void **state)
{
    struct tree *t = *state;
    put_symlink(t, "/etc", "dir");
    const char *patterns[] = {"dir/passwd", "dir/*", "**", "**/passwd"};
    for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
        struct collection c;
        COLLECT(t, BUDGET, &c, patterns[i]);
        assert_int_equal(c.file_count, 0);
        /* Reported, though "dir" itself does not match "dir/passwd": the
         * pattern would have searched through it. */
        assert_string_equal(omitted_list(&c), "dir");
        assert_reason(&c, "dir", "symlink: never followed");
        collection_free(&c);
    }
}

static void hard_links_are_refused(void **state)
{
    struct tree *t = *state;
    char outside[128], a[4096], b[4096], inside[4096];
    snprintf(outside, sizeof(outside), "%s/outside", t->base);
    int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret", 6), 6);
    close(fd);
    put_text(t, "a", "shared");
    path_of(t, "a", a, sizeof(a));
    path_of(t, "b", b, sizeof(b));
    path_of(t, "secret", inside, sizeof(inside));
    assert_int_equal(link(a, b), 0);
    assert_int_equal(link(outside, inside), 0);
    struct collection c;
    COLLECT(t, BUDGET, &c, "*");
    assert_int_equal(c.file_count, 0);
    assert_string_equal(omitted_list(&c), "a,b,secret");
    assert_reason(&c, "a", "multiple links: the file has 2 hard links");
    assert_reason(&c, "secret", "multiple links");
    collection_free(&c);
}

static void fifo_does_not_block(void **state)
{
    struct tree *t = *state;
    char path[4096];
    put_text(t, "out/z.txt", "after the fifo");
    path_of(t, "out/f", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0644), 0);
    alarm(60); /* a blocked open or read would hang: die loudly instead */
    struct collection c;
    COLLECT(t, BUDGET, &c, "out/*");
    alarm(0);
    assert_string_equal(file_list(&c), "out/z.txt");
    assert_reason(&c, "out/f", "not a regular file: a FIFO");
    collection_free(&c);
}

static void devices_and_sockets_are_refused(void **state)
{
    struct tree *t = *state;
    put_symlink(t, "/dev/zero", "zero-link");
    put_node(t, "zero-node", S_IFCHR | 0644, makedev(1, 5));
    put_node(t, "block-node", S_IFBLK | 0644, makedev(7, 0));
    char path[4096];
    path_of(t, "sock", path, sizeof(path));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(s);
    struct collection c;
    COLLECT(t, BUDGET, &c, "*");
    assert_int_equal(c.file_count, 0);
    assert_reason(&c, "zero-link", "symlink");
    assert_reason(&c, "zero-node", "not a regular file: a character device");
    assert_reason(&c, "block-node", "not a regular file: a block device");
    assert_reason(&c, "sock", "not a regular file: a socket");
    collection_free(&c);
}

static void huge_sparse_file_is_refused_by_size(void **state)
{
    struct tree *t = *state;
    char path[4096];
    put_text(t, "big", "");
    path_of(t, "big", path, sizeof(path));
    assert_int_equal(truncate(path, 10ll << 30), 0);
    put_text(t, "small", "fits");
    struct collection c;
    COLLECT(t, BUDGET, &c, "*");
    assert_string_equal(file_list(&c), "small");
    char expected[128];
    snprintf(expected, sizeof(expected),
             "too large: %llu bytes over the collect_bytes budget of %u", (10ull << 30) - BUDGET,
             BUDGET);
    assert_string_equal(reason_for(&c, "big"), expected);
    collection_free(&c);
}

static void budget_at_the_limit_and_one_byte_over(void **state)
{
    struct tree *t = *state;
    put_sized(t, "exact/a", 600);
    put_sized(t, "exact/b", 424);
    put_sized(t, "over/a", 600);
    put_sized(t, "over/b", 425);
    put_sized(t, "over/c", 424);
    struct collection c;
    COLLECT(t, 1024, &c, "exact/*");
    assert_string_equal(file_list(&c), "exact/a,exact/b");
    assert_int_equal(c.total_bytes, 1024);
    assert_int_equal(c.omitted_count, 0);
    collection_free(&c);

    /* b does not fit by one byte; c, later in path order, still does. */
    COLLECT(t, 1024, &c, "over/*");
    assert_string_equal(file_list(&c), "over/a,over/c");
    assert_string_equal(reason_for(&c, "over/b"),
                        "too large: 1 bytes over the collect_bytes budget of 1024");
    assert_int_equal(c.total_bytes, 1024);
    collection_free(&c);
}

static void put_many(const struct tree *t, const char *format, int count)
{
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof(name), format, i);
        put_text(t, name, "x");
    }
}

/* Each match past the 256 files is listed with its reason. */
static void files_past_the_file_bound_are_each_listed(void **state)
{
    struct tree *t = *state;
    put_many(t, "many/f%04d", 300);
    struct collection c;
    COLLECT(t, BUDGET, &c, "many/*");
    assert_int_equal(c.file_count, BRIG_FILES_MAX);
    assert_string_equal(c.files[BRIG_FILES_MAX - 1].path, "many/f0255");
    assert_int_equal(c.omitted_count, 44);
    for (size_t i = 0; i < c.omitted_count; i++) {
        char want[32];
        snprintf(want, sizeof(want), "many/f%04zu", BRIG_FILES_MAX + i);
        assert_string_equal(c.omitted[i].path, want);
        assert_string_equal(c.omitted[i].reason, "too many files: a result returns at most 256");
    }
    assert_false(c.omitted_truncated);
    collection_free(&c);
}

/* Past BRIG_OMITTED_MAX entries the list stops and says it was cut. */
static void omissions_past_the_list_bound_are_flagged(void **state)
{
    struct tree *t = *state;
    put_many(t, "many/f%04d", 5000);
    struct collection c;
    COLLECT(t, BUDGET, &c, "many/*");
    assert_int_equal(c.file_count, BRIG_FILES_MAX);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    assert_string_equal(c.omitted[0].path, "many/f0256");
    assert_string_equal(c.omitted[BRIG_OMITTED_MAX - 1].path, "many/f0511");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

/* 1101 matches: the first 1024 in path order are examined, all links, and
 * the first 256 of them listed; z.txt is never examined. */
static void matches_past_the_candidate_bound_are_flagged(void **state)
{
    struct tree *t = *state;
    for (int i = 0; i < 1100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "l/s%04d", i);
        put_symlink(t, "/etc/passwd", name);
    }
    put_text(t, "z.txt", "after the links");
    struct collection c;
    COLLECT(t, BUDGET, &c, "**");
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    assert_string_equal(c.omitted[0].path, "l/s0000");
    assert_string_equal(c.omitted[255].path, "l/s0255");
    assert_string_equal(c.omitted[255].reason, "symlink: never followed");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

/* files_omitted at its bounds, beside the largest output and files a job can
 * return, still makes a result within BRIG_RESULT_MAX_BYTES: the list bound
 * is the schema's array bound, not the message size. */
static void the_largest_collection_fits_in_a_result(void **state)
{
    (void)state;
    static char path[BRIG_FILES_MAX][BRIG_PATH_MAX + 1];
    static char reason[BRIG_OMITTED_REASON_MAX + 1];
    static struct brig_file files[BRIG_FILES_MAX];
    static struct brig_omitted_file omitted[BRIG_OMITTED_MAX];
    static struct brig_pair metadata[BRIG_METADATA_MAX];
    static char meta_key[BRIG_METADATA_MAX][BRIG_METADATA_KEY_MAX + 1];
    static char meta_value[BRIG_METADATA_VALUE_MAX + 1];
    static char error_text[BRIG_ERROR_TEXT_MAX + 1];
    size_t output = BRIG_OUTPUT_BYTES_MAX, collected = BRIG_COLLECT_BYTES_MAX;
    char *data = malloc(output > collected ? output : collected);
    assert_non_null(data);
    memset(data, 'x', output > collected ? output : collected);
    memset(reason, 'r', BRIG_OMITTED_REASON_MAX);
    memset(meta_value, 'm', BRIG_METADATA_VALUE_MAX);
    memset(error_text, 'e', BRIG_ERROR_TEXT_MAX);
    for (size_t i = 0; i < BRIG_FILES_MAX; i++) {
        /* distinct paths of 1024 bytes, in components of 200 bytes */
        for (size_t j = 0; j < BRIG_PATH_MAX; j++)
            path[i][j] = j % 201 == 200 ? '/' : 'd';
        snprintf(path[i] + BRIG_PATH_MAX - 5, 6, "/%04zu", i);
        files[i] = (struct brig_file){path[i], {data, collected / BRIG_FILES_MAX}};
    }
    for (size_t i = 0; i < BRIG_OMITTED_MAX; i++)
        omitted[i] = (struct brig_omitted_file){path[i % BRIG_FILES_MAX], reason};
    for (size_t i = 0; i < BRIG_METADATA_MAX; i++) {
        memset(meta_key[i], 'k', BRIG_METADATA_KEY_MAX);
        snprintf(meta_key[i] + BRIG_METADATA_KEY_MAX - 2, 3, "%02zu", i);
        metadata[i] = (struct brig_pair){meta_key[i], meta_value};
    }
    struct brig_result result = {
        .id = "collect-test",
        .attempt = 1,
        .status = BRIG_STATUS_FAILED,
        .stdout_data = {data, output / 2},
        .stderr_data = {data, output - output / 2},
        .files = files,
        .file_count = BRIG_FILES_MAX,
        .files_omitted = omitted,
        .omitted_count = BRIG_OMITTED_MAX,
        .files_omitted_truncated = true,
        .error = error_text,
        .metadata = metadata,
        .metadata_count = BRIG_METADATA_MAX,
    };
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct brig_error err;
    if (brig_result_encode(&result, &buf, &err) != 0)
        fail_msg("the largest collection is not a valid result: %s: %s", err.field, err.reason);
    assert_true(buf.size <= BRIG_RESULT_MAX_BYTES);
    msgpack_sbuffer_destroy(&buf);
    free(data);
}

static void bad_names_are_escaped(void **state)
{
    struct tree *t = *state;
    put_text(t, "out/new\nline", "1");
    put_text(t, "out/tab\there", "2");
    put_text(t, "out/del\x7f", "3");
    put_text(t, "out/\xff\xfe.bin", "4");
    put_text(t, "out/back\\slash\xc0\xaf", "5");
    put_text(t, "out/caf\xc3\xa9.txt", "6");
    put_text(t, "out/plain\\slash", "7");
    struct collection c;
    COLLECT(t, BUDGET, &c, "out/*");
    assert_string_equal(file_list(&c), "out/caf\xc3\xa9.txt,out/plain\\slash");
    assert_reason(&c, "out/new\\x0aline", "path holds control characters");
    assert_reason(&c, "out/tab\\x09here", "path holds control characters");
    assert_reason(&c, "out/del\\x7f", "path holds control characters");
    assert_reason(&c, "out/\\xff\\xfe.bin", "path is not valid UTF-8");
    assert_reason(&c, "out/back\\\\slash\\xc0\\xaf", "path is not valid UTF-8");
    assert_int_equal(c.omitted_count, 5);
    collection_free(&c);
}

static void long_paths_are_cut_and_not_searched(void **state)
{
    struct tree *t = *state;
    char a[251], bad[251], rel[2048];
    memset(a, 'a', 250);
    a[250] = '\0';
    memset(bad, 0xff, 250);
    bad[250] = '\0';
    /* A name of escaped bytes: shown four times as long, then cut. */
    snprintf(rel, sizeof(rel), "%s/%s", a, bad);
    put_text(t, rel, "x");
    /* 4 x 250 bytes and 3 slashes: 1003. A file there still fits... */
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/f", a, a, a, a);
    put_text(t, rel, "fits");
    /* ...a 200-byte name does not, and nothing below a fifth level could. */
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/%.200s", a, a, a, a, a);
    put_text(t, rel, "too long");
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/%s/f", a, a, a, a, a);
    put_text(t, rel, "below");
    struct collection c;
    COLLECT(t, BUDGET, &c, "**");
    assert_int_equal(c.file_count, 1);
    assert_int_equal(strlen(c.files[0].path), 1005);
    assert_int_equal(c.omitted_count, 3);
    for (size_t i = 0; i < c.omitted_count; i++) {
        const char *path = c.omitted[i].path, *reason = c.omitted[i].reason;
        size_t len = strlen(path);
        assert_true(len <= BRIG_PATH_MAX);
        if (strncmp(reason, "path is not valid UTF-8", 23) == 0) {
            /* Cut between two escapes. */
            assert_int_equal(len, 251 + 192 * 4 + 3);
            assert_memory_equal(path + len - 7, "\\xff...", 7);
        } else if (strncmp(reason, "path too long", 13) == 0) {
            assert_string_equal(reason, "path too long: 1204 bytes (max 1024)");
            assert_int_equal(len, BRIG_PATH_MAX);
            assert_memory_equal(path + len - 3, "...", 3);
        } else {
            assert_string_equal(reason,
                                "not searched: paths below it would be longer than 1024 bytes");
            assert_int_equal(len, BRIG_PATH_MAX);
        }
    }
    collection_free(&c);
}

static void deep_nesting_stops_at_the_depth_bound(void **state)
{
    struct tree *t = *state;
    char rel[512] = "";
    for (int level = 1; level <= COLLECT_DEPTH_MAX + 8; level++) {
        strcat(rel, "d/");
        char file[600];
        snprintf(file, sizeof(file), "%sf", rel);
        put_text(t, file, "x");
    }
    struct collection c;
    COLLECT(t, BUDGET, &c, "**/f");
    /* d/f (depth 1) to 32 d's and f are collected; the 33rd d is not entered. */
    assert_int_equal(c.file_count, COLLECT_DEPTH_MAX);
    assert_int_equal(c.omitted_count, 1);
    char too_deep[256] = "";
    for (int level = 1; level <= COLLECT_DEPTH_MAX + 1; level++)
        strcat(too_deep, level > 1 ? "/d" : "d");
    assert_reason(&c, too_deep, "not searched: directories deeper than 32 levels");
    collection_free(&c);
}

/* Two directories of 300 matching links and 50000 other files each: the
 * walk reads one whole, whichever readdir gives first, and stops in the
 * other. Where it stopped keeps the last entry of a full list. */
static void walk_stops_after_the_entry_bound(void **state)
{
    struct tree *t = *state;
    for (int dir = 0; dir < 2; dir++) {
        for (int i = 0; i < COLLECT_ENTRIES_MAX / 2; i++) {
            char name[32];
            snprintf(name, sizeof(name), "%c/%06d", "ab"[dir], i);
            put_node(t, name, S_IFREG | 0644, 0);
        }
        for (int i = 0; i < 300; i++) {
            char name[32];
            snprintf(name, sizeof(name), "%c/l%03d.none", "ab"[dir], i);
            put_symlink(t, "/etc/passwd", name);
        }
    }
    struct collection c;
    COLLECT(t, BUDGET, &c, "*/*.none");
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    for (size_t i = 0; i < BRIG_OMITTED_MAX - 1; i++)
        assert_string_equal(c.omitted[i].reason, "symlink: never followed");
    assert_string_equal(c.omitted[BRIG_OMITTED_MAX - 1].reason,
                        "walk stopped here: the workspace holds more than 100000 directory "
                        "entries");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

static void walk_stops_after_the_matching_bound(void **state)
{
    struct tree *t = *state;
    /* 32 patterns of 127 components, all still alive 30 levels down: every
     * name there costs about a thousand fnmatch calls. */
    char pattern[BRIG_GLOB_MAX + 1] = "**";
    while (strlen(pattern) + 2 <= BRIG_GLOB_MAX)
        strcat(pattern, "/*");
    const char *patterns[BRIG_COLLECT_MAX];
    for (size_t i = 0; i < BRIG_COLLECT_MAX; i++)
        patterns[i] = pattern;
    char rel[128] = "";
    for (int level = 0; level < 30; level++)
        strcat(rel, "c/");
    for (int i = 0; i < 5000; i++) {
        char name[160];
        snprintf(name, sizeof(name), "%sn%04d", rel, i);
        put_text(t, name, "");
    }
    struct collection c;
    collect_ok(t->fd, patterns, BRIG_COLLECT_MAX, BUDGET, &c);
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, 1);
    assert_string_equal(c.omitted[0].reason,
                        "walk stopped here: the patterns needed more than 4000000 name "
                        "comparisons");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

static void mount_points_are_not_crossed(void **state)
{
    struct tree *t = *state;
    char mnt[4096];
    put_text(t, "mnt/under-the-mount", "hidden by the mount");
    path_of(t, "mnt", mnt, sizeof(mnt));
    if (mount("brig-collect-test", mnt, "tmpfs", 0, "size=1m") != 0) {
        print_message("cannot mount a tmpfs here (%s): skipped\n", strerror(errno));
        skip();
    }
    put_text(t, "mnt/secret", "on another file system");
    struct collection c;
    COLLECT(t, BUDGET, &c, "mnt/*", "**");
    assert_int_equal(c.file_count, 0);
    assert_string_equal(omitted_list(&c), "mnt");
    assert_reason(&c, "mnt", "on another file system");
    collection_free(&c);
}

/* Every trait of every entry but its access time, one line each. */
static char snapshot_text[1 << 16];
static size_t snapshot_len;

static int snapshot_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)type;
    (void)ftw;
    snapshot_len += (size_t)snprintf(
        snapshot_text + snapshot_len, sizeof(snapshot_text) - snapshot_len,
        "%s %o %lld %lu %lu %lld.%09ld %lld.%09ld\n", path, st->st_mode, (long long)st->st_size,
        (unsigned long)st->st_nlink, (unsigned long)st->st_ino, (long long)st->st_mtim.tv_sec,
        st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
    return 0;
}

static char *snapshot(const struct tree *t)
{
    snapshot_len = 0;
    assert_int_equal(nftw(t->dir, snapshot_entry, 16, FTW_PHYS), 0);
    return strdup(snapshot_text);
}

static void the_workspace_is_left_as_it_was(void **state)
{
    struct tree *t = *state;
    char path[4096];
    put_text(t, "out/a.txt", "a");
    put_symlink(t, "/etc/passwd", "out/p");
    put_symlink(t, "/etc", "out/etc");
    path_of(t, "out/fifo", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0600), 0);
    put_node(t, "out/zero", S_IFCHR | 0600, makedev(1, 5));
    put_text(t, "out/\xff", "x");
    char *before = snapshot(t);
    struct collection c;
    COLLECT(t, BUDGET, &c, "**", "out/etc/*");
    assert_string_equal(file_list(&c), "out/a.txt");
    assert_int_equal(c.omitted_count, 5);
    collection_free(&c);
    char *after = snapshot(t);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* The name readdir returns first in dir, "." and ".." aside. */
static const char *first_listed(const char *dir)
{
    static char name[256];
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0))
        ;
    assert_non_null(e);
    snprintf(name, sizeof(name), "%s", e->d_name);
    closedir(d);
    return name;
}

/* The same 40 files under top, made in creation order or in reverse. */
static int build_tree_in_order(const struct tree *t, const char *top, bool reverse)
{
    for (int k = 0; k < 40; k++) {
        int i = reverse ? 39 - k : k;
        char name[64];
        snprintf(name, sizeof(name), "%s/x/%s%c%d", top, i % 3 ? "" : "y/", 'a' + i % 7, i);
        put_sized(t, name, 100 + (size_t)i * 10);
    }
    char path[4096];
    path_of(t, top, path, sizeof(path));
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void order_does_not_depend_on_creation(void **state)
{
    struct tree *t = *state;
    int forward = build_tree_in_order(t, "forward", false);
    int reverse = build_tree_in_order(t, "reverse", true);
    /* tmpfs lists a directory in creation order: readdir disagrees. */
    char forward_x[4096], reverse_x[4096];
    path_of(t, "forward/x", forward_x, sizeof(forward_x));
    path_of(t, "reverse/x", reverse_x, sizeof(reverse_x));
    char first_forward[64];
    snprintf(first_forward, sizeof(first_forward), "%s", first_listed(forward_x));
    assert_string_not_equal(first_forward, first_listed(reverse_x));

    const char *patterns[] = {"x/**"};
    struct collection c1, c2;
    collect_ok(forward, patterns, 1, 2000, &c1);
    collect_ok(reverse, patterns, 1, 2000, &c2);
    close(forward);
    close(reverse);
    assert_true(c1.file_count > 0 && c1.omitted_count > 0);
    assert_string_equal(file_list(&c1), file_list(&c2));
    char omitted1[16384];
    snprintf(omitted1, sizeof(omitted1), "%s", omitted_list(&c1));
    assert_string_equal(omitted1, omitted_list(&c2));
    collection_free(&c1);
    collection_free(&c2);
}

static void bad_arguments_are_refused(void **state)
{
    struct tree *t = *state;
    char err[256];
    struct collection c;
    const char *invalid[] = {"../x", "/etc/passwd", "a//b", "", "a/./b"};
    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
        const char *patterns[] = {"ok", invalid[i]};
        assert_int_equal(collect_files(t->fd, patterns, 2, BUDGET, &c, err, sizeof(err)), -1);
        assert_memory_equal(err, "collect[1]: ", 12);
        assert_int_equal(c.file_count + c.omitted_count, 0);
    }

    put_text(t, "file", "x");
    char path[4096];
    path_of(t, "file", path, sizeof(path));
    int fd = open(path, O_PATH | O_CLOEXEC);
    const char *patterns[] = {"*"};
    assert_int_equal(collect_files(fd, patterns, 1, BUDGET, &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "Not a directory"));
    close(fd);

    /* No patterns: nothing is looked at. */
    assert_int_equal(collect_files(-1, NULL, 0, BUDGET, &c, err, sizeof(err)), 0);
    assert_int_equal(c.file_count + c.omitted_count, 0);
    collection_free(&c);
}

#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

static const struct CMUnitTest tests[] = {
    TREE_TEST(regular_files_in_path_order),
    TREE_TEST(glob_semantics),
    TREE_TEST(symlink_to_a_host_file_is_not_followed),
    TREE_TEST(symlink_chain_is_not_followed),
    TREE_TEST(symlinked_directory_is_not_entered),
    TREE_TEST(hard_links_are_refused),
    TREE_TEST(fifo_does_not_block),
    TREE_TEST(devices_and_sockets_are_refused),
    TREE_TEST(huge_sparse_file_is_refused_by_size),
    TREE_TEST(budget_at_the_limit_and_one_byte_over),
    TREE_TEST(files_past_the_file_bound_are_each_listed),
    TREE_TEST(omissions_past_the_list_bound_are_flagged),
    TREE_TEST(matches_past_the_candidate_bound_are_flagged),
    cmocka_unit_test(the_largest_collection_fits_in_a_result),
    TREE_TEST(bad_names_are_escaped),
    TREE_TEST(long_paths_are_cut_and_not_searched),
    TREE_TEST(deep_nesting_stops_at_the_depth_bound),
    TREE_TEST(walk_stops_after_the_entry_bound),
    TREE_TEST(walk_stops_after_the_matching_bound),
    TREE_TEST(mount_points_are_not_crossed),
    TREE_TEST(the_workspace_is_left_as_it_was),
    TREE_TEST(order_does_not_depend_on_creation),
    TREE_TEST(bad_arguments_are_refused),
};

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

int main(void)
{
    int failed = cmocka_run_group_tests_name("collect with openat2", tests, NULL, NULL);
    refuse_openat2();
    failed +=
        cmocka_run_group_tests_name("collect with the O_NOFOLLOW fallback", tests, NULL, NULL);
    return failed;
}
