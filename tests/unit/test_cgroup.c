/* The cgroup backend. Against fake trees (plain directories laid out like
 * cgroupfs): detection and its errors, the limits written, usage parsed, for
 * v2 and for v1 with separate or co-mounted cpu and cpuacct. Against this
 * host's real cgroup v1 hierarchies (root only): a jail's whole life, an OOM
 * kill, the pids limit, and many jails at once from several threads. */
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

#define MiB (1024 * 1024)

struct fixture {
    char root[64];
    char err[512];
    struct cgroup_backend *backend;
};

/* Fails the test with the error sentence when call does not return 0. */
#define OK(f, call)                                                                                \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_msg("%s: %s", #call, (f)->err);                                                   \
    } while (0)

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->root, "/tmp/brig-test-cgroup-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cgroup_backend_free(f->backend);
    assert_int_equal(remove_tree(f->root), 0);
    free(f);
    return 0;
}

static FILE *must_open(const char *path, const char *mode)
{
    FILE *file = fopen(path, mode);
    if (!file)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    return file;
}

static void put(const struct fixture *f, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    FILE *file = must_open(path, "w");
    fputs(content, file);
    assert_int_equal(fclose(file), 0);
}

static void make_dir(const struct fixture *f, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* The content of root/rel, in a buffer valid until the next call. */
static const char *slurp(const struct fixture *f, const char *rel)
{
    static char content[1024];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    FILE *file = must_open(path, "r");
    size_t n = fread(content, 1, sizeof content - 1, file);
    content[n] = '\0';
    fclose(file);
    return content;
}

static bool exists(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    return lstat(path, &st) == 0;
}

static struct jail_limits limits(uint64_t memory_bytes, uint64_t pids, uint32_t cpu_millis)
{
    struct jail_limits l;
    memset(&l, 0, sizeof l);
    l.memory_bytes = memory_bytes;
    l.pids = pids;
    l.cpu_millis = cpu_millis;
    return l;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" does not mention \"%s\"", text, part);
}

/* A child that only waits to be killed: a real pid for attach tests, so
 * that no other process is ever signalled by mistake. */
static pid_t idle_child(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

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

/* ---- this host's real cgroup v1 ---- */

static const char *const v1_controllers[] = {"memory", "pids", "cpuacct", "cpu"};
#define N_V1 ARRAY_SIZE(v1_controllers)

static bool real_v1_host(void)
{
    struct statfs fs;
    if (getuid() != 0) {
        fprintf(stderr, "skipped: the real cgroup tests need root\n");
        return false;
    }
    if (statfs("/sys/fs/cgroup/memory", &fs) != 0 || fs.f_type != CGROUP_SUPER_MAGIC) {
        fprintf(stderr, "skipped: this host has no cgroup v1 memory hierarchy\n");
        return false;
    }
    return true;
}

static int real_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int real_teardown(void **state)
{
    struct fixture *f = *state;
    cgroup_backend_free(f->backend);
    free(f);
    return 0;
}

/* Name unique across test processes sharing the host's brig groups. */
static void jail_name(char *name, size_t size, const char *what)
{
    snprintf(name, size, "test-%d-%s", (int)getpid(), what);
}

/* A child that runs body once released through *release. */
static pid_t held_child(int *release, void (*body)(void *), void *arg)
{
    int gate[2];
    assert_int_equal(pipe(gate), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char go;
        close(gate[1]);
        if (read(gate[0], &go, 1) != 1)
            _exit(120);
        body(arg);
        _exit(0);
    }
    close(gate[0]);
    *release = gate[1];
    return pid;
}

static void release(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

/* The directory of pid's cgroup in each v1 hierarchy, from /proc/<pid>/cgroup. */
static void cgroup_dirs_of(pid_t pid, char dirs[N_V1][512])
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    for (size_t i = 0; i < N_V1; i++)
        dirs[i][0] = '\0';
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':') + 1;
        char *own = strchr(controllers, ':');
        *own++ = '\0';
        for (size_t i = 0; i < N_V1; i++) {
            char *save, *copy = strdup(controllers);
            for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save))
                if (strcmp(c, v1_controllers[i]) == 0)
                    snprintf(dirs[i], sizeof dirs[i], "/sys/fs/cgroup/%s%s", v1_controllers[i],
                             own);
            free(copy);
        }
    }
    fclose(file);
}

