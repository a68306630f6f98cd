/* The command lines of brig run and brig submit, the jobs built from them,
 * durations, and the exit status of each kind of result. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "producer/cli_common.h"
#include "producer/cli_options.h"
#include "common/common.h"

/* A command line as an array, so that ARGC can count it. */
#define ARGS(name, ...) char *name[] = {"run", __VA_ARGS__, NULL}
#define ARGC(argv) ((int)ARRAY_SIZE(argv) - 1)

static char err[1024];
static struct job_command_options opts;

static int parse(enum job_command command, int argc, char **argv)
{
    err[0] = '\0';
    job_command_options_free(&opts);
    return job_command_parse(command, argc, argv, &opts, err, sizeof err);
}

static void assert_refused(enum job_command command, int argc, char **argv, const char *words)
{
    assert_int_equal(parse(command, argc, argv), -1);
    if (!strstr(err, words))
        fail_msg("got \"%s\", wanted \"%s\"", err, words);
}

static int teardown(void **state)
{
    (void)state;
    job_command_options_free(&opts);
    return 0;
}

static void test_runtime_job(void **state)
{
    (void)state;
    ARGS(argv, "--lang", "python", "-c", "print(1)", "--arg", "a", "-e", "K=V", "--mem", "64M",
         "--cpu-time", "2s", "--wall-time", "1.5", "--pids", "8", "--json", "--timeout", "30",
         "--collect", "*.txt", "--", "b", "c");
    assert_int_equal(parse(JOB_COMMAND_RUN, ARGC(argv), argv), 0);
    assert_string_equal(opts.job.lang, "python");
    assert_string_equal(opts.job.code, "print(1)");
    assert_null(opts.job.code_file);
    assert_int_equal(opts.job.args.count, 3); /* --arg first, then the operands */
    assert_string_equal(opts.job.args.items[0], "a");
    assert_string_equal(opts.job.args.items[2], "c");
    assert_int_equal(opts.job.env.count, 1);
    assert_int_equal(opts.job.limits.memory_bytes, 64u << 20);
    assert_int_equal(opts.job.limits.cpu_ms, 2000);
    assert_int_equal(opts.job.limits.wall_ms, 1500);
    assert_int_equal(opts.job.limits.pids, 8);
    assert_true(opts.json);
    assert_int_equal(opts.timeout_ms, 30000);
    assert_int_equal(opts.job.collect.count, 1);
}

static void test_code_file_and_program_options(void **state)
{
    (void)state;
    /* Options after FILE belong to the program, not to brig. */
    ARGS(argv, "-l", "python", "script.py", "--json", "-x");
    assert_int_equal(parse(JOB_COMMAND_RUN, ARGC(argv), argv), 0);
    assert_string_equal(opts.job.code_file, "script.py");
    assert_false(opts.json);
    assert_int_equal(opts.job.args.count, 2);
    assert_string_equal(opts.job.args.items[0], "--json");
    assert_int_equal(opts.timeout_ms, CLI_RUN_TIMEOUT_MS);
}

static void test_argv_job(void **state)
{
    (void)state;
    ARGS(argv, "--wall-time", "2s", "--", "/bin/ls", "-l", "/");
    assert_int_equal(parse(JOB_COMMAND_RUN, ARGC(argv), argv), 0);
    assert_null(opts.job.lang);
    assert_int_equal(opts.job.argv.count, 3);
    assert_string_equal(opts.job.argv.items[0], "/bin/ls");
    assert_string_equal(opts.job.argv.items[1], "-l");

    ARGS(bare, "ls", "-l");
    assert_int_equal(parse(JOB_COMMAND_RUN, ARGC(bare), bare), 0);
    assert_int_equal(opts.job.argv.count, 2);
}

static void test_common_options(void **state)
{
    (void)state;
    ARGS(argv, "--brokers", "k:9092", "--topic-prefix", "t", "--timeout", "0", "true");
    assert_int_equal(parse(JOB_COMMAND_RUN, ARGC(argv), argv), 0);
    assert_string_equal(opts.common.brokers, "k:9092");
    assert_string_equal(opts.common.topic_prefix, "t");
    assert_int_equal(opts.timeout_ms, -1); /* 0 = forever */

    ARGS(help, "--lang", "python", "--help");
    assert_int_equal(parse(JOB_COMMAND_SUBMIT, ARGC(help), help), 1);
}

