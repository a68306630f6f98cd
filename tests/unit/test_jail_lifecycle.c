/* The jail, for real: workspaces shared by jails, the policy, and that
 * nothing of 200 jails outlives them (processes, cgroups, mounts, network
 * namespaces). Needs root, user namespaces and cgroups. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/jail_host.h"
#include "sandbox/sandbox.h"
#include "tests/unit/tree.h"
#include "tests/unit/jail_fixture.h"

/* ---- workspaces ---- */

static bool state_dir_has_mounts(void)
{
    FILE *file = fopen("/proc/self/mountinfo", "r");
    assert_non_null(file);
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof(line), file) != NULL) {
        char mount_point[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mount_point) == 1 &&
            strncmp(mount_point, state_dir, strlen(state_dir)) == 0)
            found = true;
    }
    fclose(file);
    return found;
}

static void test_workspace_is_shared_by_jails(void **state)
{
    (void)state;
    struct jail_workspace *ws;
    char err[256];
    assert_int_equal(jail_workspace_new(ctx, 16 * MIB, &ws, err, sizeof(err)), 0);
    const char source[] = "print('hello from', __file__)\n";
    assert_int_equal(jail_workspace_write_file(ws, "src/pkg/main.py", source, strlen(source), 0644,
                                               err, sizeof(err)),
                     0);
    assert_true(jail_workspace_dirfd(ws) >= 0);
    assert_true(state_dir_has_mounts());

    /* A first jail runs the file and leaves a symlink and a file behind. */
    const char *argv[] = {
        "/bin/sh", "-c",
        "/usr/bin/python3 src/pkg/main.py && stat -c '%u %a' src/pkg/main.py src && "
        "ln -s /etc link && echo made > made",
        NULL};
    struct jail_spec spec = spec_for(argv);
    spec.workspace = ws;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "hello from /work/src/pkg/main.py\n1000 644\n1000 755\n");
    jail_outcome_free(&out);

    /* The host refuses to follow what the job made, and bad paths. */
    assert_int_equal(jail_workspace_write_file(ws, "link/x", "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_int_equal(jail_workspace_write_file(ws, "link", "x", 1, 0644, err, sizeof(err)), -1);
    assert_int_equal(jail_workspace_write_file(ws, "made", "x", 1, 0644, err, sizeof(err)), -1);
    assert_int_equal(jail_workspace_write_file(ws, "../x", "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ".."));
    assert_int_equal(jail_workspace_write_file(ws, "/etc/x", "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "absolute"));
    assert_int_equal(jail_workspace_write_file(ws, "a//b", "x", 1, 0644, err, sizeof(err)), -1);
    assert_int_equal(jail_workspace_write_file(ws, "x", "x", 1, 04755, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mode"));
    struct stat st;
    assert_int_equal(lstat("/etc/x", &st), -1);

    /* Nor does the jail, when a bind lands in the workspace. */
    struct jail_bind through_link = {.src = "/usr/share", .dst = "/work/link/x"};
    const char *true_argv[] = {"/bin/true", NULL};
    spec = spec_for(true_argv);
    spec.workspace = ws;
    spec.binds = &through_link;
    spec.n_binds = 1;
    out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_SETUP_ERROR);
    assert_string_equal(out.message, "bind /usr/share on /work/link/x: Not a directory");
    jail_outcome_free(&out);

    /* A second jail on the same workspace sees what the first left. */
    const char *argv2[] = {"cat", "made", NULL};
    spec = spec_for(argv2);
    spec.workspace = ws;
    out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "made\n");
    jail_outcome_free(&out);

    jail_workspace_free(ws);
    assert_false(state_dir_has_mounts());
}

static void test_disk_limit_of_fresh_workspace(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c", "head -c 2000000 /dev/zero > /work/big || echo full",
                          NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.disk_bytes = 1 * MIB;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "full\n");
    jail_outcome_free(&out);
}

/* ---- policy ---- */

static void test_policy_hash_and_cgroup_version(void **state)
{
    (void)state;
    const char *hash = jail_policy_hash(ctx);
    assert_int_equal(strlen(hash), 64);
    for (size_t i = 0; i < 64; i++)
        assert_true(isdigit((unsigned char)hash[i]) || (hash[i] >= 'a' && hash[i] <= 'f'));
    const char *version = jail_cgroup_version(ctx);
    assert_true(strcmp(version, "v1") == 0 || strcmp(version, "v2") == 0);
}

/* ---- nothing outlives a jail ---- */

/* Processes whose real or effective uid is in [first, end), printed. */
static unsigned processes_with_uids(unsigned first, unsigned end)
{
    DIR *proc = opendir("/proc");
    assert_non_null(proc);
    unsigned found = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        if (!isdigit((unsigned char)entry->d_name[0]))
            continue;
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/%s/status", entry->d_name);
        FILE *file = fopen(path, "r");
        if (file == NULL)
            continue;
        while (fgets(line, sizeof(line), file) != NULL) {
            unsigned real, effective;
            if (sscanf(line, "Uid: %u %u", &real, &effective) == 2) {
                if ((real >= first && real < end) || (effective >= first && effective < end)) {
                    fprintf(stderr, "left behind: pid %s, uid %u\n", entry->d_name, real);
                    found++;
                }
                break;
            }
        }
        fclose(file);
    }
    closedir(proc);
    return found;
}

/* Directories named <prefix>* in a directory named "brig", anywhere below dir. */
static unsigned count_jail_groups(const char *dir, const char *prefix, bool in_brig, int depth)
{
    DIR *d = opendir(dir);
    if (d == NULL || depth > 8) {
        if (d != NULL)
            closedir(d);
        return 0;
    }
    unsigned found = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_type != DT_DIR || entry->d_name[0] == '.')
            continue;
        if (in_brig && strncmp(entry->d_name, prefix, strlen(prefix)) == 0)
            found++;
        char child[4096];
        snprintf(child, sizeof(child), "%s/%s", dir, entry->d_name);
        found += count_jail_groups(child, prefix, strcmp(entry->d_name, "brig") == 0, depth + 1);
    }
    closedir(d);
    return found;
}

/* Cgroups of this process's jails, named <pid>-<start>-<n>, in every hierarchy. */
static unsigned jail_cgroups_left(void)
{
    FILE *mounts = fopen("/proc/self/mountinfo", "r");
    assert_non_null(mounts);
    char line[4096], prefix[32];
    snprintf(prefix, sizeof(prefix), "%d-", (int)getpid());
    unsigned found = 0;
    while (fgets(line, sizeof(line), mounts) != NULL) {
        char mount_point[1024];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mount_point) != 1)
            continue;
        if (strncmp(sep, " - cgroup ", 10) == 0 || strncmp(sep, " - cgroup2 ", 11) == 0)
            found += count_jail_groups(mount_point, prefix, false, 0);
    }
    fclose(mounts);
    return found;
}

