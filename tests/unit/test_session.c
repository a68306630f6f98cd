/* Sessions, for real: persistent workspaces under a root in a temporary
 * directory, used by actual jails; their locks across threads and
 * processes, removal, listing and sweeping. Needs root, user namespaces and
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

/* ---- persistence ---- */

static void test_files_persist_between_jobs(void **state)
{
    (void)state;
    struct jail_workspace *ws = acquire("notebook", QUOTA);
    unsigned uid = uid_of(ws);
    assert_in_range(uid, SESSION_UID_FIRST, SESSION_UID_LAST);
    put(ws, "lib/mod/a.py", "v=1\n", 0644);
    run_ok(ws, "echo hello > /work/x && cat /work/lib/mod/a.py");
    struct stat st;
    assert_int_equal(fstatat(jail_workspace_dirfd(ws), "x", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_uid, uid);
    jail_workspace_free(ws);

    /* Freed, the tmpfs stays mounted as it was: nosuid, nodev, the session's. */
    char *line = mount_line(work_dir_of("notebook"));
    assert_non_null(line);
    char owner[32];
    snprintf(owner, sizeof(owner), "uid=%u", uid);
    assert_non_null(strstr(line, "nosuid"));
    assert_non_null(strstr(line, "nodev"));
    assert_non_null(strstr(line, " - tmpfs brig-session "));
    assert_non_null(strstr(line, owner));
    /* Its metadata is the host's, beside the tmpfs, not in it. */
    char meta_path[256];
    snprintf(meta_path, sizeof(meta_path), "%s/notebook.json", root);
    assert_int_equal(lstat(meta_path, &st), 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_true(uid_recorded(uid));

    ws = acquire("notebook", QUOTA);
    assert_int_equal(uid_of(ws), uid);
    /* The next job's input files replace the last one's. */
    put(ws, "lib/mod/a.py", "v=2\n", 0644);
    struct jail_outcome out = run_in(ws, "cat /work/x /work/lib/mod/a.py && echo world > /work/x");
    assert_ok(&out);
    assert_string_equal(out.out.data, "hello\nv=2\n");
    jail_outcome_free(&out);
    assert_string_equal(read_in(ws, "x"), "world\n");
    jail_workspace_free(ws);
    remove_session("notebook");
}

/* What the worker does for a runtime job: the source file goes in anew each
 * time, next to what the last job left. */
static void test_runtime_jobs_share_a_session(void **state)
{
    (void)state;
    static const char table_json[] =
        "{\"runtimes\": [{\"name\": \"sh\", \"source\": \"main.sh\", "
        "\"run\": [\"sh\", \"main.sh\"], \"version\": [\"sh\", \"-c\", \"echo sh 1\"]}]}";
    struct runtime_table *table;
    char err[512];
    if (runtime_table_parse(table_json, strlen(table_json), "test", &table, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    const char *codes[] = {"echo 1 > /work/count; echo first", "echo $(($(cat /work/count) + 1))"};
    const char *outputs[] = {"first\n", "2\n"};
    for (size_t i = 0; i < 2; i++) {
        struct jail_workspace *ws = acquire("runtime", QUOTA);
        struct jail_spec spec = {.workspace = ws};
        jail_limits_default(&spec.limits);
        spec.limits.wall_ms = 60000;
        struct runtime_outcome out;
        runtime_run(ctx, runtime_find(table, "sh"), codes[i], strlen(codes[i]), NULL, &spec, &out);
        assert_ok(&out.jail);
        assert_string_equal(out.jail.out.data, outputs[i]);
        jail_outcome_free(&out.jail);
        jail_workspace_free(ws);
    }
    runtime_table_free(table);
    remove_session("runtime");
}

static void test_sessions_are_isolated(void **state)
{
    (void)state;
    struct jail_workspace *a = acquire("alice", QUOTA);
    struct jail_workspace *b = acquire("bob", QUOTA);
    assert_int_not_equal(uid_of(a), uid_of(b));
    run_ok(a, "echo secret > /work/secret && chmod 644 /work/secret");

    struct jail_outcome out = run_in(b, "ls -A /work");
    assert_ok(&out);
    assert_string_equal(out.out.data, "");
    jail_outcome_free(&out);

    /* Even handed the other session's host path, bob's uid cannot enter it. */
    const char *argv[] = {"/bin/cat", "/peer/secret", NULL};
    struct jail_bind bind = {.src = work_dir_of("alice"), .dst = "/peer"};
    struct jail_spec spec = {.argv = argv, .workspace = b, .binds = &bind, .n_binds = 1};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 60000;
    jail_run(ctx, &spec, &out);
    assert_int_not_equal(out.status, BRIG_STATUS_OK);
    assert_null(strstr(out.out.data ? out.out.data : "", "secret"));
    jail_outcome_free(&out);

    jail_workspace_free(a);
    jail_workspace_free(b);
    remove_session("alice");
    remove_session("bob");
}

static void test_quota_is_enforced(void **state)
{
    (void)state;
    struct jail_workspace *ws = acquire("small", 1 * MIB);
    struct jail_outcome out = run_in(ws, "head -c 2097152 /dev/zero > /work/big");
    assert_int_equal(out.status, BRIG_STATUS_FAILED);
    assert_non_null(strstr(out.err.data, "No space left on device"));
    jail_outcome_free(&out);
    jail_workspace_free(ws);
    remove_session("small");
}

static void test_ids_are_checked_and_never_escape(void **state)
{
    (void)state;
    const char *bad[] = {
        "",    "a/b",      "a b",
        "x\n", "\xc3\xa9", "12345678901234567890123456789012345678901234567890123456789012345"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct jail_workspace *ws = NULL;
        char err[512];
        assert_int_equal(jail_session_acquire(ctx, root, bad[i], QUOTA, 0, &ws, err, sizeof(err)),
                         -1);
        assert_null(ws);
        assert_non_null(strstr(err, "session_id"));
    }
    /* SCHEMA.md allows "." and "..": they stay names under the root. */
    struct jail_workspace *dots = acquire("..", QUOTA);
    struct jail_workspace *dot = acquire(".", QUOTA);
    assert_non_null(mount_line(work_dir_of("..")));
    assert_non_null(mount_line(work_dir_of(".")));
    assert_int_not_equal(uid_of(dots), uid_of(dot));
    jail_workspace_free(dots);
    jail_workspace_free(dot);
    remove_session("..");
    remove_session(".");
    assert_null(mount_line(work_dir_of("..")));
}

/* ---- the lock ---- */

static void test_lock_serializes_holders(void **state)
{
    (void)state;
    struct jail_workspace *first = acquire("serial", QUOTA);
    struct jail_workspace *second = NULL;
    char err[512];
    assert_int_equal(
        jail_session_acquire(ctx, root, "serial", QUOTA, 100, &second, err, sizeof(err)),
        JAIL_SESSION_BUSY);
    assert_null(second);
    assert_non_null(strstr(err, "in use"));
    jail_workspace_free(first);
    assert_int_equal(jail_session_acquire(ctx, root, "serial", QUOTA, 0, &second, err, sizeof(err)),
                     0);
    jail_workspace_free(second);
    remove_session("serial");
}

static void test_lock_serializes_processes(void **state)
{
    (void)state;
    int held[2], go[2];
    assert_int_equal(pipe(held), 0);
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* Only the parent's ends stay open, so that its end (even a
         * failed test's) is this child's end of file. */
        close(held[0]);
        close(go[1]);
        struct jail_workspace *ws = NULL;
        char err[512], byte = 'h';
        if (jail_session_acquire(ctx, root, "shared", QUOTA, 0, &ws, err, sizeof(err)) != 0)
            _exit(1);
        if (write(held[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1)
            _exit(2);
        jail_workspace_free(ws);
        _exit(0);
    }
    close(held[1]);
    close(go[0]);
    char byte;
    assert_int_equal(read(held[0], &byte, 1), 1);

    struct jail_workspace *ws = NULL;
    char err[512];
    assert_int_equal(jail_session_acquire(ctx, root, "shared", QUOTA, 200, &ws, err, sizeof(err)),
                     JAIL_SESSION_BUSY);
    assert_int_equal(write(go[1], "g", 1), 1);
    /* Waits for the other process to let go. */
    assert_int_equal(jail_session_acquire(ctx, root, "shared", QUOTA, 60000, &ws, err, sizeof(err)),
                     0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    run_ok(ws, "test -d /work");
    jail_workspace_free(ws);
    remove_session("shared");
    close(held[0]);
    close(go[1]);
}

/* ---- removal, listing, sweeping ---- */

static void test_remove_waits_for_the_holder_then_unmounts(void **state)
{
    (void)state;
    struct jail_workspace *ws = acquire("doomed", QUOTA);
    unsigned uid = uid_of(ws);
    run_ok(ws, "echo data > /work/f");
    char err[512];
    assert_int_equal(jail_session_remove(root, "doomed", 100, err, sizeof(err)), JAIL_SESSION_BUSY);
    assert_non_null(mount_line(work_dir_of("doomed")));
    jail_workspace_free(ws);

    assert_int_equal(jail_session_remove(root, "doomed", 0, err, sizeof(err)), 0);
    assert_null(mount_line(work_dir_of("doomed")));
    assert_false(exists_in_root("doomed.work"));
    assert_false(exists_in_root("doomed.json"));
    assert_false(exists_in_root("doomed.lock"));
    assert_false(uid_recorded(uid));
    assert_int_equal(jail_session_remove(root, "doomed", 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no session doomed"));

    /* The lowest free session uid is handed out: the one just freed. */
    ws = acquire("successor", QUOTA);
    assert_int_equal(uid_of(ws), uid);
    struct jail_outcome out = run_in(ws, "ls -A /work");
    assert_ok(&out);
    assert_string_equal(out.out.data, "");
    jail_outcome_free(&out);
    jail_workspace_free(ws);
    remove_session("successor");
}

struct listing {
    struct jail_session_info infos[8];
    size_t count;
};

static void collect(void *arg, const struct jail_session_info *info)
{
    struct listing *listing = arg;
    if (listing->count < 8)
        listing->infos[listing->count++] = *info;
}

static const struct jail_session_info *find(const struct listing *listing, const char *id)
{
    for (size_t i = 0; i < listing->count; i++)
        if (strcmp(listing->infos[i].id, id) == 0)
            return &listing->infos[i];
    return NULL;
}

/* Closing a session's workspace records its last use; when that fails, the
 * caller is told (the library prints nothing), and the session is free for
 * the next holder all the same. */
static void test_close_reports_a_last_use_it_cannot_record(void **state)
{
    (void)state;
    char blocker[PATH_MAX], err[512];
    struct jail_workspace *ws = acquire("unrecorded", QUOTA);
    /* Where the new metadata is written before it is renamed into place. */
    snprintf(blocker, sizeof(blocker), "%s/unrecorded.json.new", root);
    assert_int_equal(mkdir(blocker, 0700), 0);
    assert_int_equal(jail_workspace_close(ws, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "session unrecorded"));
    assert_non_null(strstr(err, strerror(EISDIR)));
    assert_int_equal(rmdir(blocker), 0);
    ws = acquire("unrecorded", QUOTA);
    assert_int_equal(jail_workspace_close(ws, err, sizeof(err)), 0);
    remove_session("unrecorded");
}

static void test_list_shows_usage(void **state)
{
    (void)state;
    struct jail_workspace *ws = acquire("listed", QUOTA);
    unsigned uid = uid_of(ws);
    run_ok(ws, "head -c 307200 /dev/zero > /work/f");
    jail_workspace_free(ws);
    struct jail_workspace *held = acquire("held", 2 * MIB);

    struct listing listing = {0};
    char err[512];
    assert_int_equal(jail_session_list(root, collect, &listing, err, sizeof(err)), 2);
    const struct jail_session_info *info = find(&listing, "listed");
    assert_non_null(info);
    assert_int_equal(info->uid, uid);
    assert_int_equal(info->quota_bytes, QUOTA);
    assert_in_range(info->used_bytes, 300 * KIB, 400 * KIB);
    assert_true(info->created_ms > 0 && info->created_ms <= info->last_used_ms);
    info = find(&listing, "held");
    assert_non_null(info);
    assert_int_equal(info->quota_bytes, 2 * MIB);
    assert_in_range(info->used_bytes, 0, 64 * KIB);

    jail_workspace_free(held);
    remove_session("listed");
    remove_session("held");
    listing.count = 0;
    assert_int_equal(jail_session_list(root, collect, &listing, err, sizeof(err)), 0);
}

static void test_sweep_removes_only_idle_sessions(void **state)
{
    (void)state;
    jail_workspace_free(acquire("old", QUOTA));
    sleep_ms(30);
    jail_workspace_free(acquire("fresh", QUOTA));
    struct jail_workspace *busy = acquire("busy", QUOTA);

    struct listing listing = {0};
    char err[512];
    assert_int_equal(jail_session_list(root, collect, &listing, err, sizeof(err)), 3);
    uint64_t old_used = find(&listing, "old")->last_used_ms;
    assert_true(find(&listing, "fresh")->last_used_ms >= old_used + 20);

    size_t removed;
    assert_int_equal(jail_session_sweep(root, 10, old_used + 11, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_dir_of("old")));
    assert_non_null(mount_line(work_dir_of("fresh")));

    /* Everything is idle now, but a held session stays. */
    assert_int_equal(jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_dir_of("fresh")));
    assert_non_null(mount_line(work_dir_of("busy")));
    run_ok(busy, "touch /work/still-here");
    jail_workspace_free(busy);

    assert_int_equal(jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_dir_of("busy")));
    assert_false(exists_in_root("busy.lock"));
}

static void test_a_corrupt_session_hides_no_other(void **state)
{
    (void)state;
    jail_workspace_free(acquire("good", QUOTA));
    jail_workspace_free(acquire("bad", QUOTA));
    char meta_path[256];
    snprintf(meta_path, sizeof(meta_path), "%s/bad.json", root);
    FILE *file = fopen(meta_path, "we");
    assert_non_null(file);
    fputs("{\"uid\": \"not a number\"", file);
    fclose(file);

    struct listing listing = {0};
    char err[512];
    assert_int_equal(jail_session_list(root, collect, &listing, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad.json"));
    assert_int_equal(listing.count, 1);
    assert_non_null(find(&listing, "good"));

    size_t removed;
    assert_int_equal(jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad.json"));
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_dir_of("good")));

    /* Removal is the way out for it. */
    remove_session("bad");
    assert_null(mount_line(work_dir_of("bad")));
    assert_false(exists_in_root("bad.json"));
}

static void test_a_lost_or_foreign_tmpfs(void **state)
{
    (void)state;
    struct jail_workspace *ws = acquire("rebooted", QUOTA);
    unsigned uid = uid_of(ws);
    run_ok(ws, "echo gone > /work/f");
    jail_workspace_free(ws);

    /* A reboot takes the tmpfs and /run: the session starts again, empty,
     * with a recorded uid. */
    char record[64];
    snprintf(record, sizeof(record), "%s/%u", UID_RECORDS, uid);
    assert_int_equal(umount2(work_dir_of("rebooted"), MNT_DETACH), 0);
    assert_int_equal(unlink(record), 0);
    ws = acquire("rebooted", QUOTA);
    uid = uid_of(ws);
    assert_true(uid_recorded(uid));
    struct jail_outcome out = run_in(ws, "ls -A /work");
    assert_ok(&out);
    assert_string_equal(out.out.data, "");
    jail_outcome_free(&out);
    jail_workspace_free(ws);

    /* Something else mounted there is never taken for the session. */
    assert_int_equal(umount2(work_dir_of("rebooted"), MNT_DETACH), 0);
    assert_int_equal(mount("other", work_dir_of("rebooted"), "tmpfs", 0, "size=1m"), 0);
    char err[512];
    assert_int_equal(jail_session_acquire(ctx, root, "rebooted", QUOTA, 0, &ws, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "is not its tmpfs"));
    remove_session("rebooted");
    assert_null(mount_line(work_dir_of("rebooted")));
    assert_false(uid_recorded(uid));
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_session needs root\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_persist_between_jobs),
        cmocka_unit_test(test_runtime_jobs_share_a_session),
        cmocka_unit_test(test_sessions_are_isolated),
        cmocka_unit_test(test_quota_is_enforced),
        cmocka_unit_test(test_ids_are_checked_and_never_escape),
        cmocka_unit_test(test_lock_serializes_holders),
        cmocka_unit_test(test_lock_serializes_processes),
        cmocka_unit_test(test_remove_waits_for_the_holder_then_unmounts),
        cmocka_unit_test(test_close_reports_a_last_use_it_cannot_record),
        cmocka_unit_test(test_list_shows_usage),
        cmocka_unit_test(test_sweep_removes_only_idle_sessions),
        cmocka_unit_test(test_a_corrupt_session_hides_no_other),
        cmocka_unit_test(test_a_lost_or_foreign_tmpfs),
    };
    return cmocka_run_group_tests(tests, setup_context, teardown_context);
}
