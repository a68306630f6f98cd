/* Encoding: structs built in C survive encode/decode, encoders refuse what a
 * reader would refuse and leave the buffer as it was, and defaults resolve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_schema_support.h"

static struct brig_bytes bytes_of(const char *data, size_t len)
{
    return (struct brig_bytes){data, len};
}

/* Encodes with encode, checks that decoding gives the same JSON view, and
 * returns the encoded message (caller destroys). */
#define ROUNDTRIP(kind, value, sbuf)                                                               \
    do {                                                                                           \
        struct brig_error err_ = {{0}, {0}};                                                       \
        msgpack_sbuffer_init(sbuf);                                                                \
        int rc_ = brig_##kind##_encode(value, sbuf, &err_);                                        \
        if (rc_ != 0)                                                                              \
            fail_msg("encode refused: %s: %s", err_.field, err_.reason);                           \
        struct brig_##kind decoded_;                                                               \
        assert_int_equal(brig_##kind##_decode((sbuf)->data, (sbuf)->size, &decoded_, &err_), 0);   \
        json_t *want_ = kind##_json(value), *got_ = kind##_json(&decoded_);                        \
        if (!json_equal(want_, got_)) {                                                            \
            char *w_ = json_dumps(want_, JSON_SORT_KEYS), *g_ = json_dumps(got_, JSON_SORT_KEYS);  \
            fail_msg("round trip changed %s into %s", w_, g_);                                     \
        }                                                                                          \
        json_decref(want_);                                                                        \
        json_decref(got_);                                                                         \
        brig_##kind##_free(&decoded_);                                                             \
    } while (0)

static void test_job_roundtrip(void **state)
{
    (void)state;
    const char *args[] = {"-v", "", "naïve"};
    struct brig_pair env[] = {{"DEBUG", "1"}, {"EMPTY", ""}};
    struct brig_file files[] = {{"in/data.bin", bytes_of("\0\1\2", 3)},
                                {"empty", bytes_of(NULL, 0)}};
    struct brig_net_rule rules[] = {{"pypi.org", false, 0},
                                    {"example.com", true, 443},
                                    {"192.168.1.10", false, 8080},
                                    {"2001:db8::1", false, 443},
                                    {"::1", false, 0}};
    const char *collect[] = {"out/**/*.png"};
    struct brig_pair metadata[] = {{"trace", "x\ny"}};
    struct brig_job job = {
        .id = "job-42",
        .runtime = "python",
        .code = bytes_of("print('hi')\n", 12),
        .args = args,
        .args_count = 3,
        .stdin_data = bytes_of("in\0put", 6),
        .env = env,
        .env_count = 2,
        .files = files,
        .file_count = 2,
        .limits = {.wall_ms = 5000, .memory_bytes = 64 << 20, .collect_bytes = 2048},
        .network = {BRIG_NETWORK_ALLOW, rules, 5},
        .session = "s1",
        .collect = collect,
        .collect_count = 1,
        .reply_topic = "my.results",
        .stream_logs = true,
        .metadata = metadata,
        .metadata_count = 1,
        .deadline_ms = 1764000000000,
        .replay_of = "job-41",
    };
    msgpack_sbuffer sbuf;
    ROUNDTRIP(job, &job, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);

    const char *argv[] = {"/bin/sh", "-c", "true"};
    struct brig_job argv_job = {.id = "a", .argv = argv, .argv_count = 3};
    ROUNDTRIP(job, &argv_job, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_decoded_job_owns_its_memory(void **state)
{
    (void)state;
    char code[] = "print(1)";
    struct brig_job job = {.id = "job-1", .runtime = "python", .code = bytes_of(code, 8)};
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    struct brig_error err;
    assert_int_equal(brig_job_encode(&job, &sbuf, &err), 0);
    struct brig_job decoded;
    assert_int_equal(brig_job_decode(sbuf.data, sbuf.size, &decoded, &err), 0);
    memset(sbuf.data, 0, sbuf.size); /* the decoded job must not point into the message */
    msgpack_sbuffer_destroy(&sbuf);
    assert_string_equal(decoded.id, "job-1");
    assert_int_equal(decoded.code.len, 8);
    assert_memory_equal(decoded.code.data, code, 8);
    assert_int_equal(decoded.code.data[8], '\0');
    assert_non_null(decoded.arena);
    brig_job_free(&decoded);
    assert_null(decoded.id);
    assert_null(decoded.arena);
    brig_job_free(&decoded); /* harmless twice, and on caller-built structs */
    brig_job_free(&job);
}

/* The encoder writes the shortest form, as Python's msgpack does: the minimal
 * job of SCHEMA.md's worked example comes out byte for byte. */
static void test_encoding_matches_worked_example(void **state)
{
    (void)state;
    struct brig_job job = {.id = "job-1", .runtime = "python", .code = bytes_of("print(1)", 8)};
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/job_minimal.msgpack", vectors_dir());
    char *want = read_whole_file(path, &len);
    assert_non_null(want);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    struct brig_error err;
    assert_int_equal(brig_job_encode(&job, &sbuf, &err), 0);
    /* the vector has code as str, the encoder writes bin: c4 08 instead of a8 */
    assert_int_equal(sbuf.size, len + 1);
    assert_memory_equal(sbuf.data, want, len - 9);
    assert_memory_equal(sbuf.data + len - 9, "\xc4\x08print(1)", 10);
    free(want);
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_result_roundtrip(void **state)
{
    (void)state;
    struct brig_file files[] = {{"out/a.txt", bytes_of("A", 1)}};
    struct brig_omitted_file omitted[] = {{"out/big", "over collect_bytes"}};
    struct brig_pair metadata[] = {{"k", "v"}};
    struct brig_result result = {
        .id = "job-42",
        .attempt = 3,
        .status = BRIG_STATUS_FAILED,
        .has_exit_code = true,
        .exit_code = 0,
        .stdout_data = bytes_of("out\n", 4),
        .stderr_data = bytes_of("", 0),
        .stdout_truncated = true,
        .files = files,
        .file_count = 1,
        .files_omitted = omitted,
        .omitted_count = 1,
        .files_omitted_truncated = true,
        .has_usage = true,
        .wall_us = 12,
        .cpu_us = 0,
        .peak_memory_bytes = 4096,
        .runtime_name = "node",
        .runtime_version = "18.19.0",
        .worker_id = "w-1",
        .received_ms = 1,
        .started_ms = 2,
        .finished_ms = 3,
        .error = "multi\nline",
        .metadata = metadata,
        .metadata_count = 1,
        .session = "",
        .replay_of = "job-1",
    };
    msgpack_sbuffer sbuf;
    ROUNDTRIP(result, &result, &sbuf);
    /* 21 fields: a map16 header, the shortest form for 16 and more */
    assert_int_equal((unsigned char)sbuf.data[0], 0xde);
    assert_int_equal((unsigned char)sbuf.data[2], 21);
    msgpack_sbuffer_destroy(&sbuf);
}

/* A cell's result: outputs in order with their MIME bundles, the exception
 * and the interpreter, including started = false, which must travel. */
static void test_cell_result_roundtrip(void **state)
{
    (void)state;
    struct brig_file plot[] = {{"image/png", bytes_of("\x89PNG\r\n\0", 7)},
                               {"text/plain", bytes_of("<Figure>", 8)}};
    struct brig_file value[] = {{"text/plain", bytes_of("42", 2)}};
    struct brig_output outputs[] = {{"display", plot, 2}, {"result", value, 1}};
    const char *traceback[] = {"Cell In[3], line 1\n----> 1 1/0", ""};
    struct brig_result result = {
        .id = "cell-3",
        .attempt = 1,
        .status = BRIG_STATUS_FAILED,
        .outputs = outputs,
        .output_count = 2,
        .outputs_truncated = true,
        .exception_name = "ZeroDivisionError",
        .exception_value = "division by zero",
        .traceback = traceback,
        .traceback_count = 2,
        .has_interpreter = true,
        .interpreter_started = false,
        .execution_count = 3,
        .session = "nb1",
    };
    msgpack_sbuffer sbuf;
    ROUNDTRIP(result, &result, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);
    result.interpreter_started = true;
    result.state_lost = true;
    result.exception_value = NULL;
    result.traceback_count = 0;
    ROUNDTRIP(result, &result, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);
}

/* Every status of the closed set travels by its name. */
static void test_every_status(void **state)
{
    (void)state;
    for (int s = 0; s < BRIG_STATUS_COUNT; s++) {
        struct brig_result result = {.id = "j", .attempt = 1, .status = (brig_status)s};
        msgpack_sbuffer sbuf;
        ROUNDTRIP(result, &result, &sbuf);
        msgpack_sbuffer_destroy(&sbuf);
    }
}

static void test_log_chunk_and_dead_letter_roundtrip(void **state)
{
    (void)state;
    struct brig_log_chunk chunk = {.id = "job-1",
                                   .attempt = 1,
                                   .stream = BRIG_STREAM_STDERR,
                                   .seq = 9,
                                   .data = bytes_of("err\n", 4),
                                   .ts_ms = 5};
    msgpack_sbuffer sbuf;
    ROUNDTRIP(log_chunk, &chunk, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);

    /* an end-of-stream marker may leave data NULL: it goes out empty */
    struct brig_log_chunk eos = {.id = "job-1",
                                 .attempt = 1,
                                 .stream = BRIG_STREAM_STDOUT,
                                 .seq = 10,
                                 .ts_ms = 6,
                                 .eos = true};
    struct brig_log_chunk decoded;
    struct brig_error err;
    msgpack_sbuffer_init(&sbuf);
    assert_int_equal(brig_log_chunk_encode(&eos, &sbuf, &err), 0);
    assert_int_equal(brig_log_chunk_decode(sbuf.data, sbuf.size, &decoded, &err), 0);
    assert_non_null(decoded.data.data);
    assert_int_equal(decoded.data.len, 0);
    assert_true(decoded.eos);
    brig_log_chunk_free(&decoded);
    msgpack_sbuffer_destroy(&sbuf);

    struct brig_dead_letter letter = {.data = bytes_of("\xc1", 1),
                                      .data_truncated = true,
                                      .id = "job-1",
                                      .topic = "brig.jobs",
                                      .partition = 2,
                                      .offset = 0,
                                      .key = bytes_of("k\x00\xff", 3),
                                      .key_truncated = true,
                                      .reason = "garbage",
                                      .field = "",
                                      .received_ms = 7,
                                      .worker_id = "w-1"};
    ROUNDTRIP(dead_letter, &letter, &sbuf);
    msgpack_sbuffer_destroy(&sbuf);

    /* Kafka tells an empty key from a null one, and so does the dead letter */
    struct brig_dead_letter keyed;
    letter.key = bytes_of("", 0);
    msgpack_sbuffer_init(&sbuf);
    assert_int_equal(brig_dead_letter_encode(&letter, &sbuf, &err), 0);
    assert_int_equal(brig_dead_letter_decode(sbuf.data, sbuf.size, &keyed, &err), 0);
    assert_non_null(keyed.key.data);
    assert_int_equal(keyed.key.len, 0);
    brig_dead_letter_free(&keyed);
    msgpack_sbuffer_destroy(&sbuf);
    letter.key = bytes_of(NULL, 0);
    msgpack_sbuffer_init(&sbuf);
    assert_int_equal(brig_dead_letter_encode(&letter, &sbuf, &err), 0);
    assert_int_equal(brig_dead_letter_decode(sbuf.data, sbuf.size, &keyed, &err), 0);
    assert_null(keyed.key.data);
    brig_dead_letter_free(&keyed);
    msgpack_sbuffer_destroy(&sbuf);
}

/* Messages are appended: what the buffer held stays. */
static void test_encode_appends(void **state)
{
    (void)state;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_sbuffer_write(&sbuf, "XYZ", 3);
    struct brig_log_chunk chunk = {.id = "j",
                                   .attempt = 1,
                                   .stream = BRIG_STREAM_STDOUT,
                                   .data = bytes_of("a", 1),
                                   .ts_ms = 1};
    struct brig_error err;
    assert_int_equal(brig_log_chunk_encode(&chunk, &sbuf, &err), 0);
    assert_memory_equal(sbuf.data, "XYZ", 3);
    struct brig_log_chunk decoded;
    assert_int_equal(brig_log_chunk_decode(sbuf.data + 3, sbuf.size - 3, &decoded, &err), 0);
    brig_log_chunk_free(&decoded);
    msgpack_sbuffer_destroy(&sbuf);
}

/* Each refused struct leaves the buffer as it was and names the field. */
static void expect_refusal(int rc, msgpack_sbuffer *sbuf, const struct brig_error *err,
                           const char *field, const char *reason)
{
    assert_int_equal(rc, -1);
    assert_int_equal(sbuf->size, 2);
    assert_string_equal(err->field, field);
    if (!strstr(err->reason, reason))
        fail_msg("reason \"%s\" lacks \"%s\"", err->reason, reason);
}

static void test_encoders_refuse_invalid_structs(void **state)
{
    (void)state;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_sbuffer_write(&sbuf, "ab", 2);
    struct brig_error err;
    const char *argv[] = {"/bin/true"};

    struct brig_job job = {.id = "bad id", .runtime = "python", .code = bytes_of("", 0)};
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "id", "invalid character");
    job.id = "ok";
    job.argv = argv;
    job.argv_count = 1;
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "argv", "conflict");
    job.argv_count = 0;
    struct brig_net_rule upper = {"Example.com", false, 0};
    job.network = (struct brig_network){BRIG_NETWORK_ALLOW, &upper, 1};
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "network.allow[0]",
                   "invalid host");
    struct brig_net_rule hostless = {NULL, false, 80};
    job.network = (struct brig_network){BRIG_NETWORK_ALLOW, &hostless, 1};
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "network.allow[0]",
                   "wrong type");
    job.network.mode = BRIG_NETWORK_NONE;
    job.limits.pids = 100000;
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "limits.pids", "out of range");
    job.limits.pids = 0;
    const char *null_arg[] = {NULL};
    job.args = null_arg;
    job.args_count = 1;
    expect_refusal(brig_job_encode(&job, &sbuf, &err), &sbuf, &err, "args[0]", "wrong type");

    struct brig_result result = {.id = "j", .attempt = 0, .status = BRIG_STATUS_OK};
    expect_refusal(brig_result_encode(&result, &sbuf, &err), &sbuf, &err, "attempt",
                   "out of range");
    result.attempt = 1;
    result.status = BRIG_STATUS_COUNT;
    expect_refusal(brig_result_encode(&result, &sbuf, &err), &sbuf, &err, "status", "missing");
    result.status = BRIG_STATUS_OK;
    struct brig_file bad_file = {"x", bytes_of(NULL, 5)};
    result.files = &bad_file;
    result.file_count = 1;
    expect_refusal(brig_result_encode(&result, &sbuf, &err), &sbuf, &err, "files[\"x\"]",
                   "wrong type");
    result.file_count = 0;
    result.has_exit_code = true;
    result.exit_code = -1;
    expect_refusal(brig_result_encode(&result, &sbuf, &err), &sbuf, &err, "exit_code",
                   "out of range");

    struct brig_log_chunk chunk = {.id = "j", .attempt = 1, .stream = 0, .ts_ms = 1};
    expect_refusal(brig_log_chunk_encode(&chunk, &sbuf, &err), &sbuf, &err, "stream", "missing");
    chunk.stream = BRIG_STREAM_STDOUT;
    chunk.seq = BRIG_UINT_MAX + 1;
    expect_refusal(brig_log_chunk_encode(&chunk, &sbuf, &err), &sbuf, &err, "seq", "out of range");

    struct brig_dead_letter letter = {
        .topic = "t", .reason = "r", .received_ms = 1, .worker_id = "w"};
    expect_refusal(brig_dead_letter_encode(&letter, &sbuf, &err), &sbuf, &err, "data", "missing");
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_limits_resolve(void **state)
{
    (void)state;
    struct brig_limits given = {.wall_ms = 250, .pids = 7}, effective;
    brig_limits_resolve(&given, &effective);
    assert_int_equal(effective.wall_ms, 250);
    assert_int_equal(effective.pids, 7);
    assert_int_equal(effective.cpu_ms, BRIG_CPU_MS_DEFAULT);
    assert_int_equal(effective.memory_bytes, BRIG_MEMORY_BYTES_DEFAULT);
    assert_int_equal(effective.output_bytes, BRIG_OUTPUT_BYTES_DEFAULT);
    assert_int_equal(effective.fsize_bytes, BRIG_FSIZE_BYTES_DEFAULT);
    assert_int_equal(effective.disk_bytes, BRIG_DISK_BYTES_DEFAULT);
    assert_int_equal(effective.tmp_bytes, BRIG_TMP_BYTES_DEFAULT);
    assert_int_equal(effective.cpu_millis, BRIG_CPU_MILLIS_DEFAULT);
    assert_int_equal(effective.collect_bytes, BRIG_COLLECT_BYTES_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip),
        cmocka_unit_test(test_decoded_job_owns_its_memory),
        cmocka_unit_test(test_encoding_matches_worked_example),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_cell_result_roundtrip),
        cmocka_unit_test(test_every_status),
        cmocka_unit_test(test_log_chunk_and_dead_letter_roundtrip),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_encoders_refuse_invalid_structs),
        cmocka_unit_test(test_limits_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
