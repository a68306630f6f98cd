/* brig-jail's command line: options, their values, the combinations that
 * cannot work, and the exit status of each outcome. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sandbox/cli_args.h"
#include "schema/status.h"
#include "common/common.h"

static const struct jail_limits defaults = {
    .wall_ms = 10000,
    .cpu_ms = 5000,
    .memory_bytes = 256u << 20,
    .pids = 64,
    .output_bytes = 1u << 20,
    .fsize_bytes = 64u << 20,
    .nofile = 256,
    .stack_bytes = 8u << 20,
    .tmp_bytes = 64u << 20,
    .disk_bytes = 128u << 20,
    .cpu_millis = 1000,
};

static char err[512];
static struct cli_options opts;

#define ARGV(...)                                                                                  \
    (char *[])                                                                                     \
    {                                                                                              \
        "brig-jail", __VA_ARGS__, NULL                                                             \
    }
#define ARGC(argv) ((int)(sizeof(argv) / sizeof(argv[0])) - 1) /* argv: a compound literal */

static int parse(int argc, char **argv)
{
    cli_options_free(&opts);
    err[0] = '\0';
    return cli_parse(argc, argv, &defaults, &opts, err, sizeof(err));
}

static void parse_ok(int argc, char **argv)
{
    if (parse(argc, argv) != 0)
        fail_msg("parse failed: %s", err);
}

/* The parse must fail with a message that starts with prefix and holds words. */
static void parse_fails(const char *prefix, const char *words, int argc, char **argv)
{
    assert_int_equal(parse(argc, argv), -1);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, words) == NULL)
        fail_msg("message \"%s\" is not \"%s...%s...\"", err, prefix, words);
}

/* The argv compound literal lives as long as the test function's block, as
 * long as opts points into it. */
#define PARSE_OK(...) parse_ok(ARGC(ARGV(__VA_ARGS__)), ARGV(__VA_ARGS__))
#define PARSE_FAILS(prefix, words, ...)                                                            \
    parse_fails(prefix, words, ARGC(ARGV(__VA_ARGS__)), ARGV(__VA_ARGS__))

static int teardown(void **state)
{
    (void)state;
    cli_options_free(&opts);
    return 0;
}

static void test_program_with_defaults(void **state)
{
    (void)state;
    PARSE_OK("--", "python3", "-c", "print(1)");
    assert_memory_equal(&opts.limits, &defaults, sizeof(defaults));
    assert_string_equal(opts.program[0], "python3");
    assert_string_equal(opts.program[2], "print(1)");
    assert_null(opts.program[3]);
    assert_null(opts.lang);
    assert_int_equal(opts.n_binds, 0);
    assert_false(opts.quiet);

    /* Without "--", options end at the program; what follows is its own. */
    PARSE_OK("--quiet", "ls", "--mem", "-l");
    assert_true(opts.quiet);
    assert_string_equal(opts.program[0], "ls");
    assert_string_equal(opts.program[1], "--mem");
    assert_memory_equal(&opts.limits, &defaults, sizeof(defaults));
}

static void test_limits(void **state)
{
    (void)state;
    PARSE_OK("--mem", "64M", "--cpu-time=1.5s", "--wall-time", "250ms", "--pids=8",
             "--output-limit", "1K", "--fsize", "2M", "--nofile", "32", "--stack=1M", "--disk",
             "16M", "--tmp", "8M", "--cpus", "0.5", "true");
    assert_int_equal(opts.limits.memory_bytes, 64u << 20);
    assert_int_equal(opts.limits.cpu_ms, 1500);
    assert_int_equal(opts.limits.wall_ms, 250);
    assert_int_equal(opts.limits.pids, 8);
    assert_int_equal(opts.limits.output_bytes, 1024);
    assert_int_equal(opts.limits.fsize_bytes, 2u << 20);
    assert_int_equal(opts.limits.nofile, 32);
    assert_int_equal(opts.limits.stack_bytes, 1u << 20);
    assert_int_equal(opts.limits.disk_bytes, 16u << 20);
    assert_int_equal(opts.limits.tmp_bytes, 8u << 20);
    assert_int_equal(opts.limits.cpu_millis, 500);
    assert_string_equal(opts.program[0], "true");

    /* 0 cores is the one limit that means "none". */
    PARSE_OK("--cpus", "0", "true");
    assert_int_equal(opts.limits.cpu_millis, 0);

    /* The last of a repeated option wins. */
    PARSE_OK("--mem", "1G", "--mem", "2G", "true");
    assert_int_equal(opts.limits.memory_bytes, 2ull << 30);
}

