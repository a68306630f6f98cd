/* brig replay's verdict: which fields of two results differ, and how each
 * difference is described. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "producer/result_compare.h"

static struct brig_file original_files[] = {
    {"out/a.txt", {"alpha", 5}},
    {"out/b.txt", {"beta", 4}},
};

static struct brig_result base(void)
{
    return (struct brig_result){
        .id = "j1",
        .attempt = 1,
        .status = BRIG_STATUS_OK,
        .has_exit_code = true,
        .exit_code = 0,
        .stdout_data = {"42\n", 3},
        .stderr_data = {"", 0},
        .files = original_files,
        .file_count = 2,
        .has_usage = true,
        .wall_us = 1000,
        .worker_id = "w1",
    };
}

static long compare(const struct brig_result *a, const struct brig_result *b,
                    struct result_difference **diffs)
{
    long n = result_compare(a, b, diffs);
    assert_true(n >= 0);
    return n;
}

static void test_identical_runs_reproduce(void **state)
{
    (void)state;
    struct brig_result a = base(), b = base();
    struct brig_file reordered[] = {original_files[1], original_files[0]};
    /* what is expected to change between runs is not compared */
    b.id = "j2";
    b.attempt = 3;
    b.wall_us = 99999;
    b.worker_id = "w2";
    b.files = reordered;
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 0);
    assert_null(diffs);
}

static void test_outcome_differences(void **state)
{
    (void)state;
    struct brig_result a = base(), b = base();
    b.status = BRIG_STATUS_SIGNALED;
    b.has_exit_code = false;
    b.signal = 9;
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 3);
    assert_string_equal(diffs[0].field, "status");
    assert_string_equal(diffs[0].original, "ok");
    assert_string_equal(diffs[0].replay, "signaled");
    assert_string_equal(diffs[1].field, "exit_code");
    assert_string_equal(diffs[1].original, "0");
    assert_string_equal(diffs[1].replay, "none");
    assert_string_equal(diffs[2].field, "signal");
    assert_string_equal(diffs[2].original, "none");
    assert_string_equal(diffs[2].replay, "9");
    free(diffs);
}

static void test_output_differences(void **state)
{
    (void)state;
    struct brig_result a = base(), b = base();
    b.stdout_data = (struct brig_bytes){"43\n", 3};
    b.stderr_data = (struct brig_bytes){"warning", 7};
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 2);
    assert_string_equal(diffs[0].field, "stdout");
    assert_string_equal(diffs[0].detail, "first difference at byte 1");
    /* same length, different content: the hash tells them apart */
    assert_non_null(strstr(diffs[0].original, "3 bytes, sha256 "));
    assert_string_not_equal(diffs[0].original, diffs[0].replay);
    assert_string_equal(diffs[1].field, "stderr");
    assert_string_equal(diffs[1].original,
                        "0 bytes, sha256 e3b0c44298fc1c14"); /* SHA-256 of nothing */
    assert_string_equal(diffs[1].detail, "first difference at byte 0");
    free(diffs);
}

static void test_file_differences(void **state)
{
    (void)state;
    struct brig_result a = base(), b = base();
    struct brig_file replay_files[] = {
        {"out/b.txt", {"BETA", 4}},
        {"out/c.txt", {"new", 3}},
    };
    b.files = replay_files;
    b.file_count = 2;
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 3);
    assert_string_equal(diffs[0].field, "files[\"out/a.txt\"]");
    assert_string_equal(diffs[0].replay, "absent");
    assert_non_null(strstr(diffs[0].original, "5 bytes"));
    assert_string_equal(diffs[1].field, "files[\"out/b.txt\"]");
    assert_string_equal(diffs[1].detail, "first difference at byte 0");
    assert_string_equal(diffs[2].field, "files[\"out/c.txt\"]");
    assert_string_equal(diffs[2].original, "absent");
    free(diffs);
}

static struct brig_file figure[] = {{"text/plain", {"<Figure>", 8}}, {"image/png", {"PNG1", 4}}};
static struct brig_file value[] = {{"text/plain", {"42", 2}}};
static struct brig_output cell_outputs[] = {{"display", figure, 2}, {"result", value, 1}};

static struct brig_result cell(void)
{
    struct brig_result r = base();
    r.has_exit_code = false;
    r.files = NULL;
    r.file_count = 0;
    r.outputs = cell_outputs;
    r.output_count = 2;
    r.has_interpreter = true;
    r.execution_count = 3;
    return r;
}

static void test_identical_cells_reproduce(void **state)
{
    (void)state;
    struct brig_result a = cell(), b = cell();
    const char *frames[] = {"  File \"<cell 3>\", line 1\n"};
    /* what tells runs apart without being the code's doing */
    b.execution_count = 7;
    b.interpreter_started = true;
    b.traceback = frames;
    b.traceback_count = 1;
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 0);
}

static void test_cell_differences(void **state)
{
    (void)state;
    struct brig_result a = cell(), b = cell();
    struct brig_file other_figure[] = {{"image/png", {"PNG2", 4}},
                                       {"text/plain", {"<Figure>", 8}},
                                       {"image/svg+xml", {"<svg/>", 6}}};
    struct brig_output replay_outputs[] = {{"display", other_figure, 3}, {"display", value, 1}};
    b.outputs = replay_outputs;
    b.status = BRIG_STATUS_FAILED;
    b.exception_name = "ValueError";
    b.exception_value = "random";
    b.state_lost = true;
    struct result_difference *diffs;
    assert_int_equal(compare(&a, &b, &diffs), 7);
    const char *fields[] = {"status",
                            "exception.name",
                            "exception.value",
                            "outputs[1][\"image/png\"]",
                            "outputs[1][\"image/svg+xml\"]",
                            "outputs[2].kind",
                            "interpreter.state_lost"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(diffs[i].field, fields[i]);
    assert_string_equal(diffs[1].original, "none");
    assert_string_equal(diffs[1].replay, "ValueError");
    /* images by digest */
    assert_non_null(strstr(diffs[3].original, "4 bytes, sha256 "));
    assert_string_not_equal(diffs[3].original, diffs[3].replay);
    assert_string_equal(diffs[4].original, "absent");
    assert_string_equal(diffs[5].original, "result");
    assert_string_equal(diffs[5].replay, "display");
    free(diffs);

    /* an output on one side only */
    b = cell();
    b.output_count = 1;
    assert_int_equal(compare(&a, &b, &diffs), 1);
    assert_string_equal(diffs[0].field, "outputs[2]");
    assert_string_equal(diffs[0].original, "result: text/plain");
    assert_string_equal(diffs[0].replay, "absent");
    free(diffs);
}

static void test_describe_data(void **state)
{
    (void)state;
    char buf[96];
    describe_data("abc", 3, buf, sizeof buf);
    assert_string_equal(buf, "3 bytes, sha256 ba7816bf8f01cfea");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_runs_reproduce),
        cmocka_unit_test(test_outcome_differences),
        cmocka_unit_test(test_output_differences),
        cmocka_unit_test(test_file_differences),
        cmocka_unit_test(test_identical_cells_reproduce),
        cmocka_unit_test(test_cell_differences),
        cmocka_unit_test(test_describe_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
