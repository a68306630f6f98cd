/* runtime_run and runtime_version against real jails: the compile step and
 * the run share a workspace that the caller may keep, compile errors carry
 * the compiler's output, compile limits are a floor, only the run is passed
 * through, versions are cached. Needs root, like every jail. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/runtime.h"

static struct jail_context *ctx;
static struct runtime_table *table;
static char err[512];

/* Test JSON is written with ' for " to stay readable. */
static const char table_text[] =
    "{'runtimes':["
    "{'name':'c','source':'main.c',"
    " 'compile':{'argv':['gcc','-o','main','main.c']},"
    " 'run':['/work/main'],'version':['gcc','--version']},"
    "{'name':'noisy','source':'main.sh',"
    " 'compile':{'argv':['sh','-c','echo compiling; echo warning >&2; cp main.sh prog.sh']},"
    " 'run':['sh','prog.sh'],'version':['sh','-c','echo noisy 1']},"
    "{'name':'broken','source':'main.sh',"
    " 'compile':{'argv':['sh','-c','echo to-out; echo to-err >&2; exit 3']},"
    " 'run':['sh','main.sh'],'version':['sh','-c','echo broken 1']},"
    "{'name':'slow','source':'main.sh',"
    " 'compile':{'argv':['sleep','1.5'],'limits':{'wall_time':'60s'}},"
    " 'run':['sh','main.sh'],'version':['sh','-c','echo slow 1']},"
    "{'name':'clock','source':'main.sh','run':['sh','main.sh'],"
    " 'version':['sh','-c','echo clock $(cat /proc/sys/kernel/random/uuid)']},"
    "{'name':'versionless','source':'main.sh','run':['sh','main.sh'],"
    " 'version':['sh','-c','echo nothing >&2; exit 4']}"
    "]}";

static int setup(void **state)
{
    struct jail_context_config config = {.max_jails = 2};
    char *json = strdup(table_text);
    (void)state;

    if (geteuid() != 0) {
        fprintf(stderr, "test_runtime_run: skipped, jails need root\n");
        free(json);
        return 0;
    }
    for (char *c = json; *c != '\0'; c++) {
        if (*c == '\'')
            *c = '"';
    }
    if (runtime_table_parse(json, strlen(json), "test.json", &table, err, sizeof(err)) != 0 ||
        jail_context_new(&config, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_runtime_run: %s\n", err);
        free(json);
        return -1;
    }
    free(json);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    runtime_table_free(table);
    if (ctx != NULL)
        jail_context_free(ctx);
    return 0;
}

static struct jail_spec default_spec(void)
{
    struct jail_spec spec = {0};
    jail_limits_default(&spec.limits);
    return spec;
}

#define NEEDS_JAIL()                                                                               \
    do {                                                                                           \
        if (ctx == NULL)                                                                           \
            skip();                                                                                \
    } while (0)

static void test_caller_keeps_the_workspace(void **state)
{
    static const char code[] = "#include <stdio.h>\n"
                               "int main(int argc, char **argv) {\n"
                               "    FILE *f = fopen(\"/work/out.txt\", \"w\");\n"
                               "    fprintf(f, \"%d %s\", argc, argv[1]);\n"
                               "    return fclose(f) != 0;\n"
                               "}\n";
    static const char *const args[] = {"first", NULL};
    struct jail_spec spec = default_spec();
    struct runtime_outcome outcome;
    struct jail_workspace *ws;
    char buf[64] = "";
    int fd;
    (void)state;
    NEEDS_JAIL();

    assert_int_equal(jail_workspace_new(ctx, 16u << 20, &ws, err, sizeof(err)), 0);
    spec.workspace = ws;
    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "c"), code, strlen(code), args, &spec, &outcome), 0);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_OK);
    assert_non_null(strstr(outcome.version, "gcc"));

    fd = openat(jail_workspace_dirfd(ws), "out.txt", O_RDONLY | O_NOFOLLOW);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 7);
    close(fd);
    assert_string_equal(buf, "2 first");
    /* The compile step's output is there too, for the caller to collect. */
    fd = openat(jail_workspace_dirfd(ws), "main", O_RDONLY | O_NOFOLLOW);
    assert_true(fd >= 0);
    close(fd);
    jail_outcome_free(&outcome.jail);
    jail_workspace_free(ws);
}