static void read_text(const char *dir, const char *file, char *out, size_t size)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *in = must_open(path, "r");
    size_t n = fread(out, 1, size - 1, in);
    out[n] = '\0';
    fclose(in);
}

static void burn_cpu(void *arg)
{
    int done = *(int *)arg;
    struct timespec used;
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &used);
    while (used.tv_sec == 0 && used.tv_nsec < 300 * 1000000L);
    if (write(done, "x", 1) != 1)
        _exit(121);
    for (;;)
        pause();
}

static void test_real_lifecycle(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    struct jail_limits l = limits(64 * MiB, 64, 500);
    struct jail_cgroup *cg;
    struct cgroup_usage usage;
    char name[64], dirs[N_V1][512], text[64], suffix[80];
    int done[2], gate, status;
    jail_name(name, sizeof name, "life");
    OK(f, cgroup_backend_detect(NULL, &f->backend, f->err, sizeof f->err));
    assert_string_equal(cgroup_backend_version(f->backend), "v1");
    OK(f, jail_cgroup_create(f->backend, name, &l, &cg, f->err, sizeof f->err));
    assert_int_equal(pipe(done), 0);
    pid_t child = held_child(&gate, burn_cpu, &done[1]);
    close(done[1]);
    OK(f, jail_cgroup_attach(cg, child, f->err, sizeof f->err));
    release(gate);

    cgroup_dirs_of(child, dirs);
    snprintf(suffix, sizeof suffix, "/brig/%s", name);
    snprintf(text, sizeof text, "%d\n", (int)child);
    for (size_t i = 0; i < N_V1; i++) {
        size_t len = strlen(dirs[i]);
        if (len < strlen(suffix) || strcmp(dirs[i] + len - strlen(suffix), suffix) != 0)
            fail_msg("the child's %s cgroup is %s, not brig's", v1_controllers[i], dirs[i]);
        char procs[64];
        read_text(dirs[i], "cgroup.procs", procs, sizeof procs);
        assert_string_equal(procs, text);
    }
    read_text(dirs[0], "memory.limit_in_bytes", text, sizeof text);
    assert_string_equal(text, "67108864\n");
    read_text(dirs[0], "memory.memsw.limit_in_bytes", text, sizeof text);
    assert_string_equal(text, "67108864\n");
    read_text(dirs[1], "pids.max", text, sizeof text);
    assert_string_equal(text, "64\n");
    read_text(dirs[3], "cpu.cfs_quota_us", text, sizeof text);
    assert_string_equal(text, "50000\n");

    char byte;
    assert_int_equal(read(done[0], &byte, 1), 1);
    close(done[0]);
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_true(usage.cpu_us >= 250000);
    assert_true(usage.peak_memory_bytes > 0);
    assert_false(usage.oom_killed);
    assert_false(jail_cgroup_empty(cg));

    OK(f, jail_cgroup_kill(cg, f->err, sizeof f->err));
    assert_true(jail_cgroup_empty(cg));
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
    for (size_t i = 0; i < N_V1; i++) {
        struct stat st;
        assert_int_equal(stat(dirs[i], &st), -1);
        assert_int_equal(errno, ENOENT);
    }
}

static void allocate_too_much(void *arg)
{
    (void)arg;
    for (int i = 0; i < 512; i++) {
        char *chunk = malloc(MiB);
        if (!chunk)
            _exit(122);
        memset(chunk, i, MiB);
    }
}

