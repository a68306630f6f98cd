/* Error paths the vectors cannot hold (messages of many megabytes, nesting
 * past msgpack-c's own stack), the assumptions the decoder rests on, and
 * brig_job_peek_reply() on broken input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_schema_support.h"
#include "common/common.h"

static void pack_text(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* A runtime job whose code is code_len bytes and stdin stdin_len bytes. */
static void pack_big_job(msgpack_sbuffer *sbuf, size_t code_len, size_t stdin_len)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sbuf);
    msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
    char *zeros = calloc(1, code_len > stdin_len ? code_len : stdin_len);
    msgpack_pack_map(&pk, 5);
    pack_text(&pk, "v");
    msgpack_pack_uint8(&pk, 1);
    pack_text(&pk, "id");
    pack_text(&pk, "big");
    pack_text(&pk, "runtime");
    pack_text(&pk, "python");
    pack_text(&pk, "code");
    msgpack_pack_bin_with_body(&pk, zeros, code_len);
    pack_text(&pk, "stdin");
    msgpack_pack_bin_with_body(&pk, zeros, stdin_len);
    free(zeros);
}

static void expect_job_error(const void *buf, size_t len, const char *field, const char *reason)
{
    struct brig_job job;
    struct brig_error err;
    assert_int_equal(brig_job_decode(buf, len, &job, &err), -1);
    assert_null(job.id);
    assert_null(job.arena);
    assert_string_equal(err.field, field);
    if (!strstr(err.reason, reason))
        fail_msg("reason \"%s\" lacks \"%s\"", err.reason, reason);
}

static void test_job_data_bounds(void **state)
{
    (void)state;
    msgpack_sbuffer sbuf;
    struct brig_job job;
    struct brig_error err;

    pack_big_job(&sbuf, BRIG_CODE_MAX_BYTES, BRIG_STDIN_MAX_BYTES);
    assert_int_equal(brig_job_decode(sbuf.data, sbuf.size, &job, &err), 0);
    assert_int_equal(job.code.len, BRIG_CODE_MAX_BYTES);
    assert_int_equal(job.stdin_data.len, BRIG_STDIN_MAX_BYTES);
    brig_job_free(&job);
    msgpack_sbuffer_destroy(&sbuf);

    pack_big_job(&sbuf, BRIG_CODE_MAX_BYTES + 1, 0);
    expect_job_error(sbuf.data, sbuf.size, "code", "too long");
    msgpack_sbuffer_destroy(&sbuf);

    pack_big_job(&sbuf, 1, BRIG_STDIN_MAX_BYTES + 1);
    expect_job_error(sbuf.data, sbuf.size, "stdin", "too long");
    msgpack_sbuffer_destroy(&sbuf);
}

/* The size test comes before anything is parsed. */
static void test_messages_too_large(void **state)
{
    (void)state;
    size_t len = BRIG_DEAD_LETTER_MAX_BYTES + 1;
    char *buf = calloc(1, len);
    struct brig_error err;
    struct brig_job job;
    struct brig_result result;
    struct brig_log_chunk chunk;
    struct brig_dead_letter letter;
    assert_int_equal(brig_job_decode(buf, BRIG_JOB_MAX_BYTES + 1, &job, &err), -1);
    assert_non_null(strstr(err.reason, "too large"));
    assert_int_equal(brig_result_decode(buf, BRIG_RESULT_MAX_BYTES + 1, &result, &err), -1);
    assert_non_null(strstr(err.reason, "too large"));
    assert_int_equal(brig_log_chunk_decode(buf, BRIG_LOG_CHUNK_MAX_BYTES + 1, &chunk, &err), -1);
    assert_non_null(strstr(err.reason, "too large"));
    assert_int_equal(brig_dead_letter_decode(buf, len, &letter, &err), -1);
    assert_non_null(strstr(err.reason, "too large"));
    assert_string_equal(err.field, "");
    free(buf);
}

