/* The cgroup backend against this host's real cgroup v1 hierarchies (root
 * only): a jail's whole life, an OOM kill, the pids limit, many jails at once
 * from several threads, a subtree mount, and detection errors. */
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
        cmocka_unit_test_setup_teardown(test_real_lifecycle, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_oom, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_pids_limit, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_threads, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_subtree_mount, real_setup, real_teardown),
        cmocka_unit_test_setup_teardown(test_real_detect_errors, real_setup, real_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
