/* brig audit over several stores: listings merged newest first with the
 * limit applied to the whole, filters, and show finding a job in whichever
 * store has it. The stores are written through the worker's own API; the
 * command's JSON output is read back from a file standing in for stdout. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "producer/commands.h"
#include "schema/schema.h"
#include "worker/audit.h"
#include "common/common.h"
#include "tests/unit/capture.h"

static char dir[64], err[512];

static void record_with(const char *db, const char *worker, const char *job_id, const char *runtime,
                        brig_status status, int exit_code, const msgpack_sbuffer *result)
{
    struct audit_store *store;
    int64_t attempt_id, number;
    struct brig_job job = {
        .id = job_id,
        .runtime = runtime,
        .code = {"print(1)", 8},
    };
    msgpack_sbuffer raw;
    struct brig_error error;
    msgpack_sbuffer_init(&raw);
    assert_int_equal(brig_job_encode(&job, &raw, &error), 0);
    if (audit_open(db, worker, &store, err, sizeof err) < 0 ||
        audit_record_job(store, job_id, 0, NULL, runtime, NULL, NULL, raw.data, raw.size, err,
                         sizeof err) < 0 ||
        audit_attempt_begin(store, job_id, 1700000000000, runtime, "3.11", "abc", NULL, &attempt_id,
                            &number, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct audit_outcome outcome = {
        .finished_ms = 1700000000100,
        .status = status,
        .exit_code = exit_code,
        .wall_us = 1000,
    };
    if (audit_attempt_end(store, attempt_id, &outcome, result ? result->data : NULL,
                          result ? result->size : 0, err, sizeof err) < 0 ||
        audit_close(store, err, sizeof err) < 0)
        fail_msg("%s", err);
    msgpack_sbuffer_destroy(&raw);
    /* created_ms is the recording time: keep the jobs apart */
    struct timespec pause = {0, 5000000};
    nanosleep(&pause, NULL);
}

static void record(const char *db, const char *worker, const char *job_id, const char *runtime,
                   brig_status status, int exit_code)
{
    record_with(db, worker, job_id, runtime, status, exit_code, NULL);
}

static int setup(void **state)
{
    (void)state;
    char db0[128], db1[128];
    snprintf(dir, sizeof dir, "/tmp/brig-test-audit-cli-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db0, sizeof db0, "%s/audit-0.db", dir);
    snprintf(db1, sizeof db1, "%s/audit-1.db", dir);
    record(db0, "w0", "job-a", "python", BRIG_STATUS_OK, 0);
    record(db1, "w1", "job-b", "sh", BRIG_STATUS_FAILED, 3);
    record(db0, "w0", "job-c", "python", BRIG_STATUS_TIMEOUT, -1);
    record(db1, "w1", "job-d", "python", BRIG_STATUS_OK, 0);
    return setenv("BRIG_DATA_DIR", dir, 1);
}

static int teardown(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    return system(command) == 0 ? 0 : -1;
}

/* Runs brig audit with argv and returns its stdout parsed as JSON. */
static json_t *audit_json(int *status, int argc, char **argv)
{
    char *text = capture_stdout(cmd_audit, argc, argv, status);
    json_error_t jerr;
    json_t *json = json_loads(text, JSON_DECODE_ANY, &jerr);
    free(text);
    return json;
}

static void assert_ids(json_t *rows, const char *expected)
{
    char got[256] = "";
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        strncat(got, i ? " " : "", sizeof got - strlen(got) - 1);
        strncat(got, json_string_value(json_object_get(row, "job_id")),
                sizeof got - strlen(got) - 1);
    }
    assert_string_equal(got, expected);
}

static void test_listing_merges_stores_newest_first(void **state)
{
    (void)state;
    int status;
    char *all[] = {"audit", "ls", "--json", NULL};
    json_t *rows = audit_json(&status, 3, all);
    assert_int_equal(status, 0);
    assert_non_null(rows);
    assert_ids(rows, "job-d job-c job-b job-a");
    json_t *b = json_array_get(rows, 2);
    assert_string_equal(json_string_value(json_object_get(b, "worker_id")), "w1");
    assert_non_null(strstr(json_string_value(json_object_get(b, "audit_db")), "audit-1.db"));
    assert_int_equal(json_integer_value(json_object_get(b, "exit_code")), 3);
    assert_true(json_is_null(json_object_get(json_array_get(rows, 1), "exit_code")));
    json_decref(rows);

    char *limited[] = {"audit", "ls", "--json", "--limit", "3", NULL};
    rows = audit_json(&status, 5, limited);
    assert_ids(rows, "job-d job-c job-b");
    json_decref(rows);

    char *ok_python[] = {"audit", "ls", "--json", "--status", "ok", "--lang", "python", NULL};
    rows = audit_json(&status, 7, ok_python);
    assert_ids(rows, "job-d job-a");
    json_decref(rows);

    char *one_store[] = {"audit", "ls", "--json", "--audit-db", NULL, NULL};
    char db1[128];
    snprintf(db1, sizeof db1, "%s/audit-1.db", dir);
    one_store[4] = db1;
    rows = audit_json(&status, 5, one_store);
    assert_ids(rows, "job-d job-b");
    json_decref(rows);
}

