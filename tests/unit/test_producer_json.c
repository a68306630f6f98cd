/* brig's JSON: jobs from `brig submit --batch` lines (every error path names
 * its line and field), jobs and results back to JSON, and binary data as
 * text or {"base64": ...}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "producer/batch.h"
#include "producer/job_json.h"
#include "producer/json_bytes.h"
#include "producer/result_json.h"

static char err[1024];

/* Reads text as a batch file. */
static int read_batch(const char *text, struct batch *batch)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(in);
    err[0] = '\0';
    int rc = batch_read(in, batch, err, sizeof err);
    fclose(in);
    return rc;
}

/* One line must be refused with a message holding each of the words. */
static void assert_bad_line(const char *text, const char *line_and_field, const char *reason)
{
    struct batch batch;
    assert_int_equal(read_batch(text, &batch), -1);
    if (!strstr(err, line_and_field) || !strstr(err, reason))
        fail_msg("for %s: got \"%s\", wanted \"%s\" and \"%s\"", text, err, line_and_field, reason);
    assert_int_equal(batch.count, 0);
    assert_null(batch.jobs);
}

static void test_batch_good_lines(void **state)
{
    (void)state;
    struct batch batch;
    const char *text =
        "{\"runtime\": \"python\", \"code\": \"print(1)\", \"args\": [\"a\", \"b\"],"
        " \"stdin\": \"in\", \"env\": {\"K\": \"v\"}, \"limits\": {\"wall_ms\": 2000,"
        " \"memory_bytes\": 67108864}, \"stream_logs\": true, \"metadata\": {\"who\": \"me\"}}\n"
        "\n"
        "   \n"
        "{\"v\": 1, \"id\": \"job-2\", \"argv\": [\"/bin/cat\", \"x\"],"
        " \"files\": {\"x\": \"text\", \"d/b.bin\": {\"base64\": \"AAEC/w==\"}},"
        " \"stdin\": {\"base64\": \"\"}, \"session\": \"s1\", \"collect\": [\"out/*\"],"
        " \"network\": {\"allow\": [\"*.example.com:443\", \"10.0.0.1\"]},"
        " \"deadline_ms\": 1800000000000, \"replay_of\": \"old\", \"reply_topic\": \"mine\"}\n";
    assert_int_equal(read_batch(text, &batch), 0);
    assert_int_equal(batch.count, 2);
    assert_int_equal(batch.lines[0], 1);
    assert_int_equal(batch.lines[1], 4);

    const struct brig_job *a = &batch.jobs[0];
    assert_non_null(a->id); /* generated */
    assert_int_equal(strlen(a->id), 24);
    assert_string_equal(a->runtime, "python");
    assert_int_equal(a->code.len, 8);
    assert_memory_equal(a->code.data, "print(1)", 8);
    assert_int_equal(a->args_count, 2);
    assert_string_equal(a->args[1], "b");
    assert_string_equal(a->env[0].name, "K");
    assert_string_equal(a->env[0].value, "v");
    assert_int_equal(a->limits.wall_ms, 2000);
    assert_int_equal(a->limits.memory_bytes, 64u << 20);
    assert_true(a->stream_logs);
    assert_string_equal(a->metadata[0].value, "me");

    const struct brig_job *b = &batch.jobs[1];
    assert_string_equal(b->id, "job-2");
    assert_int_equal(b->argv_count, 2);
    assert_int_equal(b->file_count, 2);
    assert_string_equal(b->files[1].path, "d/b.bin");
    assert_int_equal(b->files[1].content.len, 4);
    assert_memory_equal(b->files[1].content.data, "\x00\x01\x02\xff", 4);
    assert_non_null(b->stdin_data.data);
    assert_int_equal(b->stdin_data.len, 0);
    assert_int_equal(b->network.mode, BRIG_NETWORK_ALLOW);
    assert_int_equal(b->network.rule_count, 2);
    assert_string_equal(b->network.rules[0].host, "example.com");
    assert_true(b->network.rules[0].wildcard);
    assert_int_equal(b->network.rules[0].port, 443);
    assert_string_equal(b->network.rules[1].host, "10.0.0.1");
    assert_int_equal(b->deadline_ms, 1800000000000ull);
    assert_string_equal(b->reply_topic, "mine");
    batch_free(&batch);
}

