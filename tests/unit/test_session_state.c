/* A session's state hash over hostile trees, and host writes into a
 * session a job has planted links in. Needs root, user namespaces and
 * cgroups. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"
#include "sandbox/session.h"
#include "tests/unit/tree.h"
#include "common/common.h"
#include "tests/unit/session_fixture.h"

/* ---- the state hash ---- */

static void test_state_hash_is_canonical(void **state)
{
    (void)state;
    struct jail_workspace *a = new_workspace(), *b = new_workspace();
    put(a, "main.py", "print(1)\n", 0644);
    put(a, "lib/util.py", "x = 2\n", 0644);
    put(a, "lib/deep/data.bin", "\x01\x02", 0600);
    put(b, "lib/deep/data.bin", "\x01\x02", 0600);
    put(b, "lib/util.py", "x = 2\n", 0644);
    put(b, "main.py", "print(1)\n", 0644);
    char ha[65], hb[65];
    assert_string_equal(hash_of(a, ha), hash_of(b, hb));
    assert_string_equal(hash_of(a, hb), ha); /* and the same twice */
    jail_workspace_free(a);
    jail_workspace_free(b);
}

static void test_state_hash_sees_one_byte_and_a_mode(void **state)
{
    (void)state;
    struct jail_workspace *a = new_workspace(), *b = new_workspace(), *c = new_workspace();
    put(a, "f.txt", "hello", 0644);
    put(b, "f.txt", "hellp", 0644);
    put(c, "f.txt", "hello", 0755);
    char ha[65], hb[65], hc[65];
    hash_of(a, ha);
    assert_string_not_equal(ha, hash_of(b, hb));
    assert_string_not_equal(ha, hash_of(c, hc));
    /* A name moved into a directory is a different tree. */
    struct jail_workspace *d = new_workspace();
    put(d, "f/txt", "hello", 0644);
    assert_string_not_equal(ha, hash_of(d, hb));
    jail_workspace_free(a);
    jail_workspace_free(b);
    jail_workspace_free(c);
    jail_workspace_free(d);
}

static void test_state_hash_never_follows_symlinks(void **state)
{
    (void)state;
    char target[256];
    snprintf(target, sizeof(target), "%s/target", scratch_dir);
    FILE *file = fopen(target, "we");
    assert_non_null(file);
    fputs("before", file);
    fclose(file);

    struct jail_workspace *a = new_workspace(), *b = new_workspace(), *c = new_workspace();
    assert_int_equal(symlinkat("/etc/passwd", jail_workspace_dirfd(a), "p"), 0);
    assert_int_equal(symlinkat(target, jail_workspace_dirfd(a), "t"), 0);
    assert_int_equal(symlinkat("/", jail_workspace_dirfd(a), "root"), 0);
    assert_int_equal(symlinkat("loop", jail_workspace_dirfd(a), "loop"), 0);
    char first[65], second[65];
    hash_of(a, first);

    /* The target's content is not part of the hash, */
    file = fopen(target, "we");
    assert_non_null(file);
    fputs("after", file);
    fclose(file);
    assert_string_equal(first, hash_of(a, second));
    /* its string is: the same file named differently is another tree. */
    assert_int_equal(symlinkat("/etc/../etc/passwd", jail_workspace_dirfd(b), "p"), 0);
    assert_int_equal(symlinkat(target, jail_workspace_dirfd(b), "t"), 0);
    assert_int_equal(symlinkat("/", jail_workspace_dirfd(b), "root"), 0);
    assert_int_equal(symlinkat("loop", jail_workspace_dirfd(b), "loop"), 0);
    assert_string_not_equal(first, hash_of(b, second));
    /* And a link is not the file it points to, even with the link's mode. */
    assert_int_equal(symlinkat("/etc/passwd", jail_workspace_dirfd(c), "x"), 0);
    hash_of(c, first);
    struct jail_workspace *d = new_workspace();
    static char passwd[65536];
    file = fopen("/etc/passwd", "re");
    assert_non_null(file);
    passwd[fread(passwd, 1, sizeof(passwd) - 1, file)] = '\0';
    fclose(file);
    put(d, "x", passwd, 0777);
    assert_string_not_equal(first, hash_of(d, second));
    jail_workspace_free(a);
    jail_workspace_free(b);
    jail_workspace_free(c);
    jail_workspace_free(d);
}

