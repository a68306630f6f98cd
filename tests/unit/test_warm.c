/* Warm starts, for real: jails cloned from a brig-zygote that preloaded
 * numpy. That they run the job in the preloaded interpreter, with exactly the
 * cold jail's identity and limits, that two warm jobs cannot see each other's
 * state, and what happens when the server dies. Needs root, user namespaces,
 * cgroups, and Debian's python3-numpy. */
#include <dirent.h>
#include <limits.h>
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

#include "sandbox/sandbox.h"
#include "sandbox/self_path.h"
#include "tests/unit/tree.h"

static struct jail_context *ctx;
static struct jail_server *warm;
static char state_dir[64];
static char zygote_path[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    char err[512];
    /* build/tests/test_warm -> build/bin/brig-zygote */
    if (self_relative_path("../bin/brig-zygote", zygote_path, sizeof(zygote_path), err,
                           sizeof(err)) != 0)
        return -1;
    snprintf(state_dir, sizeof(state_dir), "/tmp/brig-test-warm.XXXXXX");
    if (mkdtemp(state_dir) == NULL || chmod(state_dir, 0711) != 0)
        return -1;
    struct jail_context_config config = {.state_dir = state_dir, .max_jails = 8};
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_context_new: %s\n", err);
        return -1;
    }
    const char *preload[] = {"numpy", NULL};
    if (jail_server_start_warm(ctx, zygote_path, preload, &warm, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_server_start_warm: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jail_server_free(warm);
    jail_context_free(ctx);
    remove_tree(state_dir);
    return 0;
}

static struct jail_spec python_spec(const char *const *argv, bool warm_start)
{
    struct jail_spec spec = {.argv = argv, .warm = warm_start ? warm : NULL};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 30000;
    spec.limits.cpu_ms = 20000;
    return spec;
}

static struct jail_outcome run_python(const char *code, bool warm_start)
{
    const char *argv[] = {"python3", "-c", code, NULL};
    struct jail_spec spec = python_spec(argv, warm_start);
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    return out;
}

static void assert_ok(const struct jail_outcome *out)
{
    if (out->status != BRIG_STATUS_OK)
        fprintf(stderr, "status %s, exit %d, message \"%s\", stderr: %s\n",
                brig_status_name(out->status), out->exit_code, out->message, out->err.data);
    assert_int_equal(out->status, BRIG_STATUS_OK);
}

static void test_server_reports_its_interpreter(void **state)
{
    (void)state;
    assert_true(strncmp(jail_server_version(warm), "Python 3.", 9) == 0);
    assert_true(jail_server_alive(warm));
}

static void test_warm_job_starts_with_the_preloaded_modules(void **state)
{
    (void)state;
    const char *code = "import sys; print('numpy' in sys.modules)";
    struct jail_outcome hot = run_python(code, true);
    struct jail_outcome cold = run_python(code, false);
    assert_ok(&hot);
    assert_ok(&cold);
    assert_string_equal(hot.out.data, "True\n");
    assert_string_equal(cold.out.data, "False\n");
    jail_outcome_free(&hot);
    jail_outcome_free(&cold);
}

/* Everything the kernel says about who the job is and what it may do. */
static const char identity_code[] =
    "import os, socket\n"
    "keep = ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb',\n"
    "        'NoNewPrivs', 'Seccomp', 'Seccomp_filters')\n"
    "for line in open('/proc/self/status'):\n"
    "    if line.split(':')[0] in keep:\n"
    "        print(line.strip())\n"
    "print('pid', os.getpid(), 'ppid', os.getppid(), 'sid', os.getsid(0))\n"
    "print('host', socket.gethostname(), 'cwd', os.getcwd())\n"
    "print('fds', sorted(os.listdir('/proc/self/fd')))\n"
    "print('pids', sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
    "print('net', [n for _, n in socket.if_nameindex()])\n"
    "print('env', sorted(os.environ))\n"
    "for l in open('/proc/self/limits'):\n"
    "    print(l.rstrip())\n"
    "print('mounts', sorted(l.split()[4] for l in open('/proc/self/mountinfo')))\n"
    "print('cgroup', open('/proc/self/cgroup').read().strip())\n";

static void test_warm_identity_and_limits_are_the_cold_ones(void **state)
{
    (void)state;
    struct jail_outcome hot = run_python(identity_code, true);
    struct jail_outcome cold = run_python(identity_code, false);
    assert_ok(&hot);
    assert_ok(&cold);
    assert_non_null(strstr(hot.out.data, "Seccomp:\t2"));
    assert_non_null(strstr(hot.out.data, "NoNewPrivs:\t1"));
    assert_non_null(strstr(hot.out.data, "CapEff:\t0000000000000000"));
    assert_non_null(strstr(hot.out.data, "pid 2 ppid 1"));
    assert_non_null(strstr(hot.out.data, "fds ['0', '1', '2', '3']"));
    assert_string_equal(hot.out.data, cold.out.data);
    jail_outcome_free(&hot);
    jail_outcome_free(&cold);
}

/* A context with a spawner clones its cold jails in brig-zygote --cold:
 * the jail they make is the one this process makes. */
static void test_spawner_makes_the_same_jail(void **state)
{
    (void)state;
    char err[512], spawner_state[64];
    snprintf(spawner_state, sizeof(spawner_state), "/tmp/brig-test-spawner.XXXXXX");
    assert_non_null(mkdtemp(spawner_state));
    assert_int_equal(chmod(spawner_state, 0711), 0);
    struct jail_context_config config = {
        .state_dir = spawner_state, .max_jails = 2, .spawner_path = zygote_path};
    struct jail_context *spawning;
    if (jail_context_new(&config, &spawning, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    const char *argv[] = {"python3", "-c", identity_code, NULL};
    struct jail_spec spec = python_spec(argv, false);
    struct jail_outcome spawned, here;
    jail_run(spawning, &spec, &spawned);
    jail_run(ctx, &spec, &here);
    assert_ok(&spawned);
    assert_ok(&here);
    assert_string_equal(spawned.out.data, here.out.data);
    /* Cold means cold: nothing preloaded in the spawner's copies. */
    jail_outcome_free(&spawned);
    spawned = (struct jail_outcome){0};
    const char *modules[] = {"python3", "-c", "import sys; print('numpy' in sys.modules)", NULL};
    spec = python_spec(modules, false);
    jail_run(spawning, &spec, &spawned);
    assert_ok(&spawned);
    assert_string_equal(spawned.out.data, "False\n");
    jail_outcome_free(&spawned);
    jail_outcome_free(&here);
    jail_context_free(spawning);
    remove_tree(spawner_state);
}

/* A spawner with a pool of ready network namespaces, as the worker runs. */
static struct jail_context *pooled_context(char *dir, size_t len)
{
    char err[512];
    snprintf(dir, len, "/tmp/brig-test-netns.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0711), 0);
    struct jail_context_config config = {
        .state_dir = dir, .max_jails = 4, .spawner_path = zygote_path, .netns_pool = 2};
    struct jail_context *pooled;
    if (jail_context_new(&config, &pooled, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    return pooled;
}

static const char listen_and_wait[] =
    "import socket, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 4242)); s.listen()\n"
    "c = socket.create_connection(('127.0.0.1', 4242)); c.close()\n"
    "import fcntl, os\n"
    "ns = os.open('/proc/self/ns/net', os.O_RDONLY)\n"
    "try:\n"
    "    fcntl.ioctl(ns, 0xb701)  # NS_GET_USERNS: the namespace's owner\n"
    "    owner = 'the jail'\n"
    "except PermissionError:\n"
    "    owner = 'the host'\n"
    "print([n for _, n in socket.if_nameindex()], 'listening', owner, flush=True)\n"
    "time.sleep(3)\n";

struct pooled_run {
    struct jail_context *ctx;
    const char *code;
    struct jail_outcome out;
};

static void *run_pooled(void *arg)
{
    struct pooled_run *run = arg;
    const char *argv[] = {"python3", "-c", run->code, NULL};
    struct jail_spec spec = python_spec(argv, false);
    jail_run(run->ctx, &spec, &run->out);
    return NULL;
}

/* Each jail of the pool's gets a namespace of its own, loopback up, that
 * it cannot reconfigure; a live neighbour's listener is not in it. */
static void test_pooled_network_namespaces(void **state)
{
    (void)state;
    char dir[64];
    struct jail_context *pooled = pooled_context(dir, sizeof(dir));
    usleep(200 * 1000); /* time for the pool to fill */
    struct pooled_run first = {.ctx = pooled, .code = listen_and_wait};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_pooled, &first), 0);
    usleep(1500 * 1000);
    struct pooled_run second = {
        .ctx = pooled,
        .code =
            "import socket, subprocess\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', 4242), timeout=1)\n"
            "    print('reached the neighbour')\n"
            "except ConnectionRefusedError:\n"
            "    print('refused')\n"
            "for cmd in (['ip', 'link', 'set', 'lo', 'down'],\n"
            "            ['ip', 'link', 'add', 'brig0', 'type', 'dummy'],\n"
            "            ['ip', 'addr', 'add', '10.9.9.9/32', 'dev', 'lo']):\n"
            "    print(cmd[1], cmd[2], subprocess.run(cmd, capture_output=True).returncode != 0)\n"
            "print([n for _, n in socket.if_nameindex()])\n"};
    run_pooled(&second);
    pthread_join(thread, NULL);
    assert_ok(&first.out);
    assert_ok(&second.out);
    /* Owned by the host's user namespace: it came from the pool. */
    assert_string_equal(first.out.out.data, "['lo'] listening the host\n");
    assert_string_equal(second.out.out.data,
                        "refused\nlink set True\nlink add True\naddr add True\n['lo']\n");
    jail_outcome_free(&first.out);
    jail_outcome_free(&second.out);
    jail_context_free(pooled);
    remove_tree(dir);
}

/* Programs reopen their stdio by name (see test_jail.c): in a warm job, its
 * children, and a cold jail the spawner cloned. */
static void test_stdio_reopens_by_name(void **state)
{
    (void)state;
    const char *warm_argv[] = {
        "python3", "-c",
        "import subprocess\n"
        "print([__import__('os').readlink('/dev/std' + n) for n in ('in', 'out', 'err')], "
        "flush=True)\n"
        "data = open('/dev/stdin').read()\n"
        "with open('/dev/stdout', 'w') as out:\n"
        "    out.write('python ' + data)\n"
        "with open('/dev/stderr', 'w') as err:\n"
        "    err.write('to-stderr\\n')\n"
        "subprocess.run(['sh', '-c', 'echo child > /dev/stderr; echo tee | tee /dev/stderr'])\n",
        NULL};
    struct jail_spec spec = python_spec(warm_argv, true);
    spec.stdin_data = "input\n";
    spec.stdin_len = 6;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_ok(&out);
    assert_string_equal(out.out.data, "['/proc/self/fd/0', '/proc/self/fd/1', '/proc/self/fd/2']\n"
                                      "python input\ntee\n");
    assert_string_equal(out.err.data, "to-stderr\nchild\ntee\n");
    jail_outcome_free(&out);

    char dir[64];
    struct jail_context *spawning = pooled_context(dir, sizeof(dir));
    const char *cold_argv[] = {"/bin/sh", "-c",
                               "echo to-stderr > /dev/stderr; cat /dev/stdin; echo tee | tee "
                               "/dev/stderr; echo by-fd > /proc/self/fd/1",
                               NULL};
    spec = python_spec(cold_argv, false);
    spec.stdin_data = "input\n";
    spec.stdin_len = 6;
    jail_run(spawning, &spec, &out);
    assert_ok(&out);
    assert_string_equal(out.out.data, "input\ntee\nby-fd\n");
    assert_string_equal(out.err.data, "to-stderr\ntee\n");
    jail_outcome_free(&out);
    jail_context_free(spawning);
    remove_tree(dir);
}

static void test_script_file_arguments_and_exit_status(void **state)
{
    (void)state;
    char err[256];
    struct jail_workspace *ws;
    assert_int_equal(jail_workspace_new(ctx, 16 << 20, &ws, err, sizeof(err)), 0);
    const char script[] = "import sys\n"
                          "print(__name__, __file__, sys.argv, sys.path[0])\n"
                          "sys.exit(int(sys.argv[2]))\n";
    assert_int_equal(
        jail_workspace_write_file(ws, "main.py", script, strlen(script), 0644, err, sizeof(err)),
        0);
    const char *argv[] = {"python3", "main.py", "a b", "3", NULL};
    struct jail_spec spec = python_spec(argv, true);
    spec.workspace = ws;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_int_equal(out.status, BRIG_STATUS_FAILED);
    assert_int_equal(out.exit_code, 3);
    assert_string_equal(out.out.data, "__main__ main.py ['main.py', 'a b', '3'] /work\n");
    jail_outcome_free(&out);
    jail_workspace_free(ws);
}

static void test_uncaught_exception_prints_like_python(void **state)
{
    (void)state;
    struct jail_outcome out = run_python("def f():\n    raise ValueError('boom')\nf()\n", true);
    assert_int_equal(out.status, BRIG_STATUS_FAILED);
    assert_int_equal(out.exit_code, 1);
    assert_true(strncmp(out.err.data,
                        "Traceback (most recent call last):\n  File \"<string>\", "
                        "line 3, in <module>\n",
                        68) == 0);
    assert_non_null(strstr(out.err.data, "ValueError: boom\n"));
    assert_null(strstr(out.err.data, "in run"));
    jail_outcome_free(&out);
}

/* Job A leaves marks everywhere a shared interpreter would keep them and
 * stays alive; job B, started while A runs, looks for every one of them. */
static const char leaving_marks[] = "import builtins, os, sys, time, numpy\n"
                                    "numpy.brig_mark = 'A'\n"
                                    "builtins.brig_mark = 'A'\n"
                                    "sys.modules['brig_mark'] = numpy\n"
                                    "sys.path.append('/brig-mark')\n"
                                    "os.environ['BRIG_MARK'] = 'A'\n"
                                    "open('/tmp/brig-mark', 'w').write('A')\n"
                                    "open('/dev/shm/brig-mark', 'w').write('A')\n"
                                    "print('marked', flush=True)\n"
                                    "time.sleep(3)\n";

static const char looking_for_marks[] =
    "import builtins, os, sys, numpy\n"
    "seen = []\n"
    "if hasattr(numpy, 'brig_mark'): seen.append('numpy attribute')\n"
    "if hasattr(builtins, 'brig_mark'): seen.append('builtin')\n"
    "if 'brig_mark' in sys.modules: seen.append('module')\n"
    "if '/brig-mark' in sys.path: seen.append('sys.path')\n"
    "if 'BRIG_MARK' in os.environ: seen.append('environment')\n"
    "if os.path.exists('/tmp/brig-mark'): seen.append('/tmp')\n"
    "if os.path.exists('/dev/shm/brig-mark'): seen.append('/dev/shm')\n"
    "others = [p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', '2')]\n"
    "if others: seen.append('processes %s' % others)\n"
    "print('seen', seen)\n";

static void *run_leaving_marks(void *arg)
{
    struct jail_outcome *out = arg;
    *out = run_python(leaving_marks, true);
    return NULL;
}

static void test_two_warm_jobs_cannot_see_each_other(void **state)
{
    (void)state;
    struct jail_outcome first;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_leaving_marks, &first), 0);
    /* The marks are made within a second of the start; A sleeps for three. */
    usleep(1500 * 1000);
    struct jail_outcome second = run_python(looking_for_marks, true);
    pthread_join(thread, NULL);
    assert_ok(&first);
    assert_ok(&second);
    assert_string_equal(first.out.data, "marked\n");
    assert_string_equal(second.out.data, "seen []\n");
    /* And A's marks were made, in A: the same check there sees them all. */
    char both[2048];
    snprintf(both, sizeof(both), "%s%s", leaving_marks, looking_for_marks);
    struct jail_outcome self = run_python(both, true);
    assert_ok(&self);
    assert_non_null(strstr(self.out.data, "'numpy attribute', 'builtin', 'module', 'sys.path', "
                                          "'environment', '/tmp', '/dev/shm'"));
    jail_outcome_free(&first);
    jail_outcome_free(&second);
    jail_outcome_free(&self);
}

/* Init is a copy of the server too: the job must not read it. */
static void test_warm_job_cannot_read_its_init(void **state)
{
    (void)state;
    struct jail_outcome out = run_python(
        "import os\n"
        "for path in ('/proc/1/mem', '/proc/1/environ', '/proc/1/maps', '/proc/1/auxv'):\n"
        "    try:\n"
        "        with open(path, 'rb') as f:\n"
        "            f.read(1)\n"
        "        print(path, 'read')\n"
        "    except OSError as e:\n"
        "        print(path, 'refused')\n",
        true);
    assert_ok(&out);
    assert_string_equal(out.out.data, "/proc/1/mem refused\n/proc/1/environ refused\n"
                                      "/proc/1/maps refused\n/proc/1/auxv refused\n");
    jail_outcome_free(&out);
}

static void test_random_state_is_not_shared(void **state)
{
    (void)state;
    const char *code = "import random, numpy; print(random.random(), numpy.random.random())";
    struct jail_outcome a = run_python(code, true);
    struct jail_outcome b = run_python(code, true);
    assert_ok(&a);
    assert_ok(&b);
    char a_random[64], a_numpy[64], b_random[64], b_numpy[64];
    assert_int_equal(sscanf(a.out.data, "%63s %63s", a_random, a_numpy), 2);
    assert_int_equal(sscanf(b.out.data, "%63s %63s", b_random, b_numpy), 2);
    assert_string_not_equal(a_random, b_random);
    assert_string_not_equal(a_numpy, b_numpy);
    jail_outcome_free(&a);
    jail_outcome_free(&b);
}

static void test_limits_hold_in_warm_jobs(void **state)
{
    (void)state;
    const char *argv_mem[] = {"python3", "-c", "x = bytearray(512 << 20); print(len(x))", NULL};
    struct jail_spec spec = python_spec(argv_mem, true);
    spec.limits.memory_bytes = 128ull << 20;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_int_equal(out.status, BRIG_STATUS_OOM);
    jail_outcome_free(&out);

    const char *argv_wall[] = {"python3", "-c", "import time; time.sleep(30)", NULL};
    spec = python_spec(argv_wall, true);
    spec.limits.wall_ms = 500;
    jail_run(ctx, &spec, &out);
    assert_int_equal(out.status, BRIG_STATUS_TIMEOUT);
    jail_outcome_free(&out);

    out = run_python("import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0)", true);
    assert_int_equal(out.status, BRIG_STATUS_SECCOMP);
    assert_string_equal(out.syscall, "ptrace");
    jail_outcome_free(&out);
}

static void test_other_command_lines_are_exec_d(void **state)
{
    (void)state;
    const char *version[] = {"python3", "-V", NULL};
    struct jail_spec spec = python_spec(version, true);
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_ok(&out);
    assert_true(strncmp(out.out.data, "Python 3.", 9) == 0);
    jail_outcome_free(&out);

    const char *shell[] = {"/bin/sh", "-c", "echo $0", NULL};
    spec = python_spec(shell, true);
    jail_run(ctx, &spec, &out);
    assert_ok(&out);
    assert_string_equal(out.out.data, "/bin/sh\n");
    jail_outcome_free(&out);
}

/* A python3 earlier on the job's PATH is what execve would run: the job
 * gets it, not the server's interpreter. */
static void test_another_python3_on_the_path_is_exec_d(void **state)
{
    (void)state;
    char err[256];
    struct jail_workspace *ws;
    assert_int_equal(jail_workspace_new(ctx, 16 << 20, &ws, err, sizeof(err)), 0);
    const char impostor[] = "#!/bin/sh\necho impostor \"$@\"\n";
    assert_int_equal(jail_workspace_write_file(ws, "bin/python3", impostor, strlen(impostor), 0755,
                                               err, sizeof(err)),
                     0);
    const char *argv[] = {"python3", "-c", "print('server')", NULL};
    const char *env[] = {"PATH=/work/bin:/usr/bin:/bin", NULL};
    struct jail_spec spec = python_spec(argv, true);
    spec.workspace = ws;
    spec.env = env;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_ok(&out);
    assert_string_equal(out.out.data, "impostor -c print('server')\n");
    jail_outcome_free(&out);
    jail_workspace_free(ws);
}

/* A child of this process named comm, other than not_this (0: any). */
static pid_t find_child(const char *comm, pid_t not_this)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    pid_t found = 0;
    while (proc != NULL && found == 0 && (entry = readdir(proc)) != NULL) {
        char path[300], line[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
        FILE *file = fopen(path, "re");
        if (file == NULL)
            continue;
        int pid, ppid;
        char name[64];
        if (fgets(line, sizeof(line), file) != NULL &&
            sscanf(line, "%d (%63[^)]) %*c %d", &pid, name, &ppid) == 3 && ppid == getpid() &&
            strcmp(name, comm) == 0 && pid != not_this)
            found = pid;
        fclose(file);
    }
    if (proc != NULL)
        closedir(proc);
    return found;
}

static unsigned children_of(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *file = fopen(path, "re");
    assert_non_null(file);
    size_t n = fread(buf, 1, sizeof(buf) - 1, file);
    fclose(file);
    buf[n] = '\0';
    unsigned count = 0;
    for (char *word = strtok(buf, " \n"); word != NULL; word = strtok(NULL, " \n"))
        count++;
    return count;
}

static void test_server_keeps_no_jail_behind(void **state)
{
    (void)state;
    pid_t server = find_child("brig-zygote", 0);
    assert_true(server > 0);
    for (int i = 0; i < 20; i++) {
        struct jail_outcome out = run_python(i % 2 ? "print(1)" : "import os; os.abort()", true);
        assert_int_equal(out.status, i % 2 ? BRIG_STATUS_OK : BRIG_STATUS_SIGNALED);
        jail_outcome_free(&out);
    }
    /* The last jail's reap request may still be on its way. */
    for (int wait = 0; wait < 100 && children_of(server) > 0; wait++)
        usleep(20 * 1000);
    assert_int_equal(children_of(server), 0);
}

static void test_preload_failure_names_the_module(void **state)
{
    (void)state;
    char err[512];
    struct jail_server *broken;
    const char *preload[] = {"json", "brig_no_such_module", NULL};
    assert_int_equal(jail_server_start_warm(ctx, zygote_path, preload, &broken, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "preloading brig_no_such_module: ModuleNotFoundError"));
}

/* Runs last: the server is killed, later jobs start cold. */
static void test_jobs_start_cold_once_the_server_is_gone(void **state)
{
    (void)state;
    pid_t server = find_child("brig-zygote", 0);
    assert_true(server > 0);
    assert_int_equal(kill(server, SIGKILL), 0);
    struct jail_outcome out = run_python("import sys; print('numpy' in sys.modules)", true);
    assert_ok(&out);
    assert_string_equal(out.out.data, "False\n");
    assert_false(jail_server_alive(warm));
    jail_outcome_free(&out);
}

/* After the last test: the server died during a job. */
static void test_a_restarted_server_starts_jobs_warm_again(void **state)
{
    (void)state;
    char err[512];
    pid_t dead = find_child("brig-zygote", 0);
    if (jail_server_restart(warm, ctx, err, sizeof(err)) != 0)
        fail_msg("jail_server_restart: %s", err);
    assert_true(jail_server_alive(warm));
    pid_t server = find_child("brig-zygote", 0);
    assert_true(server > 0 && server != dead);
    struct jail_outcome out = run_python("import sys; print('numpy' in sys.modules)", true);
    assert_ok(&out);
    assert_string_equal(out.out.data, "True\n");
    jail_outcome_free(&out);
}

static void wait_until_dead(struct jail_server *server)
{
    for (int wait = 0; wait < 200 && jail_server_alive(server); wait++)
        usleep(10 * 1000);
    assert_false(jail_server_alive(server));
}

/* A server killed between jobs is noticed without a job failing over, and
 * restarting one that is alive changes nothing. */
static void test_a_server_that_dies_idle_is_noticed(void **state)
{
    (void)state;
    char err[512];
    pid_t server = find_child("brig-zygote", 0);
    assert_int_equal(jail_server_restart(warm, ctx, err, sizeof(err)), 0);
    assert_int_equal(find_child("brig-zygote", 0), server);
    assert_int_equal(kill(server, SIGKILL), 0);
    wait_until_dead(warm);
    if (jail_server_restart(warm, ctx, err, sizeof(err)) != 0)
        fail_msg("jail_server_restart: %s", err);
    struct jail_outcome out = run_python("import sys; print('numpy' in sys.modules)", true);
    assert_ok(&out);
    assert_string_equal(out.out.data, "True\n");
    jail_outcome_free(&out);
}

/* The spawner is a server like the warm ones: jails are cloned here while it
 * is gone, and by a new one once restarted. */
static void test_a_dead_spawner_is_restarted(void **state)
{
    (void)state;
    char dir[64], err[512];
    pid_t warm_server = find_child("brig-zygote", 0);
    struct jail_context *spawning = pooled_context(dir, sizeof(dir));
    struct jail_server *spawner = jail_context_spawner(spawning);
    assert_non_null(spawner);
    assert_null(jail_context_spawner(ctx));
    pid_t pid = find_child("brig-zygote", warm_server);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    wait_until_dead(spawner);
    const char *argv[] = {"/bin/sh", "-c", "echo cloned here", NULL};
    struct jail_spec spec = python_spec(argv, false);
    struct jail_outcome out;
    jail_run(spawning, &spec, &out);
    assert_ok(&out);
    jail_outcome_free(&out);
    if (jail_server_restart(spawner, spawning, err, sizeof(err)) != 0)
        fail_msg("jail_server_restart: %s", err);
    assert_true(jail_server_alive(spawner));
    pid_t restarted = find_child("brig-zygote", warm_server);
    assert_true(restarted > 0 && restarted != pid);
    jail_run(spawning, &spec, &out);
    assert_ok(&out);
    assert_string_equal(out.out.data, "cloned here\n");
    jail_outcome_free(&out);
    jail_context_free(spawning);
    remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_reports_its_interpreter),
        cmocka_unit_test(test_warm_job_starts_with_the_preloaded_modules),
        cmocka_unit_test(test_warm_identity_and_limits_are_the_cold_ones),
        cmocka_unit_test(test_spawner_makes_the_same_jail),
        cmocka_unit_test(test_pooled_network_namespaces),
        cmocka_unit_test(test_stdio_reopens_by_name),
        cmocka_unit_test(test_script_file_arguments_and_exit_status),
        cmocka_unit_test(test_uncaught_exception_prints_like_python),
        cmocka_unit_test(test_two_warm_jobs_cannot_see_each_other),
        cmocka_unit_test(test_warm_job_cannot_read_its_init),
        cmocka_unit_test(test_random_state_is_not_shared),
        cmocka_unit_test(test_limits_hold_in_warm_jobs),
        cmocka_unit_test(test_other_command_lines_are_exec_d),
        cmocka_unit_test(test_another_python3_on_the_path_is_exec_d),
        cmocka_unit_test(test_server_keeps_no_jail_behind),
        cmocka_unit_test(test_preload_failure_names_the_module),
        cmocka_unit_test(test_jobs_start_cold_once_the_server_is_gone),
        cmocka_unit_test(test_a_restarted_server_starts_jobs_warm_again),
        cmocka_unit_test(test_a_server_that_dies_idle_is_noticed),
        cmocka_unit_test(test_a_dead_spawner_is_restarted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