static void test_batch_syntax_errors(void **state)
{
    (void)state;
    assert_bad_line("{\"runtime\": \"python\", \"code\": \"x\"}\n{\"runtime\": \"python\"",
                    "line 2:", "invalid JSON");
    assert_bad_line("[1, 2]\n", "line 1:", "expected a JSON object, got an array");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"runtime\": \"py\"}\n",
                    "line 1:", "duplicate");
    assert_bad_line("", "no jobs", "blank");
    assert_bad_line("\n  \n", "no jobs", "blank");
}

static void test_batch_field_types(void **state)
{
    (void)state;
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"bogus\": 1}", "line 1: bogus",
                    "unknown field");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"v\": 2}", "line 1: v",
                    "unsupported schema version");
    assert_bad_line("{\"runtime\": 7, \"code\": \"x\"}", "line 1: runtime",
                    "expected a string, got an integer");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"a\\u0000b\", \"id\": \"x\\u0000\"}",
                    "line 1: id", "NUL");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"env\": {\"K\\u0000X\": \"v\"}}",
                    "line 1: invalid JSON", "NUL byte in object key");
    assert_bad_line("{\"argv\": \"/bin/true\"}", "line 1: argv", "expected an array of strings");
    assert_bad_line("{\"argv\": [\"/bin/true\", 3]}", "line 1: argv[1]", "expected a string");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": 3}", "line 1: code",
                    "expected a string or {\"base64\"");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": {\"base64\": \"AAE\"}}", "line 1: code",
                    "not standard padded base64");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": {\"base64\": \"A!==\"}}", "line 1: code",
                    "not valid base64");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": {\"base64\": 5}}", "line 1: code",
                    "base64: expected a string");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": {\"base64\": \"AA==\", \"x\": 1}}",
                    "line 1: code", "expected a string or");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"stdin\": [1]}", "line 1: stdin",
                    "expected a string or");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"env\": [\"K=V\"]}", "line 1: env",
                    "expected an object of strings");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"env\": {\"K\": 1}}",
                    "line 1: env[\"K\"]", "expected a string");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"files\": [\"a\"]}", "line 1: files",
                    "expected an object of path: content");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"files\": {\"a.txt\": true}}",
                    "line 1: files[\"a.txt\"]", "expected a string or");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": 5}", "line 1: limits",
                    "expected an object");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": {\"wall\": 5}}",
                    "line 1: limits.wall", "unknown limit");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": {\"wall_ms\": \"2s\"}}",
                    "line 1: limits.wall_ms", "expected an integer, got a string");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": {\"pids\": 0}}",
                    "line 1: limits.pids", "not a positive integer");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": {\"cpu_ms\": 1.5}}",
                    "line 1: limits.cpu_ms", "got a real number");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"network\": \"all\"}",
                    "line 1: network", "expected \"none\" or");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"network\": {\"allow\": \"a\"}}",
                    "line 1: network.allow", "expected an array");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"network\": {\"allow\": [\"A.COM\"]}}",
                    "line 1: network.allow[0]", "");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"stream_logs\": 1}",
                    "line 1: stream_logs", "expected a boolean");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"deadline_ms\": -1}",
                    "line 1: deadline_ms", "not a positive integer");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"collect\": [1]}",
                    "line 1: collect[0]", "expected a string");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"metadata\": {\"k\": null}}",
                    "line 1: metadata[\"k\"]", "got null");
}

/* Rules on values are the encoder's: a batch line must meet them too. */
static void test_batch_schema_rules(void **state)
{
    (void)state;
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\"}\n"
                    "{\"runtime\": \"sh\", \"code\": \"x\", \"limits\": {\"wall_ms\": 5}}\n",
                    "line 2: limits.wall_ms", "out of range");
    assert_bad_line("{\"code\": \"x\"}", "line 1: runtime", "missing");
    assert_bad_line("{\"runtime\": \"python\"}", "line 1: code", "missing");
    assert_bad_line("{\"runtime\": \"sh\", \"argv\": [\"/bin/true\"], \"code\": \"x\"}",
                    "line 1: argv", "conflict");
    assert_bad_line("{\"argv\": [\"/bin/true\"], \"files\": {\"../up\": \"x\"}}", "line 1: files",
                    "\"..\"");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"id\": \"bad id\"}", "line 1: id", "");
    assert_bad_line("{\"runtime\": \"sh\", \"code\": \"x\", \"env\": {\"1X\": \"v\"}}",
                    "line 1: env", "");
}

