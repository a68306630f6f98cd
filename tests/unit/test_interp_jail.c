/* Live jails (sandbox/live.h), for real, cloned the three ways a worker
 * clones them (in this process, by the cold spawner, by a warm server):
 * the channel both ways, stdout and stderr apart, an interrupt that reaches
 * the program through init, a program that ends by itself, one stopped, and
 * that the channel is closed to everything but the program. Needs root, user
 * namespaces and cgroups. */
#include <errno.h>
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "sandbox/live.h"
#include "sandbox/sandbox.h"
#include "sandbox/self_path.h"
#include "tests/unit/tree.h"

enum clone_by { IN_PROCESS, SPAWNER, WARM };

static struct jail_context *plain, *spawning;
static struct jail_server *warm;
static char plain_dir[64], spawning_dir[64];

static int make_context(char *dir, size_t len, const char *spawner, struct jail_context **out)
{
    char err[512];
    snprintf(dir, len, "/tmp/brig-test-live.XXXXXX");
    if (mkdtemp(dir) == NULL || chmod(dir, 0711) != 0)
        return -1;
    struct jail_context_config config = {.state_dir = dir, .max_jails = 4, .spawner_path = spawner};
    if (jail_context_new(&config, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_context_new: %s\n", err);
        return -1;
    }
    return 0;
}

#define PREPARED_SOURCE                                                                            \
    "import os, sys\n"                                                                             \
    "built_in = os.getcwd()\n"                                                                     \
    "run_as = __name__ if sys.modules[__name__].__dict__ is globals() else 'elsewhere'\n"          \
    "if __name__ == '__main__':\n"                                                                 \
    "    print('compiled by the server', sys._getframe(1).f_locals.get('code') is not None,\n"     \
    "          flush=True)\n"

static int setup(void **state)
{
    (void)state;
    char err[512], zygote[PATH_MAX];
    signal(SIGPIPE, SIG_IGN);
    if (self_relative_path("../bin/brig-zygote", zygote, sizeof(zygote), err, sizeof(err)) != 0 ||
        make_context(plain_dir, sizeof(plain_dir), NULL, &plain) != 0 ||
        make_context(spawning_dir, sizeof(spawning_dir), zygote, &spawning) != 0)
        return -1;
    /* A kernel's way: a program run as a module by the server, from a file
     * its view of the jail's filesystem would not show (this /tmp). */
    char module_path[PATH_MAX], module[PATH_MAX + 32];
    snprintf(module_path, sizeof(module_path), "%s/prepared.py", plain_dir);
    FILE *f = fopen(module_path, "we");
    if (f == NULL || fputs(PREPARED_SOURCE, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(module, sizeof(module), "brig_test_prepared=%s", module_path);
    const char *preload[] = {"json", module, NULL};
    if (jail_server_start_warm(plain, zygote, preload, &warm, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_server_start_warm: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jail_server_free(warm);
    jail_context_free(plain);
    jail_context_free(spawning);
    remove_tree(plain_dir);
    remove_tree(spawning_dir);
    return 0;
}

static struct jail_live *start(enum clone_by by, const char *code)
{
    const char *argv[] = {"python3", "-c", code, NULL};
    struct jail_spec spec = {.argv = argv, .warm = by == WARM ? warm : NULL};
    jail_limits_default(&spec.limits);
    struct jail_live *live;
    char err[512];
    if (jail_live_start(by == SPAWNER ? spawning : plain, &spec, &live, err, sizeof(err)) != 0)
        fail_msg("jail_live_start: %s", err);
    return live;
}

/* Reads fd until want bytes came or 20 s passed; returns what came. */
static size_t read_some(int fd, char *buf, size_t want)
{
    size_t got = 0;
    uint64_t deadline = monotonic_ns() + 20000000000ull;
    while (got < want && monotonic_ns() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + got, want - got);
        if (n == 0)
            break;
        if (n > 0)
            got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static void send_text(int fd, const char *text)
{
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static const char echo_code[] =
    "import os, sys, signal\n"
    "print('hello out', flush=True)\n"
    "print('hello err', file=sys.stderr, flush=True)\n"
    "signal.signal(signal.SIGINT, lambda *a: os.write(6, b'interrupted\\n'))\n"
    "while True:\n"
    "    line = os.read(5, 100)\n"
    "    if not line or line == b'quit\\n':\n"
    "        break\n"
    "    os.write(6, b'echo ' + line)\n"
    "sys.exit(3)\n";

static void channel_both_ways(enum clone_by by)
{
    struct jail_live *live = start(by, echo_code);
    struct jail_live_fds fds;
    jail_live_fds(live, &fds);
    char buf[256], err[256];
    read_some(fds.out, buf, strlen("hello out\n"));
    assert_string_equal(buf, "hello out\n");
    read_some(fds.err, buf, strlen("hello err\n"));
    assert_string_equal(buf, "hello err\n");
    send_text(fds.to_program, "one\n");
    read_some(fds.from_program, buf, strlen("echo one\n"));
    assert_string_equal(buf, "echo one\n");
    /* The host's SIGINT goes to init, which passes it on. */
    assert_int_equal(jail_live_interrupt(live, err, sizeof(err)), 0);
    read_some(fds.from_program, buf, strlen("interrupted\n"));
    assert_string_equal(buf, "interrupted\n");
    send_text(fds.to_program, "two\n");
    read_some(fds.from_program, buf, strlen("echo two\n"));
    assert_string_equal(buf, "echo two\n");
    /* It ends by itself: init's report says how. */
    send_text(fds.to_program, "quit\n");
    struct pollfd ended = {fds.ended, POLLIN, 0};
    assert_int_equal(poll(&ended, 1, 20000), 1);
    struct jail_outcome out;
    assert_int_equal(jail_live_stop(live, &out), 0);
    assert_int_equal(out.status, BRIG_STATUS_FAILED);
    assert_int_equal(out.exit_code, 3);
    assert_false(out.cancelled);
    jail_outcome_free(&out);
}

static void test_channel_in_process(void **state)
{
    (void)state;
    channel_both_ways(IN_PROCESS);
}

static void test_channel_through_the_spawner(void **state)
{
    (void)state;
    channel_both_ways(SPAWNER);
}

static void test_channel_from_a_warm_server(void **state)
{
    (void)state;
    channel_both_ways(WARM);
}

/* Stopped while it runs: cancelled, and nothing of it is left. */
static void test_stop_while_running(void **state)
{
    (void)state;
    struct jail_live *live = start(WARM, "import time\nprint('up', flush=True)\ntime.sleep(60)\n");
    struct jail_live_fds fds;
    jail_live_fds(live, &fds);
    char buf[16];
    read_some(fds.out, buf, 3);
    assert_string_equal(buf, "up\n");
    struct jail_live_usage usage;
    assert_int_equal(jail_live_usage(live, &usage), 0);
    assert_true(usage.cpu_us > 0);
    struct jail_outcome out;
    assert_int_equal(jail_live_stop(live, &out), 0);
    assert_int_equal(out.status, BRIG_STATUS_INTERNAL_ERROR);
    assert_true(out.cancelled);
    jail_outcome_free(&out);
}

/* A preload entry NAME=PATH: the server ran the file as the module NAME,
 * once, in the jail's filesystem; a warm program has it, a cold one not. */
static void test_a_preloaded_file_is_a_module_of_warm_programs(void **state)
{
    (void)state;
    static const char code[] =
        "import sys\n"
        "m = sys.modules.get('brig_test_prepared')\n"
        "print(m and (m.run_as, m.built_in, m.__file__.endswith('/prepared.py')), flush=True)\n";
    const enum clone_by ways[] = {WARM, IN_PROCESS};
    const char *expected[] = {"('brig_test_prepared', '/work', True)\n", "None\n"};
    for (size_t i = 0; i < ARRAY_SIZE(ways); i++) {
        struct jail_live *live = start(ways[i], code);
        struct jail_live_fds fds;
        jail_live_fds(live, &fds);
        char buf[256];
        read_some(fds.out, buf, strlen(expected[i]));
        struct jail_outcome out;
        jail_live_stop(live, &out);
        jail_outcome_free(&out);
        assert_string_equal(buf, expected[i]);
    }
}

/* Its text as a warm program's `python3 -c` runs the server's compilation
 * (the bootstrap found it: run() has it as code). */
static void test_a_preloaded_files_text_runs_compiled_already(void **state)
{
    (void)state;
    static const char expected[] = "compiled by the server True\n";
    struct jail_live *live = start(WARM, PREPARED_SOURCE);
    struct jail_live_fds fds;
    jail_live_fds(live, &fds);
    char buf[256];
    read_some(fds.out, buf, strlen(expected));
    struct jail_outcome out;
    jail_live_stop(live, &out);
    jail_outcome_free(&out);
    assert_string_equal(buf, expected);
}

static void test_a_preloaded_file_that_cannot_be_read_is_named(void **state)
{
    (void)state;
    char err[512], zygote[PATH_MAX];
    struct jail_server *broken;
    const char *preload[] = {"json", "brig_test_missing=/nonexistent/brig.py", NULL};
    assert_int_equal(
        self_relative_path("../bin/brig-zygote", zygote, sizeof(zygote), err, sizeof(err)), 0);
    assert_int_equal(jail_server_start_warm(plain, zygote, preload, &broken, err, sizeof(err)), -1);
    assert_non_null(
        strstr(err, "reading the preload /nonexistent/brig.py: No such file or directory"));
}

/* The channel's ends are the program's alone: init and the program's
 * children keep none unless it lets them, and /proc gives no way to
 * reopen them (the pipes are root's, 0600). */
static void test_channel_is_the_programs_alone(void **state)
{
    (void)state;
    static const char code[] =
        "import os, subprocess\n"
        "init = sorted(os.listdir('/proc/1/fd')) if os.access('/proc/1/fd', os.R_OK) else []\n"
        "child = subprocess.run(['ls', '/proc/self/fd'], capture_output=True, text=True).stdout\n"
        "try:\n"
        "    os.open('/proc/self/fd/5', os.O_WRONLY); reopened = 'yes'\n"
        "except OSError as e:\n"
        "    reopened = e.strerror\n"
        "print(init, child.split(), reopened, flush=True)\n";
    struct jail_live *live = start(IN_PROCESS, code);
    struct jail_live_fds fds;
    jail_live_fds(live, &fds);
    char buf[512];
    read_some(fds.out, buf, sizeof(buf) - 1);
    struct jail_outcome out;
    jail_live_stop(live, &out);
    jail_outcome_free(&out);
    /* subprocess closes what the child does not need; ls sees 0-3 only. */
    assert_string_equal(buf, "[] ['0', '1', '2', '3'] Permission denied\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_in_process),
        cmocka_unit_test(test_channel_through_the_spawner),
        cmocka_unit_test(test_channel_from_a_warm_server),
        cmocka_unit_test(test_stop_while_running),
        cmocka_unit_test(test_channel_is_the_programs_alone),
        cmocka_unit_test(test_a_preloaded_file_is_a_module_of_warm_programs),
        cmocka_unit_test(test_a_preloaded_files_text_runs_compiled_already),
        cmocka_unit_test(test_a_preloaded_file_that_cannot_be_read_is_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
