/* What a job asks of the jail: limits with their defaults, the environment,
 * and the command line (argv then args; args alone for a runtime job). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "worker/job_spec.h"

static void test_argv_then_args(void **state)
{
    (void)state;
    const char *argv[] = {"echo"}, *args[] = {"a", "b c"};
    struct brig_job job = {.argv = argv, .argv_count = 1, .args = args, .args_count = 2};
    const char **command = job_command(&job);
    assert_non_null(command);
    assert_string_equal(command[0], "echo");
    assert_string_equal(command[1], "a");
    assert_string_equal(command[2], "b c");
    assert_null(command[3]);
    free(command);
}

static void test_runtime_job_passes_args_only(void **state)
{
    (void)state;
    const char *args[] = {"x"};
    struct brig_job job = {.runtime = "python", .args = args, .args_count = 1};
    const char **command = job_command(&job);
    assert_string_equal(command[0], "x");
    assert_null(command[1]);
    free(command);
    struct brig_job bare = {.runtime = "python"};
    command = job_command(&bare);
    assert_null(command[0]);
    free(command);
}

static void test_environment_before_job_after(void **state)
{
    (void)state;
    struct brig_pair env[] = {{.name = "A", .value = "1"}, {.name = "EMPTY", .value = ""}};
    const char *before[] = {"VIRTUAL_ENV=/work/.venv", NULL};
    const char *after[] = {"HTTP_PROXY=http://127.0.0.1:3128", NULL};
    struct brig_job job = {.env = env, .env_count = ARRAY_SIZE(env)};
    char **out = job_environment(&job, before, after);
    assert_string_equal(out[0], "VIRTUAL_ENV=/work/.venv");
    assert_string_equal(out[1], "A=1");
    assert_string_equal(out[2], "EMPTY=");
    assert_string_equal(out[3], "HTTP_PROXY=http://127.0.0.1:3128");
    assert_null(out[4]);
    free(out);
    out = job_environment(&job, NULL, NULL);
    assert_string_equal(out[0], "A=1");
    assert_null(out[2]);
    free(out);
}

static void test_limits_default_and_given(void **state)
{
    (void)state;
    struct brig_job job = {0};
    job.limits.wall_ms = 2000;
    job.limits.memory_bytes = 64u << 20;
    struct jail_limits limits;
    job_limits(&job, &limits);
    assert_int_equal(limits.wall_ms, 2000);
    assert_int_equal(limits.memory_bytes, 64u << 20);
    /* SCHEMA.md 5.1 defaults for the rest. */
    assert_int_equal(limits.cpu_ms, 10000);
    assert_int_equal(limits.pids, 64);
    assert_int_equal(limits.cpu_millis, 1000);
    assert_int_equal(limits.disk_bytes, 128u << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_then_args),
        cmocka_unit_test(test_runtime_job_passes_args_only),
        cmocka_unit_test(test_environment_before_job_after),
        cmocka_unit_test(test_limits_default_and_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