static void test_bad_command_lines(void **state)
{
    (void)state;
    ARGS(unknown, "--frobnicate", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(unknown), unknown, "unknown option --frobnicate");
    ARGS(short_unknown, "-z", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(short_unknown), short_unknown, "unknown option -z");
    ARGS(missing, "--lang");
    assert_refused(JOB_COMMAND_RUN, ARGC(missing), missing, "option --lang needs a value");
    ARGS(code_alone, "-c", "print(1)");
    assert_refused(JOB_COMMAND_RUN, ARGC(code_alone), code_alone, "-c needs --lang");
    ARGS(nothing, "--mem", "64M");
    assert_refused(JOB_COMMAND_RUN, ARGC(nothing), nothing, "nothing to run");
    ARGS(no_code, "--lang", "python");
    assert_refused(JOB_COMMAND_RUN, ARGC(no_code), no_code, "--lang python needs the code");
    ARGS(bad_mem, "--mem", "lots", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(bad_mem), bad_mem, "--mem: \"lots\" is not a size");
    ARGS(zero_wall, "--wall-time", "0", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(zero_wall), zero_wall,
                   "--wall-time: 0 is under the minimum of 100ms");
    ARGS(bad_pids, "--pids", "-1", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(bad_pids), bad_pids, "--pids: \"-1\" is not a count");
    ARGS(bad_timeout, "--timeout", "soon", "true");
    assert_refused(JOB_COMMAND_RUN, ARGC(bad_timeout), bad_timeout,
                   "--timeout: \"soon\" is not a duration");
    /* run-only and submit-only options */
    ARGS(batch_in_run, "--batch", "x.jsonl");
    assert_refused(JOB_COMMAND_RUN, ARGC(batch_in_run), batch_in_run, "unknown option --batch");
    ARGS(json_in_submit, "--json", "true");
    assert_refused(JOB_COMMAND_SUBMIT, ARGC(json_in_submit), json_in_submit,
                   "unknown option --json");
    ARGS(batch_and_job, "--batch", "x.jsonl", "--mem", "1G");
    assert_refused(JOB_COMMAND_SUBMIT, ARGC(batch_and_job), batch_and_job,
                   "--batch takes its jobs from the file only (found --mem)");
    ARGS(batch_operand, "--batch", "x.jsonl", "extra");
    assert_refused(JOB_COMMAND_SUBMIT, ARGC(batch_operand), batch_operand,
                   "--batch takes no job on the command line");
    ARGS(batch, "--batch", "x.jsonl", "--brokers", "k:1");
    assert_int_equal(parse(JOB_COMMAND_SUBMIT, ARGC(batch), batch), 0);
    assert_string_equal(opts.batch_file, "x.jsonl");
}

/* Every limit of SCHEMA.md §5.1 has a flag, in the flag's units: the
 * schema's bounds are accepted, a step past either is refused naming the
 * flag and the bound as one would type it, never the wire's field. */