static void test_show_finds_the_store(void **state)
{
    (void)state;
    int status;
    char *show[] = {"audit", "show", "--json", "job-b", NULL};
    json_t *record = audit_json(&status, 4, show);
    assert_int_equal(status, 0);
    assert_non_null(record);
    assert_non_null(strstr(json_string_value(json_object_get(record, "audit_db")), "audit-1.db"));
    json_t *job = json_object_get(record, "job");
    assert_string_equal(json_string_value(json_object_get(job, "runtime")), "sh");
    assert_string_equal(json_string_value(json_object_get(job, "code")), "print(1)");
    json_t *attempt = json_array_get(json_object_get(record, "attempts"), 0);
    assert_string_equal(json_string_value(json_object_get(attempt, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(attempt, "policy_hash")), "abc");
    assert_string_equal(json_string_value(json_object_get(attempt, "runtime_version")), "3.11");
    assert_true(json_is_null(json_object_get(attempt, "result")));
    json_decref(record);

    char *missing[] = {"audit", "show", "--json", "job-z", NULL};
    record = audit_json(&status, 4, missing);
    assert_int_equal(status, 1);
    json_decref(record);
}

/* A job that named its runtime by an alias: show says what the result says
 * ran, not the name the job used. */
static void test_show_names_the_runtime_the_result_names(void **state)
{
    (void)state;
    char db[128];
    msgpack_sbuffer raw;
    struct brig_error error;
    struct brig_result result = {
        .id = "job-ts",
        .attempt = 1,
        .status = BRIG_STATUS_OK,
        .runtime_name = "typescript",
        .runtime_version = "Version 4.9.5",
    };
    msgpack_sbuffer_init(&raw);
    assert_int_equal(brig_result_encode(&result, &raw, &error), 0);
    snprintf(db, sizeof db, "%s/audit-0.db", dir);
    record_with(db, "w0", "job-ts", "ts", BRIG_STATUS_OK, 0, &raw);
    msgpack_sbuffer_destroy(&raw);
    int status;
    char *show[] = {"audit", "show", "job-ts", NULL};
    char *text = capture_stdout(cmd_audit, 3, show, &status);
    assert_int_equal(status, 0);
    if (!strstr(text, "  runtime    typescript Version 4.9.5\n"))
        fail_msg("%s", text);
    free(text);
}

/* brig audit sync's store in the data directory is read too; a job it has
 * more of than a worker's store is shown from it, and listed once. */
static void test_the_fleet_store_is_read_and_the_fuller_record_wins(void **state)
{
    (void)state;
    int status;
    char fleet[128];
    snprintf(fleet, sizeof fleet, "%s/fleet.db", dir);
    record(fleet, "w1", "job-b", "sh", BRIG_STATUS_FAILED, 3);
    record(fleet, "w2", "job-b", "sh", BRIG_STATUS_OK, 0);
    record(fleet, "w2", "job-e", "sh", BRIG_STATUS_OK, 0);

    char *all[] = {"audit", "ls", "--json", NULL};
    json_t *rows = audit_json(&status, 3, all);
    assert_int_equal(status, 0);
    assert_ids(rows, "job-e job-b job-ts job-d job-c job-a");
    json_t *b = json_array_get(rows, 1);
    assert_int_equal(json_integer_value(json_object_get(b, "attempts")), 2);
    assert_non_null(strstr(json_string_value(json_object_get(b, "audit_db")), "fleet.db"));
    json_decref(rows);

    char *show[] = {"audit", "show", "--json", "job-b", NULL};
    json_t *record = audit_json(&status, 4, show);
    assert_int_equal(status, 0);
    assert_non_null(strstr(json_string_value(json_object_get(record, "audit_db")), "fleet.db"));
    assert_int_equal(json_array_size(json_object_get(record, "attempts")), 2);
    json_decref(record);
    /* A job only a worker's store has is still found there. */
    char *show_a[] = {"audit", "show", "--json", "job-a", NULL};
    record = audit_json(&status, 4, show_a);
    assert_non_null(strstr(json_string_value(json_object_get(record, "audit_db")), "audit-0.db"));
    json_decref(record);
    unlink(fleet);
}

static void test_bad_audit_command_lines(void **state)
{
    (void)state;
    int status;
    char *cases[][6] = {
        {"audit", "list", NULL},
        {"audit", "ls", "extra", NULL},
        {"audit", "show", NULL},
        {"audit", "ls", "--since", "yesterday", NULL},
        {"audit", "ls", "--limit", "-1", NULL},
        {"audit", "ls", "--status", "fine", NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int argc = 0;
        while (cases[i][argc])
            argc++;
        json_decref(audit_json(&status, argc, cases[i]));
        assert_int_equal(status, 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing_merges_stores_newest_first),
        cmocka_unit_test(test_show_finds_the_store),
        cmocka_unit_test(test_show_names_the_runtime_the_result_names),
        cmocka_unit_test(test_bad_audit_command_lines),
        cmocka_unit_test(test_the_fleet_store_is_read_and_the_fuller_record_wins),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
