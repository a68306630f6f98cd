/* The channel codec (worker/interp_channel.h): every frame a kernel may
 * send, and what a hostile cell may write on the kernel's descriptor
 * instead: garbage, lengths past the bound, headers that claim billions of
 * elements, unknown or repeated keys, wrong types, counts past the bounds,
 * trailing bytes. Text is made valid UTF-8 without NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema/text.h"
#include "worker/interp_channel.h"

static msgpack_sbuffer buf;
static msgpack_packer pk;

static void start(void)
{
    msgpack_sbuffer_destroy(&buf);
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
}

static void str(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

static void bin(const char *s, size_t len)
{
    msgpack_pack_bin(&pk, len);
    msgpack_pack_bin_body(&pk, s, len);
}

static int decode(struct interp_frame *frame, char *err)
{
    return interp_frame_decode(buf.data, buf.size, frame, err, 256);
}

static struct interp_frame frame;
static char err[256];

static void expect_refused(const char *why)
{
    if (decode(&frame, err) == 0)
        fail_msg("decoded; expected refused (%s)", why);
    if (strstr(err, why) == NULL)
        fail_msg("refused with \"%s\", expected \"%s\"", err, why);
}

/* ---- valid frames ---- */

static void test_ready_and_dropped(void **state)
{
    (void)state;
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("ready");
    assert_int_equal(decode(&frame, err), 0);
    assert_int_equal(frame.type, INTERP_READY);
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("dropped");
    assert_int_equal(decode(&frame, err), 0);
    assert_int_equal(frame.type, INTERP_DROPPED);
}

static void test_output_with_t_anywhere(void **state)
{
    (void)state;
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0";
    start();
    msgpack_pack_map(&pk, 3);
    str("data");
    msgpack_pack_map(&pk, 2);
    str("text/plain"), str("42");
    str("image/png"), bin(png, sizeof(png) - 1);
    str("kind"), str("result");
    str("t"), str("output");
    assert_int_equal(decode(&frame, err), 0);
    assert_int_equal(frame.type, INTERP_OUTPUT);
    assert_true(frame.result);
    assert_int_equal(frame.item_count, 2);
    assert_string_equal(frame.items[0].type, "text/plain");
    assert_true(frame.items[0].text);
    assert_memory_equal(frame.items[0].data.data, "42", 2);
    assert_string_equal(frame.items[1].type, "image/png");
    assert_false(frame.items[1].text);
    assert_int_equal(frame.items[1].data.len, sizeof(png) - 1);
    assert_memory_equal(frame.items[1].data.data, png, sizeof(png) - 1);
}

static void test_error_and_done(void **state)
{
    (void)state;
    start();
    msgpack_pack_map(&pk, 4);
    str("t"), str("error");
    str("name"), str("ZeroDivisionError");
    str("value"), str("division by zero");
    str("traceback");
    msgpack_pack_array(&pk, 2);
    str("Cell In [1], line 1"), str("ZeroDivisionError: division by zero");
    assert_int_equal(decode(&frame, err), 0);
    assert_int_equal(frame.type, INTERP_ERROR);
    assert_int_equal(frame.name.len, strlen("ZeroDivisionError"));
    assert_int_equal(frame.traceback_count, 2);
    const char *statuses[] = {"ok", "error", "interrupted"};
    for (int i = 0; i < 3; i++) {
        start();
        msgpack_pack_map(&pk, 2);
        str("status"), str(statuses[i]);
        str("t"), str("done");
        assert_int_equal(decode(&frame, err), 0);
        assert_int_equal(frame.type, INTERP_DONE);
        assert_int_equal(frame.status, (enum interp_done_status)i);
    }
}

/* ---- hostile frames ---- */

static void test_garbage(void **state)
{
    (void)state;
    start();
    msgpack_sbuffer_write(&buf, "\xc1\xc1garbage", 9); /* 0xc1: never used */
    expect_refused("not msgpack");
    start();
    msgpack_pack_array(&pk, 1);
    str("done");
    expect_refused("not a map");
    start();
    msgpack_pack_map(&pk, 1);
    msgpack_pack_int(&pk, 1);
    str("ready");
    expect_refused("not a string");
}

