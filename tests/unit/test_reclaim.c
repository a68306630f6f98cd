/* Reclaiming what dead brig processes left: workspace mounts, for real, in
 * a temporary state directory (the dead's go; a live process's, this one's,
 * sessions', unattributable ones and anything reached through a symbolic link
 * stay), a worker killed with SIGKILL in the middle of a job (its workspace
 * and its jail's cgroups on this host's cgroups are reclaimed), and a pid
 * that comes back finding its jails' cgroup names free. The cgroup half
 * against fake trees is in test_cgroup.c. Needs root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/cgroup_impl.h"
#include "sandbox/jail_host.h"
#include "sandbox/self_path.h"
#include "tests/unit/dead_owner.h"
#include "tests/unit/tree.h"

static char state[64], outside[64];

static int setup(void **unused)
{
    (void)unused;
    snprintf(state, sizeof(state), "/tmp/brig-test-reclaim.XXXXXX");
    snprintf(outside, sizeof(outside), "/tmp/brig-test-outside.XXXXXX");
    if (mkdtemp(state) == NULL || mkdtemp(outside) == NULL || chmod(state, 0711) != 0)
        return -1;
    return 0;
}

/* The mount points of every mount under dir, one per line, last made first. */
static size_t mounts_under(const char *dir, char points[][256], size_t max)
{
    FILE *file = fopen("/proc/self/mountinfo", "re");
    assert_non_null(file);
    char line[4096], point[256];
    size_t n = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        if (sscanf(line, "%*s %*s %*s %*s %255s", point) == 1 &&
            strncmp(point, dir, strlen(dir)) == 0 && point[strlen(dir)] == '/' && n < max)
            snprintf(points[n++], 256, "%s", point);
    }
    fclose(file);
    return n;
}

static void unmount_all(const char *dir)
{
    char points[64][256];
    size_t n;
    while ((n = mounts_under(dir, points, 64)) > 0) {
        while (n-- > 0)
            umount2(points[n], MNT_DETACH);
    }
}

static int teardown(void **unused)
{
    (void)unused;
    unmount_all(state);
    unmount_all(outside);
    remove_tree(state);
    remove_tree(outside);
    return 0;
}

/* How many mounts are stacked on path. */
static unsigned mounts_at(const char *path)
{
    char points[64][256];
    size_t n = mounts_under(state, points, 64);
    n += mounts_under(outside, points + n, 64 - n);
    unsigned count = 0;
    for (size_t i = 0; i < n; i++)
        count += strcmp(points[i], path) == 0;
    return count;
}

static void mount_tmpfs(const char *path, const char *source)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", path, strerror(errno));
    if (mount(source, path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0)
        fail_msg("mounting a tmpfs on %s: %s", path, strerror(errno));
}

/* A workspace mount as the owner's jail_workspace_new makes it. */
static void mount_workspace(const char *path, const struct owner *owner)
{
    char source[80], text[48];
    owner_format(owner, text, sizeof(text));
    snprintf(source, sizeof(source), "%s%s", WORKSPACE_SOURCE_PREFIX, text);
    mount_tmpfs(path, source);
}

static void path_in(char *buf, size_t len, const char *dir, const char *rel)
{
    snprintf(buf, len, "%s/%s", dir, rel);
}