static void test_limit_flags(void **state)
{
    (void)state;
    static const struct {
        const char *flag, *min, *max, *under, *over, *said_under, *said_over;
        size_t offset;
        uint64_t min_value, max_value;
    } cases[] = {
        {"--wall-time", "100ms", "10m", "99ms", "700s", "minimum of 100ms", "maximum of 600s",
         offsetof(struct brig_limits, wall_ms), 100, 600000},
        {"--cpu-time", "0.1", "600s", "50ms", "601", "minimum of 100ms", "maximum of 600s",
         offsetof(struct brig_limits, cpu_ms), 100, 600000},
        {"--mem", "16M", "8G", "8M", "9G", "minimum of 16M", "maximum of 8G",
         offsetof(struct brig_limits, memory_bytes), 16 << 20, 8ull << 30},
        {"--pids", "1", "4096", "0", "4097", "minimum of 1", "maximum of 4096",
         offsetof(struct brig_limits, pids), 1, 4096},
        {"--cpus", "0.01", "64", "0", "64.5", "minimum of 0.01", "maximum of 64",
         offsetof(struct brig_limits, cpu_millis), 10, 64000},
        {"--output-limit", "1K", "8M", "1023", "9M", "minimum of 1K", "maximum of 8M",
         offsetof(struct brig_limits, output_bytes), 1024, 8 << 20},
        {"--fsize", "4K", "1G", "4095", "2G", "minimum of 4K", "maximum of 1G",
         offsetof(struct brig_limits, fsize_bytes), 4096, 1 << 30},
        {"--disk", "1M", "8G", "1K", "9G", "minimum of 1M", "maximum of 8G",
         offsetof(struct brig_limits, disk_bytes), 1 << 20, 8ull << 30},
        {"--tmp", "1M", "4G", "1K", "5G", "minimum of 1M", "maximum of 4G",
         offsetof(struct brig_limits, tmp_bytes), 1 << 20, 4ull << 30},
        {"--collect-limit", "1K", "4M", "512", "5M", "minimum of 1K", "maximum of 4M",
         offsetof(struct brig_limits, collect_bytes), 1024, 4 << 20},
    };
    /* each field of struct brig_limits once */
    assert_int_equal(ARRAY_SIZE(cases), sizeof(struct brig_limits) / sizeof(uint64_t));
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const char *values[] = {cases[i].min, cases[i].max};
        uint64_t expected[] = {cases[i].min_value, cases[i].max_value};
        for (size_t j = 0; j < 2; j++) {
            ARGS(argv, (char *)cases[i].flag, (char *)values[j], "/bin/true");
            if (parse(JOB_COMMAND_SUBMIT, ARGC(argv), argv) != 0)
                fail_msg("%s %s: %s", cases[i].flag, values[j], err);
            uint64_t set;
            memcpy(&set, (char *)&opts.job.limits + cases[i].offset, sizeof set);
            assert_int_equal(set, expected[j]);
            /* the flag's bounds are the schema's */
            struct brig_job job;
            if (job_options_build(&opts.job, &job, err, sizeof err) != 0)
                fail_msg("%s %s: %s", cases[i].flag, values[j], err);
            brig_job_free(&job);
        }
        const char *wrong[] = {cases[i].under, cases[i].over};
        const char *said[] = {cases[i].said_under, cases[i].said_over};
        for (size_t j = 0; j < 2; j++) {
            char expected_err[128];
            snprintf(expected_err, sizeof expected_err, "%s: %s is %s the %s", cases[i].flag,
                     wrong[j], j ? "over" : "under", said[j]);
            ARGS(argv, (char *)cases[i].flag, (char *)wrong[j], "/bin/true");
            assert_refused(JOB_COMMAND_RUN, ARGC(argv), argv, expected_err);
            assert_null(strstr(err, "limits."));
        }
    }
}

