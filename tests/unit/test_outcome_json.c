/* The outcome record as JSON: every field, output that is not UTF-8, and the
 * file it is written to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/outcome_json.h"

static char out_text[] = "hello\n";
static char err_text[] = "bad \xff byte, cut \xe2\x82 sequence, ok \xe2\x82\xac";

static struct jail_outcome sample(void)
{
    struct jail_outcome outcome = {
        .status = BRIG_STATUS_SECCOMP,
        .exit_code = 0,
        .signal = 31,
        .wall_us = 1234567,
        .cpu_us = 890,
        .peak_memory_bytes = 5u << 20,
        .out = {out_text, sizeof(out_text) - 1, false},
        .err = {err_text, sizeof(err_text) - 1, true},
    };
    snprintf(outcome.syscall, sizeof(outcome.syscall), "unshare");
    return outcome;
}

static void test_every_field(void **state)
{
    struct jail_outcome outcome = sample();
    struct jail_limits limits = {.wall_ms = 2000, .memory_bytes = 64u << 20, .cpu_millis = 500};
    struct outcome_json_context context = {
        .runtime_name = "python",
        .runtime_version = "Python 3.11.2",
        .compiled = true,
        .compile_us = 4100,
        .policy_hash = "ab12",
        .cgroup_version = "v1",
        .limits = &limits,
    };
    json_t *record = outcome_to_json(&outcome, &context);
    (void)state;

    assert_non_null(record);
    assert_string_equal(json_string_value(json_object_get(record, "status")), "seccomp");
    assert_int_equal(json_integer_value(json_object_get(record, "exit_code")), 0);
    assert_int_equal(json_integer_value(json_object_get(record, "signal")), 31);
    assert_int_equal(json_integer_value(json_object_get(record, "wall_us")), 1234567);
    assert_int_equal(json_integer_value(json_object_get(record, "cpu_us")), 890);
    assert_int_equal(json_integer_value(json_object_get(record, "peak_memory_bytes")), 5u << 20);
    assert_string_equal(json_string_value(json_object_get(record, "stdout")), "hello\n");
    assert_int_equal(json_integer_value(json_object_get(record, "stdout_bytes")), 6);
    assert_true(json_is_false(json_object_get(record, "stdout_truncated")));
    assert_string_equal(json_string_value(json_object_get(record, "stderr")),
                        "bad \xef\xbf\xbd byte, cut \xef\xbf\xbd\xef\xbf\xbd sequence, ok "
                        "\xe2\x82\xac");
    assert_int_equal(json_integer_value(json_object_get(record, "stderr_bytes")),
                     sizeof(err_text) - 1);
    assert_true(json_is_true(json_object_get(record, "stderr_truncated")));
    assert_string_equal(json_string_value(json_object_get(record, "syscall")), "unshare");
    assert_true(json_is_null(json_object_get(record, "message")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(record, "runtime"), "name")), "python");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(record, "runtime"), "version")),
        "Python 3.11.2");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(record, "runtime"), "compile_us")),
        4100);
    assert_string_equal(json_string_value(json_object_get(record, "policy_hash")), "ab12");
    assert_string_equal(json_string_value(json_object_get(record, "cgroup_version")), "v1");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(record, "limits"), "memory_bytes")),
        64u << 20);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(record, "limits"), "cpu_millis")), 500);
    assert_int_equal(json_object_size(json_object_get(record, "limits")), 11);
    assert_int_equal(json_object_size(record), 18);
    json_decref(record);
}

static void test_without_runtime_or_output(void **state)
{
    struct jail_outcome outcome = {.status = BRIG_STATUS_SETUP_ERROR};
    struct outcome_json_context context = {0};
    json_t *record;
    (void)state;

    snprintf(outcome.message, sizeof(outcome.message), "mounting /work: Permission denied");
    record = outcome_to_json(&outcome, &context);
    assert_non_null(record);
    assert_string_equal(json_string_value(json_object_get(record, "status")), "setup_error");
    assert_string_equal(json_string_value(json_object_get(record, "stdout")), "");
    assert_int_equal(json_integer_value(json_object_get(record, "stdout_bytes")), 0);
    assert_true(json_is_null(json_object_get(record, "runtime")));
    assert_true(json_is_null(json_object_get(record, "syscall")));
    assert_true(json_is_null(json_object_get(record, "limits")));
    assert_true(json_is_null(json_object_get(record, "policy_hash")));
    assert_string_equal(json_string_value(json_object_get(record, "message")),
                        "mounting /work: Permission denied");
    json_decref(record);
}

static void test_binary_output(void **state)
{
    static char bytes[] = {'\0', 'a', '\x80', '\xc0', '\xaf', '\xed', '\xa0', '\x80', 'z'};
    struct jail_outcome outcome = {.status = BRIG_STATUS_OK};
    struct outcome_json_context context = {0};
    json_t *record, *text;
    (void)state;

    outcome.out = (struct jail_capture){bytes, sizeof(bytes), false};
    record = outcome_to_json(&outcome, &context);
    assert_non_null(record);
    text = json_object_get(record, "stdout");
    /* NUL survives; each of the six bytes of overlong and surrogate forms is replaced. */
    assert_int_equal(json_string_length(text), 2 + 6 * 3 + 1);
    assert_memory_equal(json_string_value(text), "\0a\xef\xbf\xbd", 5);
    assert_int_equal(json_string_value(text)[json_string_length(text) - 1], 'z');
    assert_int_equal(json_integer_value(json_object_get(record, "stdout_bytes")), sizeof(bytes));
    json_decref(record);
}

static void test_write_file(void **state)
{
    char path[] = "/tmp/brig-test-outcome-XXXXXX";
    struct jail_outcome outcome = sample();
    struct outcome_json_context context = {0};
    char err[256];
    json_error_t json_error;
    json_t *back;
    FILE *file;
    char last = 0;
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(outcome_json_write(path, &outcome, &context, err, sizeof(err)), 0);
    back = json_load_file(path, 0, &json_error);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "status")), "seccomp");
    json_decref(back);
    file = fopen(path, "r");
    assert_non_null(file);
    assert_int_equal(fseek(file, -1, SEEK_END), 0);
    assert_int_equal(fread(&last, 1, 1, file), 1);
    assert_int_equal(last, '\n');
    fclose(file);
    unlink(path);

    assert_int_equal(
        outcome_json_write("/nonexistent/dir/o.json", &outcome, &context, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "opening /nonexistent/dir/o.json for writing: No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_without_runtime_or_output),
        cmocka_unit_test(test_binary_output),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
