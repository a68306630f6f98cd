/* What the session tests share: a jail context and a sessions root in
 * temporary directories, and workspaces, jobs and files in them. */
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

struct jail_context *ctx;
char state_dir[64];
char scratch_dir[64]; /* o+x, so that jail uids can reach the root in it */
char root[128];

int setup_context(void **state)
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
void unmount_leftovers(const char *dir)
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
void remove_uid_records(void)
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

int teardown_context(void **state)
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

struct jail_workspace *acquire(const char *id, uint64_t quota)
{
    struct jail_workspace *ws = NULL;
    char err[512];
    int rc = jail_session_acquire(ctx, root, id, quota, 0, &ws, err, sizeof(err));
    if (rc != 0)
        fail_msg("acquiring session %s: %s", id, err);
    return ws;
}

void remove_session(const char *id)
{
    char err[512];
    if (jail_session_remove(root, id, 0, err, sizeof(err)) != 0)
        fail_msg("removing session %s: %s", id, err);
}

unsigned uid_of(const struct jail_workspace *ws)
{
    struct stat st;
    assert_int_equal(fstat(jail_workspace_dirfd(ws), &st), 0);
    return (unsigned)st.st_uid;
}

struct jail_outcome run_in(struct jail_workspace *ws, const char *script)
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

void assert_ok(const struct jail_outcome *out)
{
    if (out->status != BRIG_STATUS_OK)
        fail_msg("status %s (exit %d, message \"%s\", stderr \"%s\")",
                 brig_status_name(out->status), out->exit_code, out->message, out->err.data);
}

void run_ok(struct jail_workspace *ws, const char *script)
{
    struct jail_outcome out = run_in(ws, script);
    assert_ok(&out);
    jail_outcome_free(&out);
}

/* Reads name in the workspace from the host, never through a symlink. */
char *read_in(const struct jail_workspace *ws, const char *name)
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

char *work_dir_of(const char *id)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s.work", root, id);
    return path;
}

/* The /proc/self/mountinfo line of the mount at path, or NULL. */
char *mount_line(const char *path)
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

bool exists_in_root(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

bool uid_recorded(unsigned uid)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/%u", UID_RECORDS, uid);
    struct stat st;
    return lstat(path, &st) == 0;
}

void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

struct jail_workspace *new_workspace(void)
{
    struct jail_workspace *ws = NULL;
    char err[512];
    if (jail_workspace_new(ctx, QUOTA, &ws, err, sizeof(err)) != 0)
        fail_msg("jail_workspace_new: %s", err);
    return ws;
}

void put(struct jail_workspace *ws, const char *path, const char *text, unsigned mode)
{
    char err[512];
    if (jail_workspace_write_file(ws, path, text, strlen(text), mode, err, sizeof(err)) != 0)
        fail_msg("writing %s: %s", path, err);
}

const char *hash_of(const struct jail_workspace *ws, char hex[65])
{
    char err[512];
    if (jail_workspace_state_hash(ws, hex, err, sizeof(err)) != 0)
        fail_msg("hashing: %s", err);
    assert_int_equal(strlen(hex), 64);
    return hex;
}