static void test_state_hash_of_a_hostile_job_tree(void **state)
{
    (void)state;
    /* A FIFO nobody writes to would block a reader forever: the hash never
     * opens one. The alarm turns a hang into a failure. */
    alarm(120);
    struct jail_workspace *ws = acquire("hostile", QUOTA);
    run_ok(ws, "mkfifo /work/fifo && mkdir /work/d && mkfifo -m 0 /work/d/closed && "
               "ln -s /etc/passwd /work/p && ln -s /work /work/d/up && echo x > /work/f && "
               "chmod 0 /work/f");
    char before[65], again[65];
    hash_of(ws, before);
    assert_string_equal(before, hash_of(ws, again));
    run_ok(ws, "rm /work/fifo && touch /work/fifo");
    assert_string_not_equal(before, hash_of(ws, again));

    /* Trees past the depth bound are refused, with a reason. */
    run_ok(ws, "i=0; p=/work/deep; while [ $i -lt 130 ]; do p=$p/d; i=$((i+1)); done; "
               "mkdir -p $p");
    char err[512], hex[65];
    assert_int_equal(jail_workspace_state_hash(ws, hex, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "directories deep"));
    alarm(0);
    jail_workspace_free(ws);
    remove_session("hostile");
}

/* ---- host writes ---- */

static void test_planted_symlinks_never_redirect_host_writes(void **state)
{
    (void)state;
    char victim[256], command[1024];
    snprintf(victim, sizeof(victim), "%s/victim", scratch_dir);
    struct jail_workspace *ws = acquire("planter", QUOTA);
    snprintf(command, sizeof(command),
             "ln -s /etc /work/etc && ln -s %s /work/victim && mkdir /work/sub && "
             "ln -s / /work/sub/up && ln -s %s /work/dir",
             victim, scratch_dir);
    run_ok(ws, command);
    jail_workspace_free(ws);

    ws = acquire("planter", QUOTA);
    const char *paths[] = {"etc/brig-planted", "sub/up/tmp/brig-planted", "dir/brig-planted"};
    char err[512];
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        assert_int_equal(
            jail_workspace_write_file(ws, paths[i], "owned", 5, 0644, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "symbolic link"));
    }
    /* A link where the file goes is replaced, itself, by the file; a
     * directory is not. */
    put(ws, "victim", "owned", 0644);
    assert_string_equal(read_in(ws, "victim"), "owned");
    assert_int_equal(jail_workspace_write_file(ws, "sub", "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "replacing sub"));
    struct stat st;
    assert_int_equal(stat("/etc/brig-planted", &st), -1);
    assert_int_equal(stat(victim, &st), -1);
    assert_int_equal(stat("/tmp/brig-planted", &st), -1);
    char planted[256];
    snprintf(planted, sizeof(planted), "%s/brig-planted", scratch_dir);
    assert_int_equal(stat(planted, &st), -1);
    jail_workspace_free(ws);
    remove_session("planter");
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_session_state needs root\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_hash_is_canonical),
        cmocka_unit_test(test_state_hash_sees_one_byte_and_a_mode),
        cmocka_unit_test(test_state_hash_never_follows_symlinks),
        cmocka_unit_test(test_state_hash_of_a_hostile_job_tree),
        cmocka_unit_test(test_planted_symlinks_never_redirect_host_writes),
    };
    return cmocka_run_group_tests(tests, setup_context, teardown_context);
}
