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
#include "tests/unit/collect_fixture.h"

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

static const struct CMUnitTest tests[] = {
    TREE_TEST(regular_files_in_path_order),
    TREE_TEST(glob_semantics),
    TREE_TEST(symlink_to_a_host_file_is_not_followed),
    TREE_TEST(symlink_chain_is_not_followed),
    TREE_TEST(symlinked_directory_is_not_entered),
    TREE_TEST(hard_links_are_refused),
    TREE_TEST(fifo_does_not_block),
    TREE_TEST(devices_and_sockets_are_refused),
    TREE_TEST(mount_points_are_not_crossed),
    TREE_TEST(the_workspace_is_left_as_it_was),
    TREE_TEST(order_does_not_depend_on_creation),
    TREE_TEST(bad_arguments_are_refused),
};

int main(void)
{
    return run_both_ways("collect", tests, ARRAY_SIZE(tests));
}