static void test_durations(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(cli_parse_duration_ms("250ms", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cli_parse_duration_ms("2", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(cli_parse_duration_ms("1.5s", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(cli_parse_duration_ms("10m", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 600000);
    assert_int_equal(cli_parse_duration_ms("1.5h", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(cli_parse_duration_ms("7d", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 604800000ull);
    const char *bad[] = {"", "m", "h", "1x", "-1s", "1sm", "5msm", "1.m", "99999999999999999999d"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (cli_parse_duration_ms(bad[i], &ms, err, sizeof err) == 0)
            fail_msg("\"%s\" was taken as %llu ms", bad[i], (unsigned long long)ms);
    }
}

/* ---- building jobs ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/brig-test-options-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    char command[128];
    teardown(state);
    snprintf(command, sizeof command, "rm -rf %s", tmpdir);
    return system(command) == 0 ? 0 : -1;
}

static void write_tmp(const char *name, const char *content, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
}

static int build(struct brig_job *job, int argc, char **argv)
{
    assert_int_equal(parse(JOB_COMMAND_SUBMIT, argc, argv), 0);
    err[0] = '\0';
    return job_options_build(&opts.job, job, err, sizeof err);
}

static void assert_build_refused(int argc, char **argv, const char *words)
{
    struct brig_job job;
    assert_int_equal(build(&job, argc, argv), -1);
    if (!strstr(err, words))
        fail_msg("got \"%s\", wanted \"%s\"", err, words);
}

static void test_build_files_and_env(void **state)
{
    (void)state;
    char code[256], data[256], renamed[256], input[256];
    write_tmp("main.py", "print(open('d/x.bin','rb').read())", 35);
    write_tmp("data.bin", "\x00\x01\x02", 3);
    write_tmp("in.txt", "stdin text", 10);
    snprintf(code, sizeof code, "%s/main.py", tmpdir);
    snprintf(data, sizeof data, "%s/data.bin", tmpdir);
    snprintf(renamed, sizeof renamed, "%s/data.bin:d/x.bin", tmpdir);
    snprintf(input, sizeof input, "%s/in.txt", tmpdir);
    setenv("TEST_PASSED_ON", "from here", 1);
    ARGS(argv, "--lang", "python", "--file", data, "--file", renamed, "--stdin", input, "--env",
         "A=1=2", "--env", "TEST_PASSED_ON", "--meta", "k=v", "--allow", "*.example.com:443",
         "--session", "s1", "--id", "job-1", "--no-logs", code);
    struct brig_job job;
    if (build(&job, ARGC(argv), argv) != 0)
        fail_msg("%s", err);
    assert_string_equal(job.id, "job-1");
    assert_string_equal(job.runtime, "python");
    assert_int_equal(job.code.len, 35);
    assert_int_equal(job.file_count, 2);
    assert_string_equal(job.files[0].path, "data.bin");
    assert_int_equal(job.files[0].content.len, 3);
    assert_memory_equal(job.files[0].content.data, "\x00\x01\x02", 3);
    assert_string_equal(job.files[1].path, "d/x.bin");
    assert_int_equal(job.stdin_data.len, 10);
    assert_string_equal(job.env[0].name, "A");
    assert_string_equal(job.env[0].value, "1=2");
    assert_string_equal(job.env[1].name, "TEST_PASSED_ON");
    assert_string_equal(job.env[1].value, "from here");
    assert_string_equal(job.metadata[0].name, "k");
    assert_int_equal(job.network.rule_count, 1);
    assert_string_equal(job.network.rules[0].host, "example.com");
    assert_string_equal(job.session, "s1");
    assert_false(job.stream_logs);
    brig_job_free(&job);

    ARGS(generated, "/bin/true");
    assert_int_equal(build(&job, ARGC(generated), generated), 0);
    assert_int_equal(strlen(job.id), 24);
    assert_true(job.stream_logs);
    assert_int_equal(job.argv_count, 1);
    brig_job_free(&job);
}

static void test_build_errors(void **state)
{
    (void)state;
    char missing[256], big[256], renamed[256];
    snprintf(missing, sizeof missing, "%s/no-such-file", tmpdir);
    ARGS(no_code, "--lang", "python", missing);
    assert_build_refused(ARGC(no_code), no_code, "code file");
    ARGS(no_stdin, "--stdin", missing, "/bin/true");
    assert_build_refused(ARGC(no_stdin), no_stdin, "No such file");
    ARGS(no_file, "--file", missing, "/bin/true");
    assert_build_refused(ARGC(no_file), no_file, "--file");

    /* one byte over what stdin may hold */
    size_t size = BRIG_STDIN_MAX_BYTES + 1;
    char *content = calloc(1, size);
    assert_non_null(content);
    write_tmp("big", content, size);
    free(content);
    snprintf(big, sizeof big, "%s/big", tmpdir);
    ARGS(too_big, "--stdin", big, "/bin/true");
    assert_build_refused(ARGC(too_big), too_big, "larger than");

    unsetenv("TEST_UNSET_NAME");
    ARGS(unset, "--env", "TEST_UNSET_NAME", "/bin/true");
    assert_build_refused(ARGC(unset), unset, "TEST_UNSET_NAME is not set here");
    ARGS(bad_meta, "--meta", "novalue", "/bin/true");
    assert_build_refused(ARGC(bad_meta), bad_meta, "--meta novalue: expected NAME=VALUE");
    ARGS(bad_rule, "--allow", "Example.COM", "/bin/true");
    assert_build_refused(ARGC(bad_rule), bad_rule, "--allow Example.COM");
    snprintf(renamed, sizeof renamed, "%s/big:", tmpdir);
    ARGS(empty_path, "--file", renamed, "/bin/true");
    assert_build_refused(ARGC(empty_path), empty_path, "expected LOCAL or LOCAL:PATH");
    ARGS(both_stdin, "--lang", "python", "--stdin", "-", "-");
    assert_build_refused(ARGC(both_stdin), both_stdin, "both come from standard input");
    /* the schema's own rules, named by field */
    ARGS(bad_env, "--env", "1X=v", "/bin/true");
    assert_build_refused(ARGC(bad_env), bad_env, "invalid job: env");
    ARGS(bad_id, "--id", "no spaces", "/bin/true");
    assert_build_refused(ARGC(bad_id), bad_id, "invalid job: id");
}

static void make_dir(const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (mkdir(path, 0755) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* --file DIR: every regular file below it, at DIR's name or the given PATH,
 * in name order; what a job cannot carry is refused naming the local path. */
static void test_build_file_trees(void **state)
{
    (void)state;
    char tree[256], renamed[256], slash[256], dot[256];
    make_dir("proj");
    make_dir("proj/sub");
    make_dir("proj/sub/deeper");
    make_dir("proj/empty");
    write_tmp("proj/b.txt", "b", 1);
    write_tmp("proj/a.txt", "a", 1);
    write_tmp("proj/.hidden", "h", 1);
    write_tmp("proj/sub/deeper/c.bin", "\x00\xff", 2);
    snprintf(tree, sizeof tree, "%s/proj", tmpdir);
    snprintf(renamed, sizeof renamed, "%s/proj:lib/p", tmpdir);
    snprintf(slash, sizeof slash, "%s/proj/", tmpdir);
    static const char *const paths[] = {".hidden", "a.txt", "b.txt", "sub/deeper/c.bin"};
    const char *specs[] = {tree, renamed, slash};
    const char *prefixes[] = {"proj/", "lib/p/", "proj/"};
    for (size_t i = 0; i < 3; i++) {
        ARGS(argv, "--file", (char *)specs[i], "/bin/true");
        struct brig_job job;
        if (build(&job, ARGC(argv), argv) != 0)
            fail_msg("--file %s: %s", specs[i], err);
        assert_int_equal(job.file_count, 4);
        for (size_t j = 0; j < 4; j++) {
            char expected[64];
            snprintf(expected, sizeof expected, "%s%s", prefixes[i], paths[j]);
            assert_string_equal(job.files[j].path, expected);
        }
        assert_int_equal(job.files[3].content.len, 2);
        assert_memory_equal(job.files[3].content.data, "\x00\xff", 2);
        brig_job_free(&job);
    }
    snprintf(dot, sizeof dot, "%s/proj/.", tmpdir);
    ARGS(unnamed, "--file", dot, "/bin/true");
    assert_build_refused(ARGC(unnamed), unnamed, "name the directory in the job");

    /* a link is never followed, nor anything but files and directories read */
    char where[512], spec[256];
    make_dir("linked");
    write_tmp("linked/real", "r", 1);
    snprintf(where, sizeof where, "%s/linked/link", tmpdir);
    assert_int_equal(symlink("/etc/passwd", where), 0);
    snprintf(spec, sizeof spec, "%s/linked", tmpdir);
    ARGS(link, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(link), link, "/linked/link is a symbolic link");
    make_dir("piped");
    snprintf(where, sizeof where, "%s/piped/fifo", tmpdir);
    assert_int_equal(mkfifo(where, 0644), 0);
    snprintf(spec, sizeof spec, "%s/piped", tmpdir);
    ARGS(fifo, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(fifo), fifo, "/piped/fifo is a FIFO: brig sends regular files only");

    /* the schema's bounds, named by local path */
    make_dir("many");
    for (int i = 0; i <= BRIG_FILES_MAX; i++) {
        char name[32];
        snprintf(name, sizeof name, "many/f%03d", i);
        write_tmp(name, "", 0);
    }
    snprintf(spec, sizeof spec, "%s/many", tmpdir);
    ARGS(many, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(many), many, "more than 256 files");
    make_dir("big");
    for (int i = 0; i < 2; i++) {
        snprintf(where, sizeof where, "%s/big/part%d", tmpdir, i);
        FILE *f = fopen(where, "w");
        assert_non_null(f);
        assert_int_equal(ftruncate(fileno(f), 9 << 20), 0);
        fclose(f);
    }
    snprintf(spec, sizeof spec, "%s/big", tmpdir);
    ARGS(big, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(big), big, "/big/part1: the input files would come to more than");
    make_dir("odd");
    write_tmp("odd/a\001b", "x", 1);
    snprintf(spec, sizeof spec, "%s/odd", tmpdir);
    ARGS(odd, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(odd), odd, "cannot be a path in the job: control character");
    char deep[2048];
    int n = snprintf(deep, sizeof deep, "deep");
    make_dir(deep);
    for (int i = 0; i < 6; i++) {
        n += snprintf(deep + n, sizeof deep - (size_t)n, "/%0200d", i);
        make_dir(deep);
    }
    write_tmp("deep/x", "x", 1);
    snprintf(spec, sizeof spec, "%s/deep", tmpdir);
    ARGS(too_deep, "--file", spec, "/bin/true");
    assert_build_refused(ARGC(too_deep), too_deep, "its path in the job would be over 1024 bytes");
}

static void test_exit_status(void **state)
{
    (void)state;
    struct {
        brig_status status;
        int exit_code, signal, expected;
    } cases[] = {
        {BRIG_STATUS_OK, 0, 0, 0},
        {BRIG_STATUS_FAILED, 3, 0, 3},
        {BRIG_STATUS_SIGNALED, 0, 9, 137},
        {BRIG_STATUS_TIMEOUT, 0, 9, CLI_EXIT_TIMEOUT},
        {BRIG_STATUS_CPU_TIMEOUT, 0, 9, CLI_EXIT_CPU_TIMEOUT},
        {BRIG_STATUS_OOM, 0, 9, CLI_EXIT_OOM},
        {BRIG_STATUS_OUTPUT_LIMIT, 0, 0, CLI_EXIT_OUTPUT_LIMIT},
        {BRIG_STATUS_SECCOMP, 0, 31, CLI_EXIT_SECCOMP},
        {BRIG_STATUS_COMPILE_ERROR, 1, 0, CLI_EXIT_COMPILE_ERROR},
        {BRIG_STATUS_SETUP_ERROR, 0, 0, CLI_EXIT_SETUP},
        {BRIG_STATUS_INTERNAL_ERROR, 0, 0, CLI_EXIT_SETUP},
        {BRIG_STATUS_REJECTED, 0, 0, BRIG_EXIT_REJECTED},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct brig_result r = {
            .status = cases[i].status,
            .has_exit_code = true,
            .exit_code = cases[i].exit_code,
            .signal = cases[i].signal,
        };
        assert_int_equal(result_exit_status(&r), cases[i].expected);
    }
    /* brig's own codes must not collide with brig-jail's */
    int own[] = {BRIG_EXIT_REJECTED, BRIG_EXIT_NO_ANSWER};
    int jail[] = {CLI_EXIT_USAGE,   CLI_EXIT_COMPILE_ERROR, CLI_EXIT_CPU_TIMEOUT,
                  CLI_EXIT_OOM,     CLI_EXIT_OUTPUT_LIMIT,  CLI_EXIT_SECCOMP,
                  CLI_EXIT_TIMEOUT, CLI_EXIT_SETUP};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < ARRAY_SIZE(jail); j++)
            assert_int_not_equal(own[i], jail[j]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_runtime_job, teardown),
        cmocka_unit_test_teardown(test_code_file_and_program_options, teardown),
        cmocka_unit_test_teardown(test_argv_job, teardown),
        cmocka_unit_test_teardown(test_common_options, teardown),
        cmocka_unit_test_teardown(test_bad_command_lines, teardown),
        cmocka_unit_test_teardown(test_limit_flags, teardown),
        cmocka_unit_test(test_durations),
        cmocka_unit_test_setup_teardown(test_build_files_and_env, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_build_errors, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_build_file_trees, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_exit_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