static void test_binds_env_and_files(void **state)
{
    (void)state;
    PARSE_OK("--ro-bind", "/data", "--bind=/tmp/out:/out", "--env", "A=1", "--env=B=x=y",
             "--workdir", "/srv/w", "--stdin", "in.txt", "--json", "o.json", "--", "cat");
    assert_int_equal(opts.n_binds, 2);
    assert_string_equal(opts.binds[0].src, "/data");
    assert_null(opts.binds[0].dst);
    assert_false(opts.binds[0].writable);
    assert_string_equal(opts.binds[1].src, "/tmp/out");
    assert_string_equal(opts.binds[1].dst, "/out");
    assert_true(opts.binds[1].writable);
    assert_int_equal(opts.n_env, 2);
    assert_string_equal(opts.env[0], "A=1");
    assert_string_equal(opts.env[1], "B=x=y");
    assert_null(opts.env[2]);
    assert_string_equal(opts.workdir, "/srv/w");
    assert_string_equal(opts.stdin_path, "in.txt");
    assert_string_equal(opts.json_path, "o.json");
}

static void test_lang(void **state)
{
    (void)state;
    PARSE_OK("--lang", "py", "--code", "-", "--runtimes", "/etc/r.json");
    assert_string_equal(opts.lang, "py");
    assert_string_equal(opts.code_path, "-");
    assert_string_equal(opts.runtimes_path, "/etc/r.json");
    assert_null(opts.program[0]);

    PARSE_OK("--lang=c", "--code=main.c", "--", "arg1", "--arg2");
    assert_string_equal(opts.program[0], "arg1");
    assert_string_equal(opts.program[1], "--arg2");
}

static void test_help_and_version(void **state)
{
    (void)state;
    PARSE_OK("--help");
    assert_true(opts.help);
    PARSE_OK("-h");
    assert_true(opts.help);
    PARSE_OK("--version");
    assert_true(opts.version);
    PARSE_OK("-q", "true");
    assert_true(opts.quiet);
    PARSE_FAILS("--help: ", "takes no value", "--help=yes");
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    PARSE_FAILS("--memory: ", "unknown option", "--memory", "1G", "true");
    PARSE_FAILS("--memory: ", "unknown option", "--memory=1G", "true");
    PARSE_FAILS("-m: ", "unknown option", "-m", "1G", "true");
    PARSE_FAILS("-: ", "unknown option", "-", "true");
    PARSE_FAILS("--mem: ", "missing its value, SIZE", "--mem");
    PARSE_FAILS("--quiet: ", "takes no value", "--quiet=1", "true");
    PARSE_FAILS("missing PROGRAM", "--lang", "--mem", "1G");
    PARSE_FAILS("missing PROGRAM", "--lang", "--");
}

static void test_bad_values(void **state)
{
    (void)state;
    PARSE_FAILS("--mem: ", "\"64X\" is not a size", "--mem", "64X", "true");
    PARSE_FAILS("--mem: ", "must be greater than 0", "--mem", "0", "true");
    PARSE_FAILS("--disk: ", "\"lots\" is not a size", "--disk=lots", "true");
    PARSE_FAILS("--tmp: ", "too large", "--tmp", "99999999999T", "true");
    PARSE_FAILS("--fsize: ", "not a size", "--fsize", "", "true");
    PARSE_FAILS("--output-limit: ", "not a size", "--output-limit", "-1", "true");
    PARSE_FAILS("--stack: ", "not a size", "--stack", "8MB", "true");
    PARSE_FAILS("--wall-time: ", "\"5m\" is not a duration", "--wall-time", "5m", "true");
    PARSE_FAILS("--wall-time: ", "at least 1ms", "--wall-time", "0", "true");
    PARSE_FAILS("--cpu-time: ", "too many decimals", "--cpu-time", "0.0005", "true");
    PARSE_FAILS("--pids: ", "\"many\" is not a count", "--pids", "many", "true");
    PARSE_FAILS("--pids: ", "must be greater than 0", "--pids", "0", "true");
    PARSE_FAILS("--nofile: ", "not a count", "--nofile", "1k", "true");
    PARSE_FAILS("--cpus: ", "\"lots\" is not a CPU count", "--cpus", "lots", "true");
    PARSE_FAILS("--bind: ", "\"data\": the source must be an absolute path", "--bind", "data",
                "true");
    PARSE_FAILS("--ro-bind: ", "\"/a:b\": the destination must be an absolute path", "--ro-bind",
                "/a:b", "true");
    PARSE_FAILS("--ro-bind: ", "the source must be an absolute path", "--ro-bind", ":/b", "true");
    PARSE_FAILS("--env: ", "\"FOO\" is not K=V", "--env", "FOO", "true");
    PARSE_FAILS("--env: ", "\"=1\" is not K=V", "--env", "=1", "true");
    PARSE_FAILS("--env: ", "\"1A\": invalid character", "--env", "1A=b", "true");
    PARSE_FAILS("--env: ", "\"A-B\": invalid character", "--env", "A-B=1", "true");
    PARSE_FAILS("--env: ", "\"PATH\": reserved name", "--env", "PATH=/evil", "true");
    PARSE_FAILS("--env: ", "\"BRIG_X\": reserved name", "--env", "BRIG_X=1", "true");
}