static pid_t idle_child(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void test_only_the_workspaces_of_the_dead_are_unmounted(void **unused)
{
    (void)unused;
    char ws[128], dead[160], stacked[160], live[160], own[160], session[160], legacy[160],
        covered[160], far[160], link[160], err[512];
    struct owner gone = dead_owner(), self, alive;
    pid_t child = idle_child();
    assert_int_equal(owner_of(child, &alive), 0);
    assert_int_equal(owner_self(&self, err, sizeof(err)), 0);
    path_in(ws, sizeof(ws), state, "ws");
    assert_int_equal(mkdir(ws, 0711), 0);
    path_in(dead, sizeof(dead), ws, "dead");
    mount_workspace(dead, &gone);
    path_in(stacked, sizeof(stacked), ws, "stacked");
    mount_workspace(stacked, &gone);
    mount_workspace(stacked, &gone);
    path_in(live, sizeof(live), ws, "live");
    mount_workspace(live, &alive);
    path_in(own, sizeof(own), ws, "own");
    mount_workspace(own, &self);
    /* A session's tmpfs persists across restarts by design. */
    path_in(session, sizeof(session), state, "s.work");
    mount_tmpfs(session, "brig-session");
    /* Made before owners were recorded: whose it is cannot be told. */
    path_in(legacy, sizeof(legacy), ws, "legacy");
    mount_tmpfs(legacy, "brig-workspace");
    /* The dead's, under a live one's: out of reach without unmounting that. */
    path_in(covered, sizeof(covered), ws, "covered");
    mount_workspace(covered, &gone);
    mount_workspace(covered, &alive);
    /* The dead's, outside the state directory, which a link in it names. */
    path_in(far, sizeof(far), outside, "far");
    mount_workspace(far, &gone);
    path_in(link, sizeof(link), ws, "planted");
    assert_int_equal(symlink(outside, link), 0);

    struct jail_reclaimed out = {0};
    int rc = reclaim_mounts("/proc/self/mountinfo", state, &out, err, sizeof(err));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (rc != 0)
        fail_msg("reclaim_mounts: %s", err);
    assert_int_equal(out.mounts, 3);
    assert_int_equal(out.failures, 0);
    assert_int_equal(mounts_at(dead), 0);
    assert_int_equal(mounts_at(stacked), 0);
    assert_int_equal(mounts_at(live), 1);
    assert_int_equal(mounts_at(own), 1);
    assert_int_equal(mounts_at(session), 1);
    assert_int_equal(mounts_at(legacy), 1);
    assert_int_equal(mounts_at(covered), 2);
    assert_int_equal(mounts_at(far), 1);
}

/* mountinfo names a path; should a component of it be a link by the time it
 * is reached, the link is not followed, even to a mount of the dead. */
static void test_a_link_on_the_way_is_never_followed(void **unused)
{
    (void)unused;
    char ws[128], far[160], link[160], listed[200], fake[160], err[512];
    struct owner gone = dead_owner();
    path_in(ws, sizeof(ws), state, "ws");
    assert_int_equal(mkdir(ws, 0711), 0);
    path_in(far, sizeof(far), outside, "far");
    mount_workspace(far, &gone);
    path_in(link, sizeof(link), ws, "planted");
    assert_int_equal(symlink(outside, link), 0);
    struct stat st;
    assert_int_equal(stat(far, &st), 0);
    char who[48];
    owner_format(&gone, who, sizeof(who));
    snprintf(listed, sizeof(listed), "%s/far", link);
    path_in(fake, sizeof(fake), outside, "mountinfo");
    FILE *file = fopen(fake, "w");
    assert_non_null(file);
    fprintf(file, "900 1 %u:%u / %s rw,nosuid,nodev - tmpfs %s%s rw,size=1024k\n", major(st.st_dev),
            minor(st.st_dev), listed, WORKSPACE_SOURCE_PREFIX, who);
    fclose(file);

    struct jail_reclaimed out = {0};
    assert_int_equal(reclaim_mounts(fake, state, &out, err, sizeof(err)), -1);
    assert_int_equal(out.mounts, 0);
    assert_int_equal(out.failures, 1);
    assert_non_null(strstr(err, "never followed"));
    assert_int_equal(mounts_at(far), 1);
}

/* ---- a worker killed in the middle of a job ---- */

static void started(void *arg, enum jail_stream stream, const char *data, size_t len)
{
    (void)stream, (void)data, (void)len;
    if (write(*(int *)arg, "x", 1) != 1)
        _exit(3);
}

/* A process that runs one job in a workspace of its own (its jail cloned by
 * a spawner, when spawner is set) and is killed once the job has started:
 * what it leaves is what kill -9 of a worker leaves. */
static _Noreturn void doomed_worker(int ready_fd, const char *spawner)
{
    struct jail_context_config config = {
        .state_dir = state, .max_jails = 2, .spawner_path = spawner};
    struct jail_context *ctx;
    struct jail_workspace *ws;
    char err[256];
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0 ||
        jail_workspace_new(ctx, 1 << 20, &ws, err, sizeof(err)) != 0)
        _exit(1);
    const char *argv[] = {"/bin/sh", "-c", "echo started; exec sleep 60", NULL};
    struct jail_spec spec = {
        .argv = argv, .workspace = ws, .on_output = started, .output_ctx = &ready_fd};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 120000;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    _exit(2);
}

/* Of owner's jail cgroups, in every hierarchy: how many there are, and how
 * many processes they hold. */
static unsigned cgroups_of(const struct jail_context *ctx, const struct owner *owner,
                           unsigned *processes)
{
    char prefix[64];
    owner_format(owner, prefix, sizeof(prefix));
    strcat(prefix, "-");
    unsigned count = 0;
    *processes = 0;
    for (size_t i = 0; i < ctx->cgroups->n_groups; i++) {
        DIR *dir = opendir(ctx->cgroups->brig[i].path);
        assert_non_null(dir);
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
                continue;
            count++;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s/cgroup.procs", ctx->cgroups->brig[i].path,
                     entry->d_name);
            FILE *procs = fopen(path, "re");
            int pid;
            while (procs != NULL && fscanf(procs, "%d", &pid) == 1)
                (*processes)++;
            if (procs != NULL)
                fclose(procs);
        }
        closedir(dir);
    }
    return count;
}

