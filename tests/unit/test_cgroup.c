/* The cgroup backend against fake trees (plain directories laid out like
 * cgroupfs): detection and its errors, the limits written, usage parsed, for
 * v2 and for v1 with separate or co-mounted cpu and cpuacct, and the reclaim
 * of groups left by dead owners. test_cgroup_real.c runs this host's real
 * hierarchies. */
#include <errno.h>
#include <linux/magic.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/cgroup.h"
#include "tests/unit/dead_owner.h"
#include "tests/unit/tree.h"
#include "common/common.h"

#include "tests/unit/cgroup_fixture.h"

/* ---- fake cgroup v2 ---- */

static const char *const v2_control_files[] = {
    "cgroup.procs",    "cgroup.subtree_control",
    "cgroup.kill",     "memory.max",
    "memory.swap.max", "memory.oom.group",
    "memory.peak",     "memory.events",
    "pids.max",        "cpu.max",
    "cpu.stat",        NULL,
};

static void make_v2_tree(const struct fixture *f, const char *controllers)
{
    for (int i = 0; v2_control_files[i]; i++)
        put(f, v2_control_files[i], "");
    put(f, "cgroup.controllers", controllers);
}

static void test_v2_detect_moves_worker_and_enables_controllers(void **state)
{
    struct fixture *f = *state;
    char pid[24];
    make_v2_tree(f, "cpuset cpu io memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    assert_string_equal(cgroup_backend_version(f->backend), "v2");
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    assert_string_equal(slurp(f, "brig-worker/cgroup.procs"), pid);
    assert_string_equal(slurp(f, "cgroup.subtree_control"), "+memory +pids +cpu");
    assert_string_equal(slurp(f, "brig/cgroup.subtree_control"), "+memory +pids +cpu");
}

static void test_v2_detect_with_controllers_enabled_stays(void **state)
{
    struct fixture *f = *state;
    make_v2_tree(f, "cpu memory pids\n");
    put(f, "cgroup.subtree_control", "cpu memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    assert_false(exists(f, "brig-worker"));
    assert_string_equal(slurp(f, "brig/cgroup.subtree_control"), "+memory +pids +cpu");
}

static void test_v2_create_writes_limits(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 500);
    struct jail_cgroup *cg;
    make_v2_tree(f, "cpuset cpu io memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "j1", &l, &cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "brig/j1/memory.max"), "67108864");
    assert_string_equal(slurp(f, "brig/j1/memory.swap.max"), "0");
    assert_string_equal(slurp(f, "brig/j1/memory.oom.group"), "1");
    assert_string_equal(slurp(f, "brig/j1/pids.max"), "32");
    assert_string_equal(slurp(f, "brig/j1/cpu.max"), "50000 100000");
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
    assert_false(exists(f, "brig/j1"));
}

static void test_v2_no_quota_leaves_cpu_max(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(MiB, 4, 0);
    struct jail_cgroup *cg;
    make_v2_tree(f, "cpu memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "j", &l, &cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "brig/j/cpu.max"), "");
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

/* An older kernel: no swap accounting, no memory.oom.group, no memory.peak,
 * no cgroup.kill. */
static void test_v2_optional_files_absent(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(8 * MiB, 16, 0);
    struct jail_cgroup *cg;
    struct cgroup_usage usage;
    make_v2_tree(f, "memory pids\n");
    char path[128];
    const char *optional[] = {"memory.swap.max", "memory.oom.group", "memory.peak", "cgroup.kill"};
    for (size_t i = 0; i < ARRAY_SIZE(optional); i++) {
        snprintf(path, sizeof path, "%s/%s", f->root, optional[i]);
        assert_int_equal(unlink(path), 0);
    }
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "old", &l, &cg, f->err, sizeof f->err));
    assert_false(exists(f, "brig/old/memory.swap.max"));
    assert_string_equal(slurp(f, "brig/old/memory.max"), "8388608");
    put(f, "brig/old/cpu.stat", "usage_usec 7\n");
    put(f, "brig/old/memory.events", "oom 0\noom_kill 0\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_int_equal(usage.peak_memory_bytes, 0);
    assert_int_equal(usage.cpu_us, 7);
    OK(f, jail_cgroup_kill(cg, f->err, sizeof f->err));
    assert_false(exists(f, "brig/old/cgroup.kill"));
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

static void test_v2_usage_parsed(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 0);
    struct jail_cgroup *cg;
    struct cgroup_usage usage;
    make_v2_tree(f, "cpu memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "u", &l, &cg, f->err, sizeof f->err));
    put(f, "brig/u/cpu.stat", "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\n");
    put(f, "brig/u/memory.peak", "5242880\n");
    put(f, "brig/u/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 1\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_int_equal(usage.cpu_us, 1234567);
    assert_int_equal(usage.peak_memory_bytes, 5242880);
    assert_true(usage.oom_killed);
    put(f, "brig/u/memory.events", "low 0\nhigh 0\nmax 12\noom 0\noom_kill 0\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_false(usage.oom_killed);
    put(f, "brig/u/cpu.stat", "user_usec 1\n");
    assert_int_equal(jail_cgroup_usage(cg, &usage), -1);
    assert_int_equal(errno, ENODATA);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

static void test_v2_attach_and_kill(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 0);
    struct jail_cgroup *cg;
    char text[24];
    pid_t child = idle_child();
    make_v2_tree(f, "memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "a", &l, &cg, f->err, sizeof f->err));
    assert_true(jail_cgroup_empty(cg));
    OK(f, jail_cgroup_attach(cg, child, f->err, sizeof f->err));
    snprintf(text, sizeof text, "%d", (int)child);
    assert_string_equal(slurp(f, "brig/a/cgroup.procs"), text);
    assert_false(jail_cgroup_empty(cg));
    /* The fake tree cannot forget the pid as the kernel does when it dies. */
    put(f, "brig/a/cgroup.procs", "");
    OK(f, jail_cgroup_kill(cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "brig/a/cgroup.kill"), "1");
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
    assert_false(exists(f, "brig/a"));
    reap(child);
}

static void test_v2_detect_without_memory(void **state)
{
    struct fixture *f = *state;
    make_v2_tree(f, "cpuset cpu io pids\n");
    assert_int_equal(cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err), -1);
    assert_null(f->backend);
    assert_contains(f->err, "memory controller");
    assert_contains(f->err, "cpuset cpu io pids");
}

static void test_v2_detect_without_pids(void **state)
{
    struct fixture *f = *state;
    make_v2_tree(f, "cpu memory\n");
    assert_int_equal(cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, "pids controller");
}

static void test_v2_without_cpu_refuses_quota(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 1000);
    struct jail_cgroup *cg;
    make_v2_tree(f, "memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "brig/cgroup.subtree_control"), "+memory +pids");
    assert_int_equal(jail_cgroup_create(f->backend, "q", &l, &cg, f->err, sizeof f->err), -1);
    assert_null(cg);
    assert_contains(f->err, "cpu_millis");
    assert_contains(f->err, "no cpu controller");
    assert_false(exists(f, "brig/q"));
    l.cpu_millis = 0;
    OK(f, jail_cgroup_create(f->backend, "q", &l, &cg, f->err, sizeof f->err));
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct jail_limits good = limits(MiB, 4, 100), l;
    struct jail_cgroup *cg;
    make_v2_tree(f, "cpu memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    const char *names[] = {"", ".", "..", "a/b", "../up"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_int_equal(
            jail_cgroup_create(f->backend, names[i], &good, &cg, f->err, sizeof f->err), -1);
        assert_contains(f->err, "name");
    }
    l = good, l.memory_bytes = 0;
    assert_int_equal(jail_cgroup_create(f->backend, "x", &l, &cg, f->err, sizeof f->err), -1);
    assert_contains(f->err, "memory_bytes");
    l = good, l.pids = 0;
    assert_int_equal(jail_cgroup_create(f->backend, "x", &l, &cg, f->err, sizeof f->err), -1);
    assert_contains(f->err, "limits.pids");
    l = good, l.cpu_millis = 5;
    assert_int_equal(jail_cgroup_create(f->backend, "x", &l, &cg, f->err, sizeof f->err), -1);
    assert_contains(f->err, "cpu_millis 5");
    assert_false(exists(f, "brig/x"));
}

static void test_duplicate_name(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(MiB, 4, 0);
    struct jail_cgroup *first, *second;
    make_v2_tree(f, "memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "same", &l, &first, f->err, sizeof f->err));
    assert_int_equal(jail_cgroup_create(f->backend, "same", &l, &second, f->err, sizeof f->err),
                     -1);
    assert_contains(f->err, "brig/same");
    assert_contains(f->err, strerror(EEXIST));
    assert_true(exists(f, "brig/same"));
    OK(f, jail_cgroup_destroy(first, f->err, sizeof f->err));
}

static void test_missing_root(void **state)
{
    struct fixture *f = *state;
    char root[128];
    snprintf(root, sizeof root, "%s/nowhere", f->root);
    assert_int_equal(cgroup_backend_detect(root, &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, root);
    assert_contains(f->err, strerror(ENOENT));
}

/* ---- fake cgroup v1 ---- */

enum v1_layout { V1_SEPARATE, V1_COMOUNTED, V1_NO_MEMSW, V1_NO_CPU, V1_NO_PIDS, V1_NO_CPUACCT };

static void make_v1_tree(const struct fixture *f, enum v1_layout layout)
{
    make_dir(f, "memory");
    put(f, "memory/cgroup.procs", "");
    put(f, "memory/memory.limit_in_bytes", "");
    if (layout != V1_NO_MEMSW)
        put(f, "memory/memory.memsw.limit_in_bytes", "");
    put(f, "memory/memory.swappiness", "");
    put(f, "memory/memory.max_usage_in_bytes", "");
    put(f, "memory/memory.oom_control", "");
    put(f, "memory/memory.failcnt", "");
    if (layout != V1_NO_PIDS) {
        make_dir(f, "pids");
        put(f, "pids/cgroup.procs", "");
        put(f, "pids/pids.max", "");
    }
    const char *cpuacct = layout == V1_COMOUNTED ? "cpu,cpuacct" : "cpuacct";
    const char *cpu = layout == V1_COMOUNTED ? "cpu,cpuacct" : "cpu";
    char rel[64];
    if (layout != V1_NO_CPUACCT) {
        make_dir(f, cpuacct);
        snprintf(rel, sizeof rel, "%s/cgroup.procs", cpuacct);
        put(f, rel, "");
        snprintf(rel, sizeof rel, "%s/cpuacct.usage", cpuacct);
        put(f, rel, "");
    }
    if (layout != V1_NO_CPU) {
        if (layout != V1_COMOUNTED)
            make_dir(f, cpu);
        snprintf(rel, sizeof rel, "%s/cgroup.procs", cpu);
        put(f, rel, "");
        snprintf(rel, sizeof rel, "%s/cpu.cfs_period_us", cpu);
        put(f, rel, "");
        snprintf(rel, sizeof rel, "%s/cpu.cfs_quota_us", cpu);
        put(f, rel, "");
    }
    if (layout == V1_COMOUNTED) {
        char path[128];
        snprintf(path, sizeof path, "%s/cpu", f->root);
        assert_int_equal(symlink("cpu,cpuacct", path), 0);
        snprintf(path, sizeof path, "%s/cpuacct", f->root);
        assert_int_equal(symlink("cpu,cpuacct", path), 0);
    }
}

static void test_v1_detect_and_limits(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 250);
    struct jail_cgroup *cg;
    make_v1_tree(f, V1_SEPARATE);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    assert_string_equal(cgroup_backend_version(f->backend), "v1");
    OK(f, jail_cgroup_create(f->backend, "j", &l, &cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "memory/brig/j/memory.limit_in_bytes"), "67108864");
    assert_string_equal(slurp(f, "memory/brig/j/memory.memsw.limit_in_bytes"), "67108864");
    assert_string_equal(slurp(f, "memory/brig/j/memory.swappiness"), "");
    assert_string_equal(slurp(f, "pids/brig/j/pids.max"), "32");
    assert_string_equal(slurp(f, "cpu/brig/j/cpu.cfs_period_us"), "100000");
    assert_string_equal(slurp(f, "cpu/brig/j/cpu.cfs_quota_us"), "25000");
    assert_true(exists(f, "cpuacct/brig/j"));

    pid_t child = idle_child();
    char text[24];
    snprintf(text, sizeof text, "%d", (int)child);
    OK(f, jail_cgroup_attach(cg, child, f->err, sizeof f->err));
    const char *procs[] = {"memory", "pids", "cpuacct", "cpu"};
    char rel[64];
    for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
        snprintf(rel, sizeof rel, "%s/brig/j/cgroup.procs", procs[i]);
        assert_string_equal(slurp(f, rel), text);
        put(f, rel, "");
    }
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
    for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
        snprintf(rel, sizeof rel, "%s/brig/j", procs[i]);
        assert_false(exists(f, rel));
    }
    reap(child);
}

/* cpu and cpuacct as one hierarchy: one group, entered and removed once. */
static void test_v1_comounted_cpu_cpuacct(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(64 * MiB, 32, 2000);
    struct jail_cgroup *cg;
    make_v1_tree(f, V1_COMOUNTED);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "c", &l, &cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "cpu,cpuacct/brig/c/cpu.cfs_quota_us"), "200000");
    put(f, "cpu,cpuacct/brig/c/cpuacct.usage", "2500000000\n");
    put(f, "memory/brig/c/memory.max_usage_in_bytes", "1048576\n");
    put(f, "memory/brig/c/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    struct cgroup_usage usage;
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_int_equal(usage.cpu_us, 2500000);
    assert_int_equal(usage.peak_memory_bytes, 1048576);
    assert_false(usage.oom_killed);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
    assert_false(exists(f, "cpu,cpuacct/brig/c"));
}

static void test_v1_without_memsw_sets_swappiness(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(16 * MiB, 8, 0);
    struct jail_cgroup *cg;
    make_v1_tree(f, V1_NO_MEMSW);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "s", &l, &cg, f->err, sizeof f->err));
    assert_string_equal(slurp(f, "memory/brig/s/memory.limit_in_bytes"), "16777216");
    assert_false(exists(f, "memory/brig/s/memory.memsw.limit_in_bytes"));
    assert_string_equal(slurp(f, "memory/brig/s/memory.swappiness"), "0");
    assert_string_equal(slurp(f, "cpu/brig/s/cpu.cfs_quota_us"), "");
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

static void test_v1_oom_detection(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(16 * MiB, 8, 0);
    struct jail_cgroup *cg;
    struct cgroup_usage usage;
    make_v1_tree(f, V1_SEPARATE);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, "o", &l, &cg, f->err, sizeof f->err));
    put(f, "cpuacct/brig/o/cpuacct.usage", "999\n");
    put(f, "memory/brig/o/memory.max_usage_in_bytes", "16777216\n");
    put(f, "memory/brig/o/memory.failcnt", "0\n");
    put(f, "memory/brig/o/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_true(usage.oom_killed);
    assert_int_equal(usage.cpu_us, 0);
    /* Before 4.13 no oom_kill line: under_oom, then failcnt. */
    put(f, "memory/brig/o/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_false(usage.oom_killed);
    put(f, "memory/brig/o/memory.failcnt", "3\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_true(usage.oom_killed);
    put(f, "memory/brig/o/memory.failcnt", "0\n");
    put(f, "memory/brig/o/memory.oom_control", "oom_kill_disable 0\nunder_oom 1\n");
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_true(usage.oom_killed);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

static void test_v1_without_pids(void **state)
{
    struct fixture *f = *state;
    make_v1_tree(f, V1_NO_PIDS);
    assert_int_equal(cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, "no cgroup v1 pids hierarchy");
    assert_contains(f->err, f->root);
}

static void test_v1_without_cpuacct(void **state)
{
    struct fixture *f = *state;
    make_v1_tree(f, V1_NO_CPUACCT);
    assert_int_equal(cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, "no cgroup v1 cpuacct hierarchy");
}

/* A directory where nothing is mounted is no hierarchy. */
static void test_v1_empty_memory_dir(void **state)
{
    struct fixture *f = *state;
    make_v1_tree(f, V1_SEPARATE);
    char path[128];
    snprintf(path, sizeof path, "%s/memory/cgroup.procs", f->root);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, "no cgroup v1 memory hierarchy");
}

static void test_v1_without_cpu_refuses_quota(void **state)
{
    struct fixture *f = *state;
    struct jail_limits l = limits(16 * MiB, 8, 500);
    struct jail_cgroup *cg;
    make_v1_tree(f, V1_NO_CPU);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    assert_int_equal(jail_cgroup_create(f->backend, "n", &l, &cg, f->err, sizeof f->err), -1);
    assert_contains(f->err, "no cpu controller");
    l.cpu_millis = 0;
    OK(f, jail_cgroup_create(f->backend, "n", &l, &cg, f->err, sizeof f->err));
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

/* ---- reclaiming the groups of dead processes ---- */

/* brig/<owner><suffix> in dir, with a control file as a jail's has. */
static void owned_group(const struct fixture *f, const char *dir, const struct owner *owner,
                        const char *suffix, char *name, size_t len)
{
    char text[48], rel[256];
    owner_format(owner, text, sizeof text);
    snprintf(name, len, "%s%s", text, suffix);
    snprintf(rel, sizeof rel, "%s/%s", dir, name);
    make_dir(f, rel);
    snprintf(rel, sizeof rel, "%s/%s/pids.max", dir, name);
    put(f, rel, "64");
}

static void test_reclaim_removes_only_the_empty_groups_of_the_dead(void **state)
{
    struct fixture *f = *state;
    make_v2_tree(f, "cpu memory pids\n");
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    struct owner dead = dead_owner(), self, live, reused, legacy_dead, legacy_live;
    pid_t child = idle_child();
    assert_int_equal(owner_of(child, &live), 0);
    OK(f, owner_self(&self, f->err, sizeof f->err));
    /* A live pid that names another process than the one it once was. */
    reused = (struct owner){.pid = live.pid, .start = live.start + 1};
    char gone[3][64], kept[4][64], in_use[64], rel[256];
    owned_group(f, "brig", &dead, "-1", gone[0], sizeof gone[0]);
    owned_group(f, "brig", &reused, "-2", gone[1], sizeof gone[1]);
    /* Before start times were in the names: "<pid>-<n>". */
    legacy_dead = (struct owner){.pid = dead.pid, .start = 3};
    owned_group(f, "brig", &legacy_dead, "", gone[2], sizeof gone[2]);
    owned_group(f, "brig", &live, "-4", kept[0], sizeof kept[0]);
    owned_group(f, "brig", &self, "-5", kept[1], sizeof kept[1]);
    legacy_live = (struct owner){.pid = live.pid, .start = 6};
    owned_group(f, "brig", &legacy_live, "", kept[2], sizeof kept[2]);
    snprintf(kept[3], sizeof kept[3], "%d-not-a-jail", (int)dead.pid);
    snprintf(rel, sizeof rel, "brig/%s", kept[3]);
    make_dir(f, rel);
    /* Dead, but with a child group: rmdir refuses it, and that is said. */
    owned_group(f, "brig", &dead, "-7", in_use, sizeof in_use);
    snprintf(rel, sizeof rel, "brig/%s/child", in_use);
    make_dir(f, rel);
    /* A link in brig's group named like a dead jail's is not a group. */
    char at[256], target[256], link_name[64];
    make_dir(f, "elsewhere");
    owned_group(f, "elsewhere", &dead, "-8", link_name, sizeof link_name);
    snprintf(at, sizeof at, "%s/brig/%s-9", f->root, link_name);
    snprintf(target, sizeof target, "%s/elsewhere/%s", f->root, link_name);
    assert_int_equal(symlink(target, at), 0);

    size_t removed = 0, failed = 0;
    cgroup_reclaim(f->backend, &removed, &failed, f->err, sizeof f->err);
    reap(child);
    assert_int_equal(removed, 3);
    assert_int_equal(failed, 1);
    assert_contains(f->err, in_use);
    assert_contains(f->err, strerror(ENOTEMPTY));
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "brig/%.63s", gone[i]);
        if (exists(f, rel))
            fail_msg("%s of a dead process is still there", rel);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "brig/%.63s", kept[i]);
        if (!exists(f, rel))
            fail_msg("%s was removed", rel);
    }
    snprintf(rel, sizeof rel, "elsewhere/%s/pids.max", link_name);
    assert_true(exists(f, rel));
}

/* On v1 a jail has a group in every hierarchy: all of them go. */
static void test_reclaim_covers_every_v1_hierarchy(void **state)
{
    struct fixture *f = *state;
    make_v1_tree(f, V1_SEPARATE);
    OK(f, cgroup_backend_detect(f->root, &f->backend, f->err, sizeof f->err));
    static const char *const hierarchies[] = {"memory", "pids", "cpuacct", "cpu"};
    struct owner dead = dead_owner(), self;
    OK(f, owner_self(&self, f->err, sizeof f->err));
    char gone[64], kept[64], dir[64], rel[256];
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/brig", hierarchies[i]);
        owned_group(f, dir, &dead, "-1", gone, sizeof gone);
        owned_group(f, dir, &self, "-2", kept, sizeof kept);
    }
    size_t removed = 0, failed = 0;
    cgroup_reclaim(f->backend, &removed, &failed, f->err, sizeof f->err);
    assert_int_equal(removed, 4);
    assert_int_equal(failed, 0);
    for (int i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "%s/brig/%s", hierarchies[i], gone);
        assert_false(exists(f, rel));
        snprintf(rel, sizeof rel, "%s/brig/%s", hierarchies[i], kept);
        assert_true(exists(f, rel));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v2_detect_moves_worker_and_enables_controllers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_v2_detect_with_controllers_enabled_stays, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_v2_create_writes_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_no_quota_leaves_cpu_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_optional_files_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_usage_parsed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_attach_and_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_detect_without_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_detect_without_pids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_without_cpu_refuses_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_detect_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_comounted_cpu_cpuacct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_without_memsw_sets_swappiness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_oom_detection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_without_pids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_without_cpuacct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_empty_memory_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_without_cpu_refuses_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_removes_only_the_empty_groups_of_the_dead,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim_covers_every_v1_hierarchy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