static void test_batch_duplicate_ids(void **state)
{
    (void)state;
    assert_bad_line("{\"id\": \"a\", \"argv\": [\"/bin/true\"]}\n"
                    "{\"id\": \"b\", \"argv\": [\"/bin/true\"]}\n"
                    "\n"
                    "{\"id\": \"a\", \"argv\": [\"/bin/true\"]}\n",
                    "line 4: id", "already the id of the job on line 1");
}

/* A job written out as JSON reads back as the same JSON. */
static void test_job_json_round_trip(void **state)
{
    (void)state;
    const char *text =
        "{\"v\": 1, \"id\": \"j1\", \"runtime\": \"python\", \"code\": \"print(1)\","
        " \"args\": [\"a\"], \"stdin\": {\"base64\": \"/w==\"}, \"env\": {\"K\": \"v\"},"
        " \"files\": {\"t.txt\": \"hi\", \"b.bin\": {\"base64\": \"AAH+\"}},"
        " \"limits\": {\"wall_ms\": 2000, \"pids\": 8},"
        " \"network\": {\"allow\": [\"*.example.com:443\", \"[::1]:80\"]},"
        " \"session\": \"s\", \"collect\": [\"*.txt\"], \"reply_topic\": \"r\","
        " \"stream_logs\": true, \"metadata\": {\"m\": \"1\"}, \"deadline_ms\": 99,"
        " \"replay_of\": \"j0\"}";
    json_error_t jerr;
    json_t *in = json_loads(text, 0, &jerr);
    assert_non_null(in);
    struct brig_job job;
    struct brig_error error;
    assert_int_equal(job_from_json(in, &job, &error), 0);
    json_t *out = job_to_json(&job);
    assert_non_null(out);
    if (!json_equal(in, out)) {
        char *dumped = json_dumps(out, JSON_SORT_KEYS);
        fail_msg("round trip changed the job: %s", dumped);
    }
    json_decref(out);
    json_decref(in);
    brig_job_free(&job);
}

static void test_bytes_forms(void **state)
{
    (void)state;
    json_t *text = json_from_bytes("héllo", strlen("héllo"));
    assert_true(json_is_string(text));
    assert_string_equal(json_string_value(text), "héllo");
    json_decref(text);

    /* invalid UTF-8 (a lone continuation byte) and NUL-free binary */
    json_t *binary = json_from_bytes("a\x80z", 3);
    assert_true(json_is_object(binary));
    assert_string_equal(json_string_value(json_object_get(binary, "base64")), "YYB6");
    msgpack_zone *arena = msgpack_zone_new(1024);
    struct brig_bytes back;
    char why[128];
    assert_int_equal(json_to_bytes(binary, arena, &back, why, sizeof why), 0);
    assert_int_equal(back.len, 3);
    assert_memory_equal(back.data, "a\x80z", 3);
    json_decref(binary);

    /* Valid UTF-8 with a NUL stays text: JSON strings carry \u0000. */
    json_t *nul = json_from_bytes("a\0b", 3);
    assert_true(json_is_string(nul));
    assert_int_equal(json_string_length(nul), 3);
    assert_int_equal(json_to_bytes(nul, arena, &back, why, sizeof why), 0);
    assert_int_equal(back.len, 3);
    assert_memory_equal(back.data, "a\0b", 3);
    json_decref(nul);

    /* one and two padding characters */
    json_t *padded = json_pack("{s:s}", "base64", "YQ==");
    assert_int_equal(json_to_bytes(padded, arena, &back, why, sizeof why), 0);
    assert_int_equal(back.len, 1);
    assert_string_equal(back.data, "a");
    json_decref(padded);
    padded = json_pack("{s:s}", "base64", "YWI=");
    assert_int_equal(json_to_bytes(padded, arena, &back, why, sizeof why), 0);
    assert_int_equal(back.len, 2);
    json_decref(padded);
    msgpack_zone_free(arena);
}

/* Takes json's reference. */
static void assert_json_is(json_t *json, const char *expected_text)
{
    json_error_t jerr;
    assert_non_null(json);
    json_t *expected = json_loads(expected_text, 0, &jerr);
    if (!expected)
        fail_msg("expected JSON: %s", jerr.text);
    if (!json_equal(json, expected))
        fail_msg("got %s", json_dumps(json, JSON_SORT_KEYS));
    json_decref(json);
    json_decref(expected);
}