static void test_combinations(void **state)
{
    (void)state;
    PARSE_FAILS("--lang: ", "needs --code FILE", "--lang", "python");
    PARSE_FAILS("--code: ", "needs --lang LANG", "--code", "x.py", "--", "python3");
    PARSE_FAILS("--workdir: ", "cannot be used with --lang", "--lang", "py", "--code", "x.py",
                "--workdir", "/w");
    PARSE_FAILS("--disk: ", "which --workdir replaces", "--workdir", "/w", "--disk", "1M", "true");
    PARSE_FAILS("--workdir: ", "must be an absolute path", "--workdir", "w", "true");
    PARSE_FAILS("--stdin: ", "--code reads stdin too", "--lang", "py", "--code", "-", "--stdin",
                "-");
}

static void test_exit_status(void **state)
{
    struct jail_outcome outcome = {0};
    static const struct {
        brig_status status;
        int expected;
    } fixed[] = {
        {BRIG_STATUS_TIMEOUT, CLI_EXIT_TIMEOUT},
        {BRIG_STATUS_CPU_TIMEOUT, CLI_EXIT_CPU_TIMEOUT},
        {BRIG_STATUS_OOM, CLI_EXIT_OOM},
        {BRIG_STATUS_OUTPUT_LIMIT, CLI_EXIT_OUTPUT_LIMIT},
        {BRIG_STATUS_SECCOMP, CLI_EXIT_SECCOMP},
        {BRIG_STATUS_COMPILE_ERROR, CLI_EXIT_COMPILE_ERROR},
        {BRIG_STATUS_SETUP_ERROR, CLI_EXIT_SETUP},
        {BRIG_STATUS_INTERNAL_ERROR, CLI_EXIT_SETUP},
        {BRIG_STATUS_REJECTED, CLI_EXIT_SETUP},
    };
    (void)state;

    outcome.status = BRIG_STATUS_OK;
    assert_int_equal(cli_exit_status(&outcome), 0);
    outcome.status = BRIG_STATUS_FAILED;
    outcome.exit_code = 3;
    assert_int_equal(cli_exit_status(&outcome), 3);
    outcome.status = BRIG_STATUS_SIGNALED;
    outcome.signal = 9;
    assert_int_equal(cli_exit_status(&outcome), 137);
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        outcome.status = fixed[i].status;
        assert_int_equal(cli_exit_status(&outcome), fixed[i].expected);
    }
    assert_int_equal(CLI_EXIT_TIMEOUT, 124);
    assert_int_equal(CLI_EXIT_SETUP, 125);
    assert_int_equal(CLI_EXIT_USAGE, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_program_with_defaults, teardown),
        cmocka_unit_test_teardown(test_limits, teardown),
        cmocka_unit_test_teardown(test_binds_env_and_files, teardown),
        cmocka_unit_test_teardown(test_lang, teardown),
        cmocka_unit_test_teardown(test_help_and_version, teardown),
        cmocka_unit_test_teardown(test_unknown_and_missing, teardown),
        cmocka_unit_test_teardown(test_bad_values, teardown),
        cmocka_unit_test_teardown(test_combinations, teardown),
        cmocka_unit_test(test_exit_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