static void test_nothing_outlives_200_jails(void **state)
{
    (void)state;
    const char *scripts[] = {
        "exit 0",
        "sleep 100 & sleep 100 & exit 0",
        "(sleep 100 &) ; echo detached",
        "sh -c 'sleep 100 & exec sleep 100' & exit 7",
    };
    /* Other brig processes on this host may be running jails right now, in
     * chunks of 1024 host uids of their own: only this context's chunk counts. */
    struct jail_outcome probe = run_sh("cat /proc/self/uid_map");
    unsigned inside, host, count;
    assert_int_equal(sscanf(probe.out.data, "%u %u %u", &inside, &host, &count), 3);
    jail_outcome_free(&probe);
    unsigned chunk = JAIL_UID_FIRST + (host - JAIL_UID_FIRST) / 1024 * 1024;

    for (int i = 0; i < 200; i++) {
        struct jail_outcome out;
        if (i % 10 == 9) {
            /* Now and then a workspace of its own, made and freed around the jail. */
            struct jail_workspace *ws;
            char err[256];
            assert_int_equal(jail_workspace_new(ctx, 4 * MIB, &ws, err, sizeof(err)), 0);
            const char *argv[] = {"/bin/sh", "-c", scripts[1], NULL};
            struct jail_spec spec = spec_for(argv);
            spec.workspace = ws;
            out = run_spec(&spec);
            jail_workspace_free(ws);
        } else {
            out = run_sh(scripts[i % 4]);
        }
        if (out.status != BRIG_STATUS_OK && out.status != BRIG_STATUS_FAILED)
            fail_msg("jail %d: %s (%s)", i, brig_status_name(out.status), out.message);
        jail_outcome_free(&out);
    }
    assert_int_equal(processes_with_uids(chunk, chunk + 1024), 0);
    assert_int_equal(jail_cgroups_left(), 0);
    assert_false(state_dir_has_mounts());
}

/* The pool hands out each namespace once: every descriptor taken is held
 * open, so the kernel cannot recycle an inode number among them, and all
 * differ from each other and from the host's. */
static void test_pool_never_gives_a_namespace_twice(void **state)
{
    (void)state;
    enum { TAKEN = 24 };
    struct netns_pool *pool;
    char err[256];
    int fds[TAKEN];
    struct stat seen[TAKEN + 1];
    if (netns_pool_start(2, &pool, err, sizeof(err)) != 0)
        fail_msg("netns_pool_start: %s", err);
    for (int i = 0; i < TAKEN; i++) {
        int waited_ms = 0;
        while ((fds[i] = netns_pool_take(pool)) < 0 && waited_ms++ < 5000)
            usleep(1000);
        if (fds[i] < 0)
            fail_msg("namespace %d: none ready after 5 s", i);
        assert_int_equal(fstat(fds[i], &seen[i]), 0);
    }
    assert_int_equal(stat("/proc/self/ns/net", &seen[TAKEN]), 0);
    for (int i = 0; i < TAKEN; i++)
        for (int j = i + 1; j <= TAKEN; j++)
            if (seen[i].st_dev == seen[j].st_dev && seen[i].st_ino == seen[j].st_ino)
                fail_msg("namespaces %d and %d are the same", i, j);
    for (int i = 0; i < TAKEN; i++)
        close(fds[i]);
    netns_pool_stop(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspace_is_shared_by_jails),
        cmocka_unit_test(test_disk_limit_of_fresh_workspace),
        cmocka_unit_test(test_policy_hash_and_cgroup_version),
        cmocka_unit_test(test_nothing_outlives_200_jails),
        cmocka_unit_test(test_pool_never_gives_a_namespace_twice),
    };
    return cmocka_run_group_tests(tests, setup_context, teardown_context);
}