static void test_headers_claiming_billions(void **state)
{
    (void)state;
    /* A map of 2^32-1 entries, an array and a string as long, in a few
     * bytes: refused as truncated, nothing allocated for them. */
    start();
    msgpack_sbuffer_write(&buf, "\xdf\xff\xff\xff\xff", 5);
    expect_refused("a key: truncated");
    start();
    msgpack_pack_map(&pk, 4);
    str("t"), str("error");
    str("name"), str("E");
    str("value"), str("v");
    str("traceback");
    msgpack_sbuffer_write(&buf, "\xdd\xff\xff\xff\xff", 5);
    expect_refused("traceback: 4294967295 entries");
    start();
    msgpack_pack_map(&pk, 1);
    str("t");
    msgpack_sbuffer_write(&buf, "\xdb\xff\xff\xff\xff", 5);
    expect_refused("truncated");
}

static void test_keys(void **state)
{
    (void)state;
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("reboot");
    expect_refused("not a frame type");
    start();
    msgpack_pack_map(&pk, 2);
    str("t"), str("ready");
    str("extra"), str("x");
    expect_refused("2 keys where the frame has 1");
    start();
    msgpack_pack_map(&pk, 2);
    str("t"), str("done");
    str("state"), str("ok");
    expect_refused("state: not a key of this frame");
    start();
    msgpack_pack_map(&pk, 2);
    str("t"), str("done");
    str("t"), str("done");
    expect_refused("t twice");
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("done");
    expect_refused("1 keys where the frame has 2");
    start();
    msgpack_pack_map(&pk, 2);
    str("t"), str("done");
    str("status"), str("fine");
    expect_refused("status: not ok, error or interrupted");
    start();
    msgpack_pack_map(&pk, 1);
    str("x"), str("ready");
    expect_refused("no t");
}

static void test_outputs(void **state)
{
    (void)state;
    start();
    msgpack_pack_map(&pk, 3);
    str("t"), str("output");
    str("kind"), str("stream");
    str("data");
    msgpack_pack_map(&pk, 1);
    str("text/plain"), str("x");
    expect_refused("kind: neither display nor result");
    const char *bad_types[] = {"TEXT/PLAIN", "text", "a/b/c", "te xt/plain", "x/"};
    for (size_t i = 0; i < 5; i++) {
        start();
        msgpack_pack_map(&pk, 3);
        str("t"), str("output");
        str("kind"), str("display");
        str("data");
        msgpack_pack_map(&pk, 1);
        str(bad_types[i]), str("x");
        expect_refused("is not type/subtype");
    }
    start();
    msgpack_pack_map(&pk, 3);
    str("t"), str("output");
    str("kind"), str("display");
    str("data");
    msgpack_pack_map(&pk, 17);
    for (int i = 0; i < 17; i++) {
        char type[32];
        snprintf(type, sizeof(type), "text/x-%d", i);
        str(type), str("x");
    }
    expect_refused("17 MIME types");
    start();
    msgpack_pack_map(&pk, 3);
    str("t"), str("output");
    str("kind"), str("display");
    str("data");
    msgpack_pack_map(&pk, 0);
    expect_refused("0 MIME types");
    start();
    msgpack_pack_map(&pk, 3);
    str("t"), str("output");
    str("kind"), str("display");
    str("data");
    msgpack_pack_map(&pk, 2);
    str("text/plain"), str("x");
    str("text/plain"), str("y");
    expect_refused("text/plain twice");
    start();
    msgpack_pack_map(&pk, 3);
    str("t"), str("output");
    str("kind"), str("display");
    str("data");
    msgpack_pack_map(&pk, 1);
    str("text/plain");
    msgpack_pack_int(&pk, 7);
    expect_refused("neither text nor bytes");
}

static void test_traceback_bound_and_trailing_bytes(void **state)
{
    (void)state;
    start();
    msgpack_pack_map(&pk, 4);
    str("t"), str("error");
    str("name"), str("E");
    str("value"), str("v");
    str("traceback");
    msgpack_pack_array(&pk, BRIG_TRACEBACK_MAX + 1);
    for (int i = 0; i <= BRIG_TRACEBACK_MAX; i++)
        str("frame");
    expect_refused("257 entries");
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("ready");
    msgpack_pack_nil(&pk);
    expect_refused("1 bytes after the frame's map");
}

/* ---- framing ---- */

static void length_prefix(char out[4], uint32_t n)
{
    out[0] = (char)(n >> 24), out[1] = (char)(n >> 16), out[2] = (char)(n >> 8), out[3] = (char)n;
}

