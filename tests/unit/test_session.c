/* Sessions, for real: persistent workspaces under a root in a temporary
 * directory, used by actual jails; their locks across threads and
 * processes, removal, listing, sweeping; and the state hash of hostile trees.
 * Needs root, user namespaces and cgroups. */
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

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define QUOTA (8 * MIB)
#define SESSION_UID_FIRST 0x71000000u
#define SESSION_UID_LAST 0x71ffffffu
#define UID_RECORDS "/run/brig/session-uids"

static struct jail_context *ctx;
static char state_dir[64];
static char scratch_dir[64]; /* o+x, so that jail uids can reach the root in it */
static char root[128];

static int setup_context(void **state)
{
    (void)state;
    snprintf(state_dir, sizeof(state_dir), "/tmp/brig-test-session-state.XXXXXX");
    snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/brig-test-session.XXXXXX");
    if (mkdtemp(state_dir) == NULL || mkdtemp(scratch_dir) == NULL || chmod(scratch_dir, 0711) != 0)
        return -1;
    snprintf(root, sizeof(root), "%s/sessions", scratch_dir);
    struct jail_context_config config = {.state_dir = state_dir, .max_jails = 8};
    char err[256];
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_context_new: %s\n", err);
        return -1;
    }
    return 0;
}

/* A failed test leaves what it held: its mounts under dir go here. */
static void unmount_leftovers(const char *dir)
{
    FILE *file = fopen("/proc/self/mountinfo", "re");
    if (file == NULL)
        return;
    char line[1024], mount_point[512];
    size_t len = strlen(dir);
    while (fgets(line, sizeof(line), file) != NULL) {
        if (sscanf(line, "%*s %*s %*s %*s %511s", mount_point) == 1 &&
            strncmp(mount_point, dir, len) == 0 && mount_point[len] == '/')
            umount2(mount_point, MNT_DETACH);
    }
    fclose(file);
}

/* ... and the uid records of its sessions. */
static void remove_uid_records(void)
{
    DIR *dir = opendir(UID_RECORDS);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char path[512], owner[512] = "";
        snprintf(path, sizeof(path), "%s/%s", UID_RECORDS, entry->d_name);
        FILE *file = fopen(path, "re");
        if (file == NULL)
            continue;
        bool ours = fgets(owner, sizeof(owner), file) != NULL &&
                    strncmp(owner, root, strlen(root)) == 0 && owner[strlen(root)] == '/';
        fclose(file);
        if (ours)
            unlink(path);
    }
    closedir(dir);
}

static int teardown_context(void **state)
{
    (void)state;
    size_t removed;
    char err[512];
    if (jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)) != 0)
        fprintf(stderr, "sweeping the sessions left: %s\n", err);
    jail_context_free(ctx);
    unmount_leftovers(scratch_dir);
    unmount_leftovers(state_dir);
    remove_uid_records();
    remove_tree(scratch_dir);
    remove_tree(state_dir);
    return 0;
}

/* ---- helpers ---- */

static struct jail_workspace *acquire(const char *id, uint64_t quota)
{
    struct jail_workspace *ws = NULL;
    char err[512];
    int rc = jail_session_acquire(ctx, root, id, quota, 0, &ws, err, sizeof(err));
    if (rc != 0)
        fail_msg("acquiring session %s: %s", id, err);
    return ws;
}

static void remove_session(const char *id)
{
    char err[512];
    if (jail_session_remove(root, id, 0, err, sizeof(err)) != 0)
        fail_msg("removing session %s: %s", id, err);
}

static unsigned uid_of(const struct jail_workspace *ws)
{
    struct stat st;
    assert_int_equal(fstat(jail_workspace_dirfd(ws), &st), 0);
    return (unsigned)st.st_uid;
}

static struct jail_outcome run_in(struct jail_workspace *ws, const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct jail_spec spec = {.argv = argv, .workspace = ws};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 60000; /* generous: the machine may be loaded */
    spec.limits.cpu_ms = 30000;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    return out;
}

static void assert_ok(const struct jail_outcome *out)
{
    if (out->status != BRIG_STATUS_OK)
        fail_msg("status %s (exit %d, message \"%s\", stderr \"%s\")",
                 brig_status_name(out->status), out->exit_code, out->message, out->err.data);
}

static void run_ok(struct jail_workspace *ws, const char *script)
{
    struct jail_outcome out = run_in(ws, script);
    assert_ok(&out);
    jail_outcome_free(&out);
}