/* Output, log data, dead-letter data and key at their bounds and one past. */
static void test_output_bounds(void **state)
{
    (void)state;
    char *zeros = calloc(1, BRIG_DEAD_LETTER_DATA_MAX + 1);
    struct brig_error err;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);

    struct brig_result result = {.id = "j",
                                 .attempt = 1,
                                 .status = BRIG_STATUS_OK,
                                 .stdout_data = {zeros, BRIG_OUTPUT_MAX_BYTES},
                                 .stderr_data = {zeros, 1}};
    assert_int_equal(brig_result_encode(&result, &sbuf, &err), 0);
    result.stdout_data.len = 1;
    result.stderr_data.len = BRIG_OUTPUT_MAX_BYTES + 1;
    assert_int_equal(brig_result_encode(&result, &sbuf, &err), -1);
    assert_string_equal(err.field, "stderr");

    struct brig_log_chunk chunk = {.id = "j",
                                   .attempt = 1,
                                   .stream = BRIG_STREAM_STDOUT,
                                   .data = {zeros, BRIG_LOG_DATA_MAX_BYTES},
                                   .ts_ms = 1};
    assert_int_equal(brig_log_chunk_encode(&chunk, &sbuf, &err), 0);
    chunk.data.len++;
    assert_int_equal(brig_log_chunk_encode(&chunk, &sbuf, &err), -1);
    assert_string_equal(err.field, "data");

    /* Every field at its longest: the dead letter's own fields, the key
     * among them, fit in what its bound leaves beside the data. */
    char id[BRIG_ID_MAX + 1], topic[BRIG_TOPIC_MAX + 1], reason[BRIG_REASON_MAX + 1],
        field[BRIG_FIELD_MAX + 1];
    memset(id, 'i', BRIG_ID_MAX), id[BRIG_ID_MAX] = '\0';
    memset(topic, 't', BRIG_TOPIC_MAX), topic[BRIG_TOPIC_MAX] = '\0';
    memset(reason, 'r', BRIG_REASON_MAX), reason[BRIG_REASON_MAX] = '\0';
    memset(field, 'f', BRIG_FIELD_MAX), field[BRIG_FIELD_MAX] = '\0';
    struct brig_dead_letter letter = {.data = {zeros, BRIG_DEAD_LETTER_DATA_MAX},
                                      .data_truncated = true,
                                      .id = id,
                                      .topic = topic,
                                      .partition = BRIG_PARTITION_MAX,
                                      .offset = BRIG_UINT_MAX,
                                      .key = {zeros, BRIG_DEAD_LETTER_KEY_MAX},
                                      .key_truncated = true,
                                      .reason = reason,
                                      .field = field,
                                      .received_ms = BRIG_TIME_MS_MAX,
                                      .worker_id = id};
    assert_int_equal(brig_dead_letter_encode(&letter, &sbuf, &err), 0);
    letter.key.len++;
    assert_int_equal(brig_dead_letter_encode(&letter, &sbuf, &err), -1);
    assert_string_equal(err.field, "key");
    letter.key.len--;
    letter.data.len++;
    assert_int_equal(brig_dead_letter_encode(&letter, &sbuf, &err), -1);
    assert_string_equal(err.field, "data");
    msgpack_sbuffer_destroy(&sbuf);
    free(zeros);
}

/* msgpack-c stops at 32 levels with a memory error; the scan says what is
 * wrong long before that. */
static void test_nesting_far_past_msgpack_stack(void **state)
{
    (void)state;
    unsigned char buf[1000];
    size_t n = 0;
    memcpy(buf, "\x81\xa1x", 3);
    n = 3;
    while (n < sizeof buf - 1)
        buf[n++] = 0x91; /* [[[[... */
    buf[n++] = 0x00;
    expect_job_error(buf, n, "x", "too deep");
}

/* Headers that promise more than the message holds allocate nothing, and are
 * truncated before their counts meet the key and entry bounds. */
static void test_lying_headers(void **state)
{
    (void)state;
    expect_job_error("\xdf\xff\xff\xff\xff", 5, "", "truncated");
    expect_job_error("\x81\xa1x\xdf\xff\xff\xff\xff", 8, "", "truncated");
    expect_job_error("\x81\xa1x\xdd\xff\xff\xff\xff", 8, "", "truncated");
    expect_job_error("\x81\xa1x\xdb\xff\xff\xff\xff", 8, "", "truncated");
    expect_job_error("\x81\xa1x\xc6\xff\xff\xff\xff", 8, "", "truncated");
    expect_job_error("\x81\xa1x\xc9\xff\xff\xff\xff", 8, "", "truncated");
    expect_job_error("\x81\xa1x\xcf\x00", 5, "", "truncated");
}

/* The duplicate-key check relies on msgpack-c keeping every pair of a map. */
static void test_msgpack_keeps_duplicate_pairs(void **state)
{
    (void)state;
    static const char buf[] = "\x82\xa1"
                              "a\x01\xa1"
                              "a\x02";
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, buf, sizeof buf - 1, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(up.data.via.map.size, 2);
    assert_int_equal(up.data.via.map.ptr[1].val.via.u64, 2);
    msgpack_unpacked_destroy(&up);
}

