/* The jail's seccomp policy under whole programs: a shell and coreutils,
 * Python, node (with and without io_uring), tsc and gcc each run under the
 * filter in a child and must print what they print outside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp_compile.h"
#include "sandbox/seccomp_policy.h"
#include "tests/unit/seccomp_fixture.h"

/* A program that hangs is stopped by SIGALRM rather than hanging the test. */
#define PROGRAM_TIMEOUT_SECONDS 300

static char workdir[] = "/tmp/brig-seccomp-XXXXXX";

static int make_workdir(void)
{
    if (mkdtemp(workdir) == NULL) {
        print_error("mkdtemp %s: %s\n", workdir, strerror(errno));
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int remove_workdir(void)
{
    if (nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        print_error("removing %s: %s\n", workdir, strerror(errno));
        return -1;
    }
    return 0;
}

static int setup_programs(void **state)
{
    if (build_policy(state) != 0)
        return -1;
    return make_workdir();
}

static int teardown_programs(void **state)
{
    int result = remove_workdir();
    free_policy(state);
    return result;
}

static void write_workfile(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", workdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Runs argv under the filter in workdir and checks that it exits 0 having
 * printed exactly expected_stdout. */
static void run_program(const char *const argv[], const char *extra_env,
                        const char *expected_stdout)
{
    if (access(argv[0], X_OK) != 0)
        skip();
    char home[sizeof(workdir) + 8];
    snprintf(home, sizeof(home), "HOME=%s", workdir);
    const char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", home, "LANG=C.UTF-8", extra_env,
                         NULL};
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(out[1], STDOUT_FILENO) < 0 || chdir(workdir) != 0)
            _exit(CHILD_SETUP_FAILED);
        alarm(PROGRAM_TIMEOUT_SECONDS);
        enter_filter();
        execve(argv[0], (char *const *)argv, (char *const *)env);
        _exit(CHILD_SETUP_FAILED);
    }
    close(out[1]);
    char output[4096];
    size_t len = 0;
    while (len < sizeof(output) - 1) {
        ssize_t n = read(out[0], output + len, sizeof(output) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    output[len] = '\0';
    close(out[0]);
    assert_exited_zero(argv[0], wait_child(pid));
    assert_string_equal(output, expected_stdout);
}

static void test_shell_and_coreutils(void **state)
{
    (void)state;
    const char *script =
        "set -e; mkdir -p d/e; cp /etc/hostname d/e/h; mv d/e/h d/e/g; ls d/e; stat -c %s d/e/g "
        ">/dev/null; ln -s g d/e/l; readlink d/e/l; mkfifo d/p; printf 'b\\na\\n' | sort | tr a-z "
        "A-Z | head -n1; seq 3 | tail -n1; sleep 0.01 & wait; timeout 30 true; id -u >/dev/null; "
        "nproc >/dev/null; df . >/dev/null; sha256sum d/e/g >/dev/null; rm -r d; echo done";
    const char *const argv[] = {"/bin/bash", "-c", script, NULL};
    run_program(argv, NULL, "g\ng\nA\n3\ndone\n");
}

static const char python_script[] =
    "import mmap, multiprocessing, os, socket, subprocess, threading\n"
    "def square(x):\n"
    "    return x * x\n"
    "if __name__ == '__main__':\n"
    "    t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
    "    subprocess.run(['true'], check=True)\n"
    "    with multiprocessing.Pool(2) as pool:\n"
    "        assert pool.map(square, range(4)) == [0, 1, 4, 9]\n"
    "    m = mmap.mmap(-1, 4096); m[0:1] = b'x'\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        os._exit(3)\n"
    "    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3\n"
    "    socket.getaddrinfo('localhost', 80)\n"
    "    print('ok')\n";

static void test_python(void **state)
{
    (void)state;
    write_workfile("script.py", python_script);
    const char *const argv[] = {"/usr/bin/python3", "script.py", NULL};
    run_program(argv, NULL, "ok\n");
}

static const char node_script[] =
    "const fs = require('fs');\n"
    "const { Worker } = require('worker_threads');\n"
    "fs.readFileSync('/etc/hostname');\n"
    "require('child_process').execSync('true');\n"
    "require('os').networkInterfaces();\n"
    "const w = new Worker('require(\"worker_threads\").parentPort.postMessage(6 * 7)', "
    "{ eval: true });\n"
    "w.on('message', async (n) => {\n"
    "  await fs.promises.readFile('/etc/hostname');\n"
    "  require('dns').lookup('localhost', () => console.log(n === 42 ? 'ok' : 'bad'));\n"
    "});\n";

static void test_node(void **state)
{
    (void)state;
    write_workfile("script.js", node_script);
    const char *const argv[] = {"/usr/bin/node", "script.js", NULL};
    run_program(argv, NULL, "ok\n");
}

/* Asked to, libuv sets up io_uring for file reads: it must fall back when
 * io_uring_setup fails rather than die. */
static void test_node_io_uring(void **state)
{
    (void)state;
    write_workfile("script.js", node_script);
    const char *const argv[] = {"/usr/bin/node", "script.js", NULL};
    run_program(argv, "UV_USE_IO_URING=1", "ok\n");
}

static void test_tsc(void **state)
{
    (void)state;
    write_workfile("typed.ts", "const answer: number = 6 * 7;\nconsole.log(answer);\n");
    const char *const argv[] = {"/bin/sh", "-c", "tsc typed.ts && node typed.js", NULL};
    if (access("/usr/bin/tsc", X_OK) != 0)
        skip();
    run_program(argv, NULL, "42\n");
}

static void test_gcc(void **state)
{
    (void)state;
    write_workfile("hello.c", "#include <stdio.h>\nint main(void)\n{\n    puts(\"hello\");\n"
                              "    return 0;\n}\n");
    const char *const argv[] = {"/bin/sh", "-c", "gcc -O2 -o hello hello.c && ./hello", NULL};
    if (access("/usr/bin/gcc", X_OK) != 0)
        skip();
    run_program(argv, NULL, "hello\n");
}

int main(void)
{
    const struct CMUnitTest programs[] = {
        cmocka_unit_test(test_shell_and_coreutils),
        cmocka_unit_test(test_python),
        cmocka_unit_test(test_node),
        cmocka_unit_test(test_node_io_uring),
        cmocka_unit_test(test_tsc),
        cmocka_unit_test(test_gcc),
    };
    return cmocka_run_group_tests_name("seccomp programs", programs, setup_programs,
                                       teardown_programs) != 0;
}