/* Reads name in the workspace from the host, never through a symlink. */
static char *read_in(const struct jail_workspace *ws, const char *name)
{
    int fd = openat(jail_workspace_dirfd(ws), name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    static char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static char *work_path(const char *id)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s.work", root, id);
    return path;
}

/* The /proc/self/mountinfo line of the mount at path, or NULL. */
static char *mount_line(const char *path)
{
    static char line[1024];
    FILE *file = fopen("/proc/self/mountinfo", "re");
    assert_non_null(file);
    char *found = NULL;
    while (found == NULL && fgets(line, sizeof(line), file) != NULL) {
        char mount_point[512];
        if (sscanf(line, "%*s %*s %*s %*s %511s", mount_point) == 1 &&
            strcmp(mount_point, path) == 0)
            found = line;
    }
    fclose(file);
    return found;
}

static bool exists_in_root(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static bool uid_recorded(unsigned uid)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/%u", UID_RECORDS, uid);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void put(struct jail_workspace *ws, const char *path, const char *text, unsigned mode);

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
    char *line = mount_line(work_path("notebook"));
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
    struct jail_bind bind = {.src = work_path("alice"), .dst = "/peer"};
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
    assert_non_null(mount_line(work_path("..")));
    assert_non_null(mount_line(work_path(".")));
    assert_int_not_equal(uid_of(dots), uid_of(dot));
    jail_workspace_free(dots);
    jail_workspace_free(dot);
    remove_session("..");
    remove_session(".");
    assert_null(mount_line(work_path("..")));
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
    assert_non_null(mount_line(work_path("doomed")));
    jail_workspace_free(ws);

    assert_int_equal(jail_session_remove(root, "doomed", 0, err, sizeof(err)), 0);
    assert_null(mount_line(work_path("doomed")));
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
    assert_null(mount_line(work_path("old")));
    assert_non_null(mount_line(work_path("fresh")));

    /* Everything is idle now, but a held session stays. */
    assert_int_equal(jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_path("fresh")));
    assert_non_null(mount_line(work_path("busy")));
    run_ok(busy, "touch /work/still-here");
    jail_workspace_free(busy);

    assert_int_equal(jail_session_sweep(root, 0, UINT64_MAX, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_null(mount_line(work_path("busy")));
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
    assert_null(mount_line(work_path("good")));

    /* Removal is the way out for it. */
    remove_session("bad");
    assert_null(mount_line(work_path("bad")));
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
    assert_int_equal(umount2(work_path("rebooted"), MNT_DETACH), 0);
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
    assert_int_equal(umount2(work_path("rebooted"), MNT_DETACH), 0);
    assert_int_equal(mount("other", work_path("rebooted"), "tmpfs", 0, "size=1m"), 0);
    char err[512];
    assert_int_equal(jail_session_acquire(ctx, root, "rebooted", QUOTA, 0, &ws, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "is not its tmpfs"));
    remove_session("rebooted");
    assert_null(mount_line(work_path("rebooted")));
    assert_false(uid_recorded(uid));
}

/* ---- the state hash ---- */

static struct jail_workspace *new_workspace(void)
{
    struct jail_workspace *ws = NULL;
    char err[512];
    if (jail_workspace_new(ctx, QUOTA, &ws, err, sizeof(err)) != 0)
        fail_msg("jail_workspace_new: %s", err);
    return ws;
}

static void put(struct jail_workspace *ws, const char *path, const char *text, unsigned mode)
{
    char err[512];
    if (jail_workspace_write_file(ws, path, text, strlen(text), mode, err, sizeof(err)) != 0)
        fail_msg("writing %s: %s", path, err);
}

static const char *hash_of(const struct jail_workspace *ws, char hex[65])
{
    char err[512];
    if (jail_workspace_state_hash(ws, hex, err, sizeof(err)) != 0)
        fail_msg("hashing: %s", err);
    assert_int_equal(strlen(hex), 64);
    return hex;
}

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
        cmocka_unit_test(test_state_hash_is_canonical),
        cmocka_unit_test(test_state_hash_sees_one_byte_and_a_mode),
        cmocka_unit_test(test_state_hash_never_follows_symlinks),
        cmocka_unit_test(test_state_hash_of_a_hostile_job_tree),
        cmocka_unit_test(test_planted_symlinks_never_redirect_host_writes),
    };
    return cmocka_run_group_tests(tests, setup_context, teardown_context);
}
