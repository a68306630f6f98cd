/* brig session show over several stores: a session's cells and process
 * jobs in the order they came, each once, with their code, outputs and
 * exceptions; and the hint brig run takes from the same stores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/common.h"
#include "producer/commands.h"
#include "producer/session_jobs.h"
#include "schema/schema.h"
#include "tests/unit/capture.h"
#include "tests/unit/tree.h"
#include "worker/audit.h"

static char dir[64], err[512];
static int64_t clock_ms = 1700000000000;

/* Records job (its id and session set) and, unless result is NULL, a
 * finished attempt with result. Each job comes a second after the last. */
static void record(const char *store_name, const struct brig_job *job,
                   const struct brig_result *result)
{
    char db[128];
    struct audit_store *store;
    struct audit_message message = {
        .topic = "brig.jobs",
        .partition = 0,
        .offset = clock_ms - 1700000000000,
        .received_ms = clock_ms,
        .payload = "",
    };
    msgpack_sbuffer raw, encoded;
    struct brig_error error;
    int64_t message_id, attempt_id, number;
    snprintf(db, sizeof db, "%s/%s", dir, store_name);
    msgpack_sbuffer_init(&raw);
    msgpack_sbuffer_init(&encoded);
    assert_int_equal(brig_job_encode(job, &raw, &error), 0);
    if (result)
        assert_int_equal(brig_result_encode(result, &encoded, &error), 0);
    if (audit_open(db, "w", &store, err, sizeof err) < 0 ||
        audit_record_message(store, &message, &message_id, err, sizeof err) < 0 ||
        audit_record_job(store, job->id, message_id, NULL, job->runtime, job->session, NULL,
                         raw.data, raw.size, err, sizeof err) < 0 ||
        audit_attempt_begin(store, job->id, clock_ms, job->runtime, "3.11", "abc", NULL,
                            &attempt_id, &number, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct audit_outcome outcome = {
        .finished_ms = clock_ms + 10,
        .status = result ? result->status : BRIG_STATUS_OK,
        .exit_code = result && result->has_exit_code ? result->exit_code : -1,
    };
    if ((result && audit_attempt_end(store, attempt_id, &outcome, encoded.data, encoded.size, err,
                                     sizeof err) < 0) ||
        audit_close(store, err, sizeof err) < 0)
        fail_msg("%s", err);
    msgpack_sbuffer_destroy(&raw);
    msgpack_sbuffer_destroy(&encoded);
    clock_ms += 1000;
}

static void cell(const char *store, const char *id, const char *session, const char *code,
                 struct brig_result *result)
{
    struct brig_job job = {
        .id = id,
        .runtime = "python",
        .code = {code, strlen(code)},
        .session = session,
    };
    result->id = id;
    result->attempt = 1;
    result->session = session;
    result->has_interpreter = true;
    result->runtime_name = "python";
    record(store, &job, result);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/brig-test-session-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    struct brig_result first = {
        .status = BRIG_STATUS_OK, .interpreter_started = true, .execution_count = 1};
    cell("audit-0.db", "c1", "nb1", "x = 41\nimport os\n\x1b[2Jy = 2\nz = 3\n", &first);

    struct brig_job process = {.id = "p1",
                               .argv = (const char *const[]){"pip", "install", "tabulate"},
                               .argv_count = 3,
                               .session = "nb1"};
    struct brig_result process_result = {
        .id = "p1", .attempt = 1, .status = BRIG_STATUS_OK, .has_exit_code = true};
    record("audit-1.db", &process, &process_result);

    struct brig_job elsewhere = {
        .id = "o1", .runtime = "python", .code = {"1", 1}, .session = "other"};
    record("audit-1.db", &elsewhere, NULL);

    struct brig_file value[] = {{"text/plain", {"42", 2}}};
    struct brig_file figure[] = {{"text/plain", {"<Figure>", 8}}, {"image/png", {"\x89PNG", 4}}};
    struct brig_output outputs[] = {{"display", figure, 2}, {"result", value, 1}};
    struct brig_result second = {
        .status = BRIG_STATUS_OK, .outputs = outputs, .output_count = 2, .execution_count = 2};
    cell("audit-0.db", "c2", "nb1", "x + 1", &second);
    /* brig audit sync's store has it too: listed once */
    cell("fleet.db", "c2", "nb1", "x + 1", &second);

    struct brig_result third = {.status = BRIG_STATUS_FAILED,
                                .exception_name = "ZeroDivisionError",
                                /* hostile: it must not drive the terminal */
                                .exception_value = "division by zero\x1b]0;t\x07\nsecond",
                                .execution_count = 3,
                                .state_lost = true};
    cell("audit-1.db", "c3", "nb1", "1/0", &third);

    /* a session whose first job is a process: its first cell loses nothing */
    process.id = "p2";
    process.session = "pip-first";
    process_result.id = "p2";
    record("audit-0.db", &process, &process_result);
    struct brig_result fresh = {.status = BRIG_STATUS_OK, .interpreter_started = true};
    cell("audit-0.db", "c5", "pip-first", "import tabulate", &fresh);
    return setenv("BRIG_DATA_DIR", dir, 1);
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(dir);
}

static json_t *json_lines(const char *text)
{
    json_t *rows = json_array();
    json_error_t jerr;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        json_t *row = json_loadb(line, (size_t)(end - line), 0, &jerr);
        if (!row)
            fail_msg("not JSON: %.*s", (int)(end - line), line);
        json_array_append_new(rows, row);
        line = end + 1;
    }
    return rows;
}

static const char *field(json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static void test_cells_in_order_as_json(void **state)
{
    (void)state;
    int status;
    char *argv[] = {"show", "--json", "nb1", NULL};
    char *text = capture_stdout(cmd_session_show, 3, argv, &status);
    assert_int_equal(status, 0);
    json_t *rows = json_lines(text);
    free(text);
    assert_int_equal(json_array_size(rows), 4);
    const char *ids[] = {"c1", "p1", "c2", "c3"};
    const char *kinds[] = {"cell", "process", "cell", "cell"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(field(json_array_get(rows, i), "job_id"), ids[i]);
        assert_string_equal(field(json_array_get(rows, i), "kind"), kinds[i]);
    }
    json_t *c1 = json_array_get(rows, 0), *p1 = json_array_get(rows, 1);
    json_t *c2 = json_array_get(rows, 2), *c3 = json_array_get(rows, 3);
    assert_true(json_is_true(json_object_get(c1, "started")));
    assert_int_equal(json_integer_value(json_object_get(c1, "execution_count")), 1);
    assert_string_equal(field(c1, "code"), "x = 41\nimport os\n\x1b[2Jy = 2\nz = 3\n");
    assert_string_equal(json_string_value(json_array_get(json_object_get(p1, "argv"), 2)),
                        "tabulate");
    assert_int_equal(json_integer_value(json_object_get(p1, "exit_code")), 0);
    json_t *png = json_array_get(
        json_object_get(json_array_get(json_object_get(c2, "outputs"), 0), "types"), 1);
    assert_string_equal(field(png, "mime"), "image/png");
    assert_int_equal(json_integer_value(json_object_get(png, "bytes")), 4);
    assert_int_equal(strlen(field(png, "sha256")), 64);
    assert_string_equal(field(c3, "status"), "failed");
    assert_string_equal(field(json_object_get(c3, "exception"), "name"), "ZeroDivisionError");
    assert_true(json_is_true(json_object_get(c3, "state_lost")));
    json_decref(rows);
}

static void test_cells_as_text(void **state)
{
    (void)state;
    int status;
    char *argv[] = {"show", "--lines", "2", "nb1", NULL};
    char *text = capture_stdout(cmd_session_show, 4, argv, &status);
    assert_int_equal(status, 0);
    const char *expected[] = {
        "session nb1: 4 jobs\n",
        "cell [1]   c1  ",
        " python  ok · new interpreter\n    > x = 41\n    > import os\n"
        "    > ... (2 more lines)\n",
        "process    p1  ",
        " (argv)  ok · exit 0\n    $ pip install tabulate\n",
        "cell [2]   c2  ",
        "    > x + 1\n    output 1 (display): text/plain 8 B, image/png 4 B\n"
        "    output 2 (result): text/plain 2 B\n",
        " python  failed · interpreter ended\n    > 1/0\n"
        "    ! ZeroDivisionError: division by zero?]0;t? ...\n",
    };
    const char *at = text;
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        const char *found = strstr(at, expected[i]);
        if (!found)
            fail_msg("\"%s\" not in order in:\n%s", expected[i], text);
        at = found + strlen(expected[i]);
    }
    free(text);

    /* all the lines: the escape sequences the code and the exception hold
     * are not sent to the terminal */
    char *all[] = {"show", "--lines", "0", "nb1", NULL};
    text = capture_stdout(cmd_session_show, 4, all, &status);
    assert_non_null(strstr(text, "    > ?[2Jy = 2\n    > z = 3\n"));
    assert_null(strchr(text, '\x1b'));
    free(text);
}

static void test_unknown_session_and_bad_lines(void **state)
{
    (void)state;
    int status;
    char *argv[] = {"show", "nobody", NULL};
    free(capture_stdout(cmd_session_show, 2, argv, &status));
    assert_int_equal(status, 1);
    char *bad[][4] = {{"show", NULL}, {"show", "a", "b", NULL}, {"show", "--lines", "x", NULL}};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int argc = 0;
        while (bad[i][argc])
            argc++;
        free(capture_stdout(cmd_session_show, argc, bad[i], &status));
        assert_int_equal(status, 2);
    }
}

static void test_earlier_cells_hint(void **state)
{
    (void)state;
    assert_false(session_had_earlier_cells("nb1", "c1", "python"));
    assert_true(session_had_earlier_cells("nb1", "c3", "python"));
    /* another runtime's interpreter is another interpreter */
    assert_false(session_had_earlier_cells("nb1", "c3", "javascript"));
    /* not recorded yet: the session's recorded jobs came before it */
    assert_true(session_had_earlier_cells("nb1", "c4", "python"));
    /* a process before the first cell held no interpreter state */
    assert_false(session_had_earlier_cells("pip-first", "c5", "python"));
    assert_false(session_had_earlier_cells("new-session", "n1", "python"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells_in_order_as_json),
        cmocka_unit_test(test_cells_as_text),
        cmocka_unit_test(test_unknown_session_and_bad_lines),
        cmocka_unit_test(test_earlier_cells_hint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