static void test_real_oom(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    struct jail_limits l = limits(32 * MiB, 16, 0);
    struct jail_cgroup *cg;
    struct cgroup_usage usage;
    char name[64];
    int gate, status;
    jail_name(name, sizeof name, "oom");
    OK(f, cgroup_backend_detect(NULL, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, name, &l, &cg, f->err, sizeof f->err));
    pid_t child = held_child(&gate, allocate_too_much, NULL);
    OK(f, jail_cgroup_attach(cg, child, f->err, sizeof f->err));
    release(gate);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    OK(f, jail_cgroup_usage(cg, &usage));
    assert_true(usage.oom_killed);
    assert_true(usage.peak_memory_bytes >= 24 * MiB);
    assert_true(usage.peak_memory_bytes <= 32 * MiB);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

struct fork_report {
    int forked;
    int error;
};

/* Forks idle children until fork fails, reports how many and why. */
static void fork_until_refused(void *arg)
{
    int out = *(int *)arg;
    struct fork_report report = {0, 0};
    for (;;) {
        pid_t pid = fork();
        if (pid == 0)
            for (;;)
                pause();
        if (pid < 0) {
            report.error = errno;
            break;
        }
        report.forked++;
    }
    if (write(out, &report, sizeof report) != sizeof report)
        _exit(123);
    for (;;)
        pause();
}

static void test_real_pids_limit(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    struct jail_limits l = limits(64 * MiB, 8, 0);
    struct jail_cgroup *cg;
    struct fork_report report;
    char name[64];
    int reports[2], gate, status;
    jail_name(name, sizeof name, "pids");
    OK(f, cgroup_backend_detect(NULL, &f->backend, f->err, sizeof f->err));
    OK(f, jail_cgroup_create(f->backend, name, &l, &cg, f->err, sizeof f->err));
    assert_int_equal(pipe(reports), 0);
    pid_t child = held_child(&gate, fork_until_refused, &reports[1]);
    close(reports[1]);
    OK(f, jail_cgroup_attach(cg, child, f->err, sizeof f->err));
    release(gate);
    assert_int_equal(read(reports[0], &report, sizeof report), sizeof report);
    close(reports[0]);
    assert_int_equal(report.error, EAGAIN);
    assert_int_equal(report.forked, 7);
    OK(f, jail_cgroup_kill(cg, f->err, sizeof f->err));
    assert_true(jail_cgroup_empty(cg));
    assert_int_equal(waitpid(child, &status, 0), child);
    OK(f, jail_cgroup_destroy(cg, f->err, sizeof f->err));
}

struct thread_job {
    struct cgroup_backend *backend;
    int index;
    char err[512];
    int rc;
};

static void idle_body(void *arg)
{
    (void)arg;
    for (;;)
        pause();
}

static void *jail_cycles(void *arg)
{
    struct thread_job *job = arg;
    struct jail_limits l = limits(32 * MiB, 16, 200);
    for (int round = 0; round < 5 && job->rc == 0; round++) {
        char name[64], what[32];
        struct jail_cgroup *cg;
        int gate, status;
        snprintf(what, sizeof what, "thread%d-%d", job->index, round);
        jail_name(name, sizeof name, what);
        job->rc = jail_cgroup_create(job->backend, name, &l, &cg, job->err, sizeof job->err);
        if (job->rc < 0)
            break;
        pid_t child = held_child(&gate, idle_body, NULL);
        job->rc = jail_cgroup_attach(cg, child, job->err, sizeof job->err);
        if (write(gate, "x", 1) != 1 && job->rc == 0)
            job->rc = -1, snprintf(job->err, sizeof job->err, "cannot release the child");
        close(gate);
        if (job->rc == 0)
            job->rc = jail_cgroup_kill(cg, job->err, sizeof job->err);
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        if (jail_cgroup_destroy(cg, job->err, sizeof job->err) < 0)
            job->rc = -1;
    }
    return NULL;
}

static void test_real_threads(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    enum { THREADS = 4 };
    struct thread_job jobs[THREADS];
    pthread_t threads[THREADS];
    OK(f, cgroup_backend_detect(NULL, &f->backend, f->err, sizeof f->err));
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct thread_job){.backend = f->backend, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, jail_cycles, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    for (int i = 0; i < THREADS; i++)
        if (jobs[i].rc != 0)
            fail_msg("thread %d: %s", i, jobs[i].err);
}

/* In a child with a mount namespace of its own: root/<controller> are bind
 * mounts of the real hierarchies, memory only of the subtree memory_dir, as a
 * container without a cgroup namespace sees its own group. The jail's group
 * must land at memory_dir/brig/<name>. */
static int make_jail_through_subtree(const char *root, const char *memory_dir, char *err,
                                     size_t errlen)
{
    char source[600], target[128];
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        snprintf(err, errlen, "private mount namespace: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < N_V1; i++) {
        if (i == 0)
            snprintf(source, sizeof source, "%s", memory_dir);
        else
            snprintf(source, sizeof source, "/sys/fs/cgroup/%s", v1_controllers[i]);
        snprintf(target, sizeof target, "%s/%s", root, v1_controllers[i]);
        if (mount(source, target, NULL, MS_BIND, NULL) != 0) {
            snprintf(err, errlen, "bind %.200s: %s", source, strerror(errno));
            return -1;
        }
    }
    struct cgroup_backend *backend;
    struct jail_cgroup *cg;
    struct jail_limits l = limits(16 * MiB, 8, 0);
    char name[64];
    struct stat st;
    if (cgroup_backend_detect(root, &backend, err, errlen) != 0)
        return -1;
    jail_name(name, sizeof name, "subtree");
    int rc = jail_cgroup_create(backend, name, &l, &cg, err, errlen);
    if (rc == 0) {
        snprintf(source, sizeof source, "%s/brig/%s", memory_dir, name);
        if (stat(source, &st) != 0) {
            snprintf(err, errlen, "%.200s is missing: %s", source, strerror(errno));
            rc = -1;
        }
        if (jail_cgroup_destroy(cg, err, errlen) != 0)
            rc = -1;
    }
    cgroup_backend_free(backend);
    return rc;
}

static void test_real_subtree_mount(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    char dirs[N_V1][512], path[128];
    int report[2], status;
    cgroup_dirs_of(getpid(), dirs);
    strcpy(f->root, "/tmp/brig-test-cgroup-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    for (size_t i = 0; i < N_V1; i++) {
        snprintf(path, sizeof path, "%s/%s", f->root, v1_controllers[i]);
        assert_int_equal(mkdir(path, 0755), 0);
    }
    assert_int_equal(pipe(report), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(report[0]);
        if (make_jail_through_subtree(f->root, dirs[0], f->err, sizeof f->err) == 0)
            _exit(0);
        _exit(write(report[1], f->err, strlen(f->err)) > 0 ? 1 : 2);
    }
    close(report[1]);
    ssize_t got = read(report[0], f->err, sizeof f->err - 1);
    close(report[0]);
    f->err[got > 0 ? got : 0] = '\0';
    assert_int_equal(waitpid(child, &status, 0), child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("through a subtree mount: %s", f->err);
    for (size_t i = 0; i < N_V1; i++) {
        snprintf(path, sizeof path, "%s/%s", f->root, v1_controllers[i]);
        assert_int_equal(rmdir(path), 0);
    }
    assert_int_equal(rmdir(f->root), 0);
}

/* What this host offers besides v1, and mistakes in the root. */
static void test_real_detect_errors(void **state)
{
    struct fixture *f = *state;
    if (!real_v1_host())
        skip();
    assert_int_equal(
        cgroup_backend_detect("/sys/fs/cgroup/memory", &f->backend, f->err, sizeof f->err), -1);
    assert_contains(f->err, "single cgroup v1 hierarchy");
    struct statfs fs;
    if (statfs("/sys/fs/cgroup/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
        assert_int_equal(
            cgroup_backend_detect("/sys/fs/cgroup/unified", &f->backend, f->err, sizeof f->err),
            -1);
        assert_contains(f->err, "memory controller");
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
        cmocka_unit_test_setup_teardown(test_real_lifecycle, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_oom, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_pids_limit, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_threads, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_subtree_mount, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_detect_errors, real_setup, real_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