static void test_compile_error_carries_the_compiler_output(void **state)
{
    struct jail_spec spec = default_spec();
    struct runtime_outcome outcome;
    (void)state;
    NEEDS_JAIL();

    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "broken"), "echo never", 10, NULL, &spec, &outcome),
        0);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_COMPILE_ERROR);
    assert_int_equal(outcome.jail.exit_code, 3);
    assert_string_equal(outcome.jail.err.data, "to-err\nto-out\n");
    assert_int_equal(outcome.jail.err.len, 14);
    assert_int_equal(outcome.jail.out.len, 0);
    assert_string_equal(outcome.jail.out.data, "");
    assert_string_equal(outcome.jail.message, "sh exited with status 3");
    assert_string_equal(outcome.version, "broken 1");
    jail_outcome_free(&outcome.jail);
}

struct seen {
    char text[256];
    size_t len;
};

static void collect(void *ctx_, enum jail_stream stream, const char *data, size_t len)
{
    struct seen *seen = ctx_;
    (void)stream;
    if (seen->len + len < sizeof(seen->text)) {
        memcpy(seen->text + seen->len, data, len);
        seen->len += len;
    }
}

static void test_only_the_run_is_passed_through(void **state)
{
    static const char code[] = "read line; echo \"running $1 $line\"";
    static const char *const args[] = {"with-arg", NULL};
    struct jail_spec spec = default_spec();
    struct runtime_outcome outcome;
    struct seen seen = {0};
    (void)state;
    NEEDS_JAIL();

    spec.on_output = collect;
    spec.output_ctx = &seen;
    spec.stdin_data = "from stdin\n";
    spec.stdin_len = 11;
    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "noisy"), code, strlen(code), args, &spec, &outcome),
        0);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_OK);
    assert_string_equal(outcome.jail.out.data, "running with-arg from stdin\n");
    assert_string_equal(seen.text, "running with-arg from stdin\n");
    jail_outcome_free(&outcome.jail);
}

static void test_compile_limits_are_a_floor(void **state)
{
    struct jail_spec spec = default_spec();
    struct runtime_outcome outcome;
    (void)state;
    NEEDS_JAIL();

    /* The compile step sleeps past the caller's wall time, within its own. */
    spec.limits.wall_ms = 1000;
    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "slow"), "echo ran", 8, NULL, &spec, &outcome), 0);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_OK);
    assert_string_equal(outcome.jail.out.data, "ran\n");
    jail_outcome_free(&outcome.jail);

    /* The program itself still runs under the caller's. */
    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "slow"), "sleep 30", 8, NULL, &spec, &outcome), 0);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_TIMEOUT);
    jail_outcome_free(&outcome.jail);
}

static void test_version_is_cached(void **state)
{
    struct runtime *clock = runtime_find(table, "clock");
    char first[128], second[128];
    (void)state;
    NEEDS_JAIL();

    assert_int_equal(runtime_version(ctx, clock, first, sizeof(first), err, sizeof(err)), 0);
    assert_int_equal(strncmp(first, "clock ", 6), 0);
    assert_true(strlen(first) > 20);
    assert_int_equal(runtime_version(ctx, clock, second, sizeof(second), err, sizeof(err)), 0);
    assert_string_equal(first, second);
}

static void test_setup_errors(void **state)
{
    struct jail_spec spec = default_spec();
    struct runtime_outcome outcome;
    (void)state;
    NEEDS_JAIL();

    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "versionless"), "true", 4, NULL, &spec, &outcome), -1);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_SETUP_ERROR);
    assert_string_equal(outcome.jail.message,
                        "runtime versionless: the version command failed: sh exited with status 4");
    jail_outcome_free(&outcome.jail);

    spec.workdir = "/tmp";
    assert_int_equal(
        runtime_run(ctx, runtime_find(table, "noisy"), "true", 4, NULL, &spec, &outcome), -1);
    assert_int_equal(outcome.jail.status, BRIG_STATUS_SETUP_ERROR);
    assert_non_null(strstr(outcome.jail.message, "not a workdir"));
    jail_outcome_free(&outcome.jail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caller_keeps_the_workspace),
        cmocka_unit_test(test_compile_error_carries_the_compiler_output),
        cmocka_unit_test(test_only_the_run_is_passed_through),
        cmocka_unit_test(test_compile_limits_are_a_floor),
        cmocka_unit_test(test_version_is_cached),
        cmocka_unit_test(test_setup_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