static void test_result_json(void **state)
{
    (void)state;
    struct brig_file files[] = {{"out/a.txt", {"hi", 2}}, {"b.bin", {"\xff", 1}}};
    struct brig_omitted_file omitted[] = {{"big.bin", "over collect_bytes"}};
    struct brig_result r = {
        .id = "j1",
        .attempt = 2,
        .status = BRIG_STATUS_FAILED,
        .has_exit_code = true,
        .exit_code = 3,
        .stdout_data = {"out\n", 4},
        .stderr_data = {"\xc3\x28", 2},
        .stderr_truncated = true,
        .files = files,
        .file_count = 2,
        .files_omitted = omitted,
        .omitted_count = 1,
        .has_usage = true,
        .wall_us = 1500,
        .cpu_us = 700,
        .peak_memory_bytes = 4096,
        .runtime_name = "python",
        .runtime_version = "Python 3.11.2",
        .worker_id = "w1",
        .finished_ms = 1700000000000,
    };
    assert_json_is(
        result_to_json(&r),
        "{\"id\": \"j1\", \"attempt\": 2, \"status\": \"failed\", \"exit_code\": 3,"
        " \"stdout\": \"out\\n\", \"stderr\": {\"base64\": \"wyg=\"}, \"stderr_truncated\": true,"
        " \"files\": {\"out/a.txt\": \"hi\", \"b.bin\": {\"base64\": \"/w==\"}},"
        " \"files_omitted\": [{\"path\": \"big.bin\", \"reason\": \"over collect_bytes\"}],"
        " \"usage\": {\"wall_us\": 1500, \"cpu_us\": 700, \"peak_memory_bytes\": 4096},"
        " \"runtime\": {\"name\": \"python\", \"version\": \"Python 3.11.2\"},"
        " \"worker_id\": \"w1\", \"finished_ms\": 1700000000000}");
}

static void test_result_json_of_a_cell(void **state)
{
    (void)state;
    /* PNG data that happens to be valid UTF-8 is still base64: its type is
     * binary. */
    struct brig_file figure[] = {{"text/plain", {"<Figure>", 8}},
                                 {"image/png", {"AB", 2}},
                                 {"image/svg+xml", {"<svg/>", 6}},
                                 {"image/jpeg", {"\x89PNG", 4}}};
    const char *frames[] = {"Traceback (most recent call last):\n", "  File \"<cell>\"\n"};
    struct brig_output outputs[] = {{"display", figure, 4}};
    struct brig_result r = {
        .id = "cell-1",
        .attempt = 1,
        .status = BRIG_STATUS_FAILED,
        .session = "nb1",
        .outputs = outputs,
        .output_count = 1,
        .outputs_truncated = true,
        .exception_name = "NameError",
        .exception_value = "name 'x' is not defined",
        .traceback = frames,
        .traceback_count = 2,
        .has_interpreter = true,
        .interpreter_started = true,
        .execution_count = 3,
    };
    assert_json_is(
        result_to_json(&r),
        "{\"id\": \"cell-1\", \"attempt\": 1, \"status\": \"failed\", \"stdout\": \"\","
        " \"stderr\": \"\", \"session\": \"nb1\","
        " \"outputs\": [{\"kind\": \"display\", \"data\": {\"text/plain\": \"<Figure>\","
        "   \"image/png\": {\"base64\": \"QUI=\"}, \"image/svg+xml\": \"<svg/>\","
        "   \"image/jpeg\": {\"base64\": \"iVBORw==\"}}}],"
        " \"outputs_truncated\": true,"
        " \"exception\": {\"name\": \"NameError\", \"value\": \"name 'x' is not defined\","
        "   \"traceback\": [\"Traceback (most recent call last):\\n\", \"  File "
        "\\\"<cell>\\\"\\n\"]},"
        " \"interpreter\": {\"started\": true, \"execution_count\": 3, \"state_lost\": false}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_good_lines),      cmocka_unit_test(test_batch_syntax_errors),
        cmocka_unit_test(test_batch_field_types),     cmocka_unit_test(test_batch_schema_rules),
        cmocka_unit_test(test_batch_duplicate_ids),   cmocka_unit_test(test_job_json_round_trip),
        cmocka_unit_test(test_bytes_forms),           cmocka_unit_test(test_result_json),
        cmocka_unit_test(test_result_json_of_a_cell),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