static void test_reader_byte_by_byte(void **state)
{
    (void)state;
    struct interp_reader r;
    interp_reader_init(&r);
    start();
    msgpack_pack_map(&pk, 1);
    str("t"), str("ready");
    char head[4];
    length_prefix(head, (uint32_t)buf.size);
    char stream[64];
    memcpy(stream, head, 4);
    memcpy(stream + 4, buf.data, buf.size);
    memcpy(stream + 4 + buf.size, head, 4);
    memcpy(stream + 8 + buf.size, buf.data, buf.size);
    size_t total = 2 * (4 + buf.size), frames = 0;
    const char *f;
    size_t len;
    for (size_t i = 0; i < total; i++) {
        assert_int_equal(interp_reader_feed(&r, stream + i, 1), 0);
        int got;
        while ((got = interp_reader_next(&r, &f, &len, err, sizeof(err))) == 1) {
            assert_int_equal(interp_frame_decode(f, len, &frame, err, sizeof(err)), 0);
            assert_int_equal(frame.type, INTERP_READY);
            frames++;
        }
        assert_int_equal(got, 0);
    }
    assert_int_equal(frames, 2);
    assert_int_equal(interp_reader_pending(&r), 0);
    interp_reader_free(&r);
}

static void test_reader_refuses_bad_lengths(void **state)
{
    (void)state;
    const uint32_t lengths[] = {0, INTERP_FRAME_MAX + 1, UINT32_MAX};
    for (size_t i = 0; i < 3; i++) {
        struct interp_reader r;
        interp_reader_init(&r);
        char head[4];
        const char *f;
        size_t len;
        length_prefix(head, lengths[i]);
        assert_int_equal(interp_reader_feed(&r, head, 4), 0);
        assert_int_equal(interp_reader_next(&r, &f, &len, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "not 1 to"));
        interp_reader_free(&r);
    }
}

static void test_exec_round_trip(void **state)
{
    (void)state;
    struct brig_pair env[] = {{"A", "1"}, {"B", "two"}};
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    interp_exec_encode(&out, "x + 1", 5, env, 2, 7);
    const unsigned char *p = (const unsigned char *)out.data;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    assert_int_equal(n, out.size - 4);
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    assert_int_equal(msgpack_unpack_next(&msg, out.data + 4, n, NULL), MSGPACK_UNPACK_SUCCESS);
    msgpack_object o = msg.data;
    assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o.via.map.size, 4);
    assert_memory_equal(o.via.map.ptr[1].val.via.str.ptr, "x + 1", 5);
    assert_int_equal(o.via.map.ptr[2].val.via.map.size, 2);
    assert_int_equal(o.via.map.ptr[3].val.via.u64, 7);
    msgpack_unpacked_destroy(&msg);
    msgpack_sbuffer_destroy(&out);
}

/* ---- text ---- */

static void test_clean_text(void **state)
{
    (void)state;
    size_t bad_at;
    char *t = interp_clean_text("a\xff"
                                "b\0c\xc3",
                                6, 100);
    assert_string_equal(t, "a\xef\xbf\xbd"
                           "b\xef\xbf\xbd"
                           "c\xef\xbf\xbd");
    assert_true(utf8_valid(t, strlen(t), &bad_at));
    free(t);
    /* Cut at a boundary: "é" is two bytes and does not fit in 4. */
    t = interp_clean_text("abc\xc3\xa9", 5, 4);
    assert_string_equal(t, "abc");
    free(t);
    /* No room for a whole replacement character: none. */
    t = interp_clean_text("ab\xff", 3, 4);
    assert_string_equal(t, "ab");
    free(t);
    t = interp_clean_text("", 0, 0);
    assert_string_equal(t, "");
    free(t);
}

int main(void)
{
    msgpack_sbuffer_init(&buf);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_and_dropped),
        cmocka_unit_test(test_output_with_t_anywhere),
        cmocka_unit_test(test_error_and_done),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_headers_claiming_billions),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_traceback_bound_and_trailing_bytes),
        cmocka_unit_test(test_reader_byte_by_byte),
        cmocka_unit_test(test_reader_refuses_bad_lengths),
        cmocka_unit_test(test_exec_round_trip),
        cmocka_unit_test(test_clean_text),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    msgpack_sbuffer_destroy(&buf);
    return failed;
}