/* A metadata value carrying one sequence, to exercise the UTF-8 test. */
static int decode_with_metadata_value(const char *value, size_t len, struct brig_error *err)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_text(&pk, "v");
    msgpack_pack_uint8(&pk, 1);
    pack_text(&pk, "id");
    pack_text(&pk, "u");
    pack_text(&pk, "runtime");
    pack_text(&pk, "bash");
    pack_text(&pk, "code");
    pack_text(&pk, "true");
    pack_text(&pk, "metadata");
    msgpack_pack_map(&pk, 1);
    pack_text(&pk, "k");
    msgpack_pack_str_with_body(&pk, value, len);
    struct brig_job job;
    int rc = brig_job_decode(sbuf.data, sbuf.size, &job, err);
    brig_job_free(&job);
    msgpack_sbuffer_destroy(&sbuf);
    return rc;
}

static void test_utf8_strictness(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        int ok;
    } cases[] = {
        {"a\xc3\xa9", 3, 1},        {"\xe2\x82\xac", 3, 1},
        {"\xf0\x9f\x98\x80", 4, 1}, {"\xf4\x8f\xbf\xbf", 4, 1},
        {"\xef\xbf\xbf", 3, 1},     {"\xc0\x80", 2, 0},
        {"\xc1\xbf", 2, 0},         {"\xe0\x9f\xbf", 3, 0},
        {"\xed\xa0\x80", 3, 0},     {"\xed\xbf\xbf", 3, 0},
        {"\xf0\x8f\xbf\xbf", 4, 0}, {"\xf4\x90\x80\x80", 4, 0},
        {"\xf5\x80\x80\x80", 4, 0}, {"\xc3", 1, 0},
        {"\xe2\x82", 2, 0},         {"\x80", 1, 0},
        {"\xc3\x28", 2, 0},         {"\xff", 1, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct brig_error err;
        int rc = decode_with_metadata_value(cases[i].bytes, cases[i].len, &err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("case %zu: expected %s", i, cases[i].ok ? "valid" : "invalid");
        if (!cases[i].ok) {
            assert_string_equal(err.field, "metadata[\"k\"]");
            assert_non_null(strstr(err.reason, "UTF-8"));
        }
    }
}

static void test_network_rules_parse(void **state)
{
    (void)state;
    static const char msg[] = "\x85\xa1v\x01\xa2id\xa1n\xa7runtime\xa4"
                              "bash\xa4"
                              "code\xa0\xa7network\x81\xa5"
                              "allow\x93\xb1*.api.example.com\xaa"
                              "8.8.8.8:53\xa9[::1]:443";
    struct brig_job job;
    struct brig_error err;
    assert_int_equal(brig_job_decode(msg, sizeof msg - 1, &job, &err), 0);
    assert_int_equal(job.network.mode, BRIG_NETWORK_ALLOW);
    assert_int_equal(job.network.rule_count, 3);
    assert_string_equal(job.network.rules[0].host, "api.example.com");
    assert_true(job.network.rules[0].wildcard);
    assert_int_equal(job.network.rules[0].port, 0);
    assert_string_equal(job.network.rules[1].host, "8.8.8.8");
    assert_int_equal(job.network.rules[1].port, 53);
    assert_string_equal(job.network.rules[2].host, "::1");
    assert_false(job.network.rules[2].wildcard);
    assert_int_equal(job.network.rules[2].port, 443);
    brig_job_free(&job);
}

/* A file may not sit where another file's directory would be, at any depth. */
static void test_deep_path_conflict(void **state)
{
    (void)state;
    struct brig_file files[] = {{"a/b/c/d", {"", 0}}, {"a/bc", {"", 0}}, {"a/b", {"", 0}}};
    struct brig_job job = {
        .id = "p", .runtime = "bash", .code = {"", 0}, .files = files, .file_count = 3};
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    struct brig_error err;
    assert_int_equal(brig_job_encode(&job, &sbuf, &err), -1);
    assert_string_equal(err.field, "files[\"a/b/c/d\"]");
    assert_non_null(strstr(err.reason, "path conflict: \"a/b\""));
    job.file_count = 2;
    assert_int_equal(brig_job_encode(&job, &sbuf, &err), 0);
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_error_format(void **state)
{
    (void)state;
    struct brig_error err = {"limits.pids", "out of range"};
    char text[64];
    brig_error_format(&err, text, sizeof text);
    assert_string_equal(text, "limits.pids: out of range");
    struct brig_error whole = {"", "truncated"};
    brig_error_format(&whole, text, sizeof text);
    assert_string_equal(text, "truncated");
}

static void expect_peek(const char *buf, size_t len, bool found, const char *id, const char *topic)
{
    char got_id[BRIG_ID_MAX + 1], got_topic[BRIG_TOPIC_MAX + 1];
    assert_int_equal(
        brig_job_peek_reply(buf, len, got_id, sizeof got_id, got_topic, sizeof got_topic), found);
    assert_string_equal(got_id, id);
    assert_string_equal(got_topic, topic);
}

static void test_peek_reply(void **state)
{
    (void)state;
    /* a job refused for its limits still names its id and reply topic */
    static const char refused[] = "\x84\xa2id\xa3j-1\xa6limits\x81\xa4pids\x00"
                                  "\xabreply_topic\xa5r.res\x01\x02";
    expect_peek(refused, sizeof refused - 1, true, "j-1", "r.res");
    /* cut short after the id */
    expect_peek(refused, 8, true, "j-1", "");
    /* the id after a value too deep to skip is out of reach */
    static const char deep[] = "\x82\xa1x\x91\x91\x91\x91\x91\x91\x91\x91\x91\x00\xa2id\xa1z";
    expect_peek(deep, sizeof deep - 1, false, "", "");
    /* a non-string key and a map value are skipped */
    static const char skipped[] = "\x83\x07\x81\xa1k\xa1v\xa1m\x81\x01\x02\xa2id\xa1z";
    expect_peek(skipped, sizeof skipped - 1, true, "z", "");
    /* invalid values are not taken: the first valid id is */
    static const char invalid_id[] = "\x83\xa2id\xa3j/1\xabreply_topic\xa2..\xa2id\x05";
    expect_peek(invalid_id, sizeof invalid_id - 1, false, "", "");
    static const char second_id[] = "\x82\xa2id\xa3j/1\xa2id\xa2ok";
    expect_peek(second_id, sizeof second_id - 1, true, "ok", "");
    /* a top-level map that claims more keys than it holds: what it holds is read */
    static const char lying[] = "\xdf\xff\xff\xff\xff\xa2id\xa1z";
    expect_peek(lying, sizeof lying - 1, true, "z", "");
    /* not a map, nothing at all, garbage */
    expect_peek("\x92\xa2id\xa1z", 5, false, "", "");
    expect_peek("", 0, false, "", "");
    expect_peek("\xc1\xc1\xc1", 3, false, "", "");
    /* an id longer than the caller's buffer is not cut */
    char small[3], topic[4];
    assert_false(
        brig_job_peek_reply(refused, sizeof refused - 1, small, sizeof small, topic, sizeof topic));
    assert_string_equal(small, "");
}

/* Every prefix and every single-byte change of a valid job, decoded and
 * peeked: refusals name a reason, nothing crashes (run under ASan). */
static void test_mutations_never_crash(void **state)
{
    (void)state;
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/job_full.msgpack", vectors_dir());
    char *orig = read_whole_file(path, &len);
    assert_non_null(orig);
    char *buf = malloc(len);
    char id[BRIG_ID_MAX + 1], topic[BRIG_TOPIC_MAX + 1];
    struct brig_error err;
    struct brig_job job;
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(buf, orig, cut);
        assert_int_equal(brig_job_decode(buf, cut, &job, &err), -1);
        assert_true(err.reason[0] != '\0');
        brig_job_peek_reply(buf, cut, id, sizeof id, topic, sizeof topic);
    }
    static const unsigned char values[] = {0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xdf, 0xff};
    for (size_t at = 0; at < len; at++) {
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(buf, orig, len);
            buf[at] = (char)values[v];
            if (brig_job_decode(buf, len, &job, &err) == 0)
                brig_job_free(&job);
            else
                assert_true(err.reason[0] != '\0');
            brig_job_peek_reply(buf, len, id, sizeof id, topic, sizeof topic);
        }
    }
    free(buf);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_data_bounds),
        cmocka_unit_test(test_messages_too_large),
        cmocka_unit_test(test_output_bounds),
        cmocka_unit_test(test_nesting_far_past_msgpack_stack),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_msgpack_keeps_duplicate_pairs),
        cmocka_unit_test(test_utf8_strictness),
        cmocka_unit_test(test_network_rules_parse),
        cmocka_unit_test(test_deep_path_conflict),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_peek_reply),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