static unsigned workspaces_of(const struct owner *owner)
{
    char who[48], source[80], line[4096];
    owner_format(owner, who, sizeof(who));
    snprintf(source, sizeof(source), " %s%s ", WORKSPACE_SOURCE_PREFIX, who);
    FILE *file = fopen("/proc/self/mountinfo", "re");
    assert_non_null(file);
    unsigned count = 0;
    while (fgets(line, sizeof(line), file) != NULL)
        count += strstr(line, source) != NULL;
    fclose(file);
    return count;
}

/* Kills a worker in the middle of a job: its jail must die with it, and
 * what it leaves must go at the next jail_reclaim, and nothing more. */
static void kill_a_worker_and_reclaim(const char *spawner)
{
    char err[512];
    /* Made first, so that the worker's uids are not this context's, whose
     * creation would sweep their workspaces itself. */
    struct jail_context_config config = {.state_dir = state, .max_jails = 2};
    struct jail_context *ctx;
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    int ready[2];
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    pid_t worker = fork();
    assert_true(worker >= 0);
    if (worker == 0)
        doomed_worker(ready[1], spawner);
    close(ready[1]);
    struct owner owner;
    assert_int_equal(owner_of(worker, &owner), 0);
    struct pollfd pfd = {ready[0], POLLIN, 0};
    char byte;
    bool job_started = poll(&pfd, 1, 60000) == 1 && read(ready[0], &byte, 1) == 1;
    close(ready[0]);
    kill(worker, SIGKILL);
    int status;
    assert_int_equal(waitpid(worker, &status, 0), worker);
    if (!job_started)
        fail_msg("the worker's job never started (worker exit status %d)", status);
    assert_int_equal(workspaces_of(&owner), 1);
    unsigned processes;
    assert_int_equal(cgroups_of(ctx, &owner, &processes), ctx->cgroups->n_groups);

    /* The jail dies with its worker, a moment later. */
    for (int round = 0; round < 100 && processes > 0; round++) {
        usleep(100 * 1000);
        cgroups_of(ctx, &owner, &processes);
    }
    if (processes > 0)
        fail_msg("the jail outlived its worker: %u processes in its cgroups", processes);
    struct jail_reclaimed out;
    jail_reclaim(ctx, &out, err, sizeof(err));
    if (workspaces_of(&owner) != 0 || cgroups_of(ctx, &owner, &processes) != 0)
        fail_msg("the dead worker's leftovers stay: %s", err);
    /* Other dead processes of this host may have left some too. */
    assert_true(out.mounts >= 1);
    assert_true(out.cgroups >= ctx->cgroups->n_groups);
    jail_context_free(ctx);
}

static void test_a_killed_worker_is_reclaimed(void **unused)
{
    (void)unused;
    kill_a_worker_and_reclaim(NULL);
}

static void test_a_killed_worker_with_a_spawner_is_reclaimed(void **unused)
{
    (void)unused;
    char zygote[PATH_MAX], err[256];
    /* build/tests/test_reclaim -> build/bin/brig-zygote */
    if (self_relative_path("../bin/brig-zygote", zygote, sizeof(zygote), err, sizeof(err)) != 0)
        fail_msg("%s", err);
    kill_a_worker_and_reclaim(zygote);
}

/* A dead process with this very pid left cgroups under the names jails had
 * before start times were part of them ("<pid>-<n>"): a context of this
 * process starts its jails all the same. */
static void test_a_pid_that_comes_back_finds_its_cgroup_names_free(void **unused)
{
    (void)unused;
    char err[512], name[32];
    struct jail_context_config config = {.state_dir = state, .max_jails = 2};
    struct jail_context *ctx;
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    const struct cgroup_backend *cgroups = ctx->cgroups;
    for (size_t i = 0; i < cgroups->n_groups; i++) {
        for (int n = 0; n < 4; n++) {
            snprintf(name, sizeof(name), "%d-%d", (int)getpid(), n);
            if (mkdirat(cgroups->brig[i].fd, name, 0755) != 0)
                fail_msg("planting %s/%s: %s", cgroups->brig[i].path, name, strerror(errno));
        }
    }
    const char *argv[] = {"/bin/true", NULL};
    struct jail_spec spec = {.argv = argv};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 30000;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    for (size_t i = 0; i < cgroups->n_groups; i++) {
        for (int n = 0; n < 4; n++) {
            snprintf(name, sizeof(name), "%d-%d", (int)getpid(), n);
            unlinkat(cgroups->brig[i].fd, name, AT_REMOVEDIR);
        }
    }
    if (out.status != BRIG_STATUS_OK)
        fail_msg("status %s: %s", brig_status_name(out.status), out.message);
    jail_outcome_free(&out);
    jail_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_only_the_workspaces_of_the_dead_are_unmounted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_link_on_the_way_is_never_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_worker_is_reclaimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_worker_with_a_spawner_is_reclaimed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_pid_that_comes_back_finds_its_cgroup_names_free,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
