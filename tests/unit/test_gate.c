/* The embedded broker's gate: its ledger's admissions (gate_ledger.h) and
 * its reading and writing of Kafka messages (gate_wire.h), hostile bytes
 * included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/gate_ledger.h"
#include "worker/gate_wire.h"

#define MIB (1u << 20)

static const struct gate_limits limits = {
    .partition_bytes = 5 * MIB, .partition_sets = 4, .message_bytes = 5 * MIB / 2};

static void test_admits_while_the_unread_fit(void **state)
{
    (void)state;
    struct gate_ledger *l = gate_ledger_new(&limits);
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_PASS);
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_PASS);
    /* In flight counts as unread: a third would make the broker delete. */
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_FULL);
    assert_int_equal(gate_ledger_admit(l, 1, 2 * MIB), GATE_PASS); /* another partition */
    assert_int_equal(gate_ledger_admit(l, 0, 5 * MIB / 2 + 1), GATE_TOO_LARGE);
    gate_ledger_settle(l, 0, 2 * MIB, 0, 10);  /* offsets 0-9 */
    gate_ledger_settle(l, 0, 2 * MIB, 10, 10); /* 10-19 */
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_FULL);
    gate_ledger_commit(l, 0, 9); /* offset 9 is still unread */
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_FULL);
    gate_ledger_commit(l, 0, 10);
    assert_int_equal(gate_ledger_admit(l, 0, 2 * MIB), GATE_PASS);
    size_t bytes, sets;
    gate_ledger_held(l, 0, &bytes, &sets);
    assert_int_equal(bytes, 4 * MIB);
    assert_int_equal(sets, 2);
    gate_ledger_free(l);
}

static void test_a_refused_set_frees_its_room(void **state)
{
    (void)state;
    struct gate_ledger *l = gate_ledger_new(&limits);
    assert_int_equal(gate_ledger_admit(l, 3, 2 * MIB), GATE_PASS);
    gate_ledger_settle(l, 3, 2 * MIB, -1, 0);
    size_t bytes, sets;
    gate_ledger_held(l, 3, &bytes, &sets);
    assert_int_equal(bytes + sets, 0);
    gate_ledger_free(l);
}

static void test_sets_are_counted_too(void **state)
{
    (void)state;
    struct gate_ledger *l = gate_ledger_new(&limits);
    for (int i = 0; i < 4; i++)
        assert_int_equal(gate_ledger_admit(l, 0, 10), GATE_PASS);
    assert_int_equal(gate_ledger_admit(l, 0, 10), GATE_FULL);
    gate_ledger_free(l);
}

static void test_an_orphan_holds_until_an_append_bounds_it(void **state)
{
    (void)state;
    struct gate_ledger *l = gate_ledger_new(&limits);
    gate_ledger_admit(l, 0, MIB);
    gate_ledger_settle(l, 0, MIB, 0, 5);
    gate_ledger_admit(l, 0, MIB);
    gate_ledger_orphan(l, 0, MIB); /* its answer was lost */
    gate_ledger_commit(l, 0, 100);
    size_t bytes, sets;
    gate_ledger_held(l, 0, &bytes, &sets);
    assert_int_equal(bytes, MIB); /* unbounded: kept whatever is committed */
    gate_ledger_admit(l, 0, MIB);
    gate_ledger_settle(l, 0, MIB, 120, 1); /* the orphan was below 120 */
    gate_ledger_commit(l, 0, 120);
    gate_ledger_held(l, 0, &bytes, &sets);
    assert_int_equal(bytes, MIB);
    assert_int_equal(sets, 1);
    gate_ledger_free(l);
}

/* A Produce v7 request for topic "t.jobs", partition 2, with a record
 * batch of `records` bytes holding `count` records. */
static size_t produce_request(uint8_t *out, size_t records, int32_t count, int16_t acks)
{
    uint8_t *p = out;
#define PUT(v, n)                                                                                  \
    do {                                                                                           \
        for (int i_ = (n)-1; i_ >= 0; i_--)                                                        \
            *p++ = (uint8_t)((uint64_t)(v) >> (8 * i_));                                           \
    } while (0)
    PUT(0, 2);  /* api key */
    PUT(7, 2);  /* version */
    PUT(42, 4); /* correlation id */
    PUT(1, 2);  /* client id */
    *p++ = 'c';
    PUT(0xffff, 2); /* null transactional id */
    PUT(acks, 2);
    PUT(1000, 4);
    PUT(1, 4); /* topics */
    PUT(6, 2);
    memcpy(p, "t.jobs", 6);
    p += 6;
    PUT(1, 4); /* partitions */
    PUT(2, 4);
    PUT(records, 4);
    memset(p, 0, records);
    if (records >= 61) {
        p[16] = 2; /* magic */
        p[57] = (uint8_t)(count >> 24);
        p[58] = (uint8_t)(count >> 16);
        p[59] = (uint8_t)(count >> 8);
        p[60] = (uint8_t)count;
    }
    p += records;
    return (size_t)(p - out);
}

static void test_a_produce_request_is_read(void **state)
{
    (void)state;
    uint8_t frame[512];
    size_t len = produce_request(frame, 100, 3, -1);
    struct gate_request_header h;
    assert_int_equal(gate_parse_request_header(frame, len, &h), 0);
    assert_int_equal(h.api_key, KAFKA_API_PRODUCE);
    assert_int_equal(h.version, 7);
    assert_int_equal(h.correlation_id, 42);
    int16_t acks;
    struct gate_entries e;
    assert_int_equal(gate_parse_produce(frame, len, &h, &acks, &e), 0);
    assert_int_equal(acks, -1);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0].topic_len, 6);
    assert_memory_equal(e.v[0].topic, "t.jobs", 6);
    assert_int_equal(e.v[0].partition, 2);
    assert_int_equal(e.v[0].records_len, 100);
    assert_int_equal(e.v[0].record_count, 3);

    /* The refusal the gate writes reads back as the broker's answer would. */
    e.v[0].error = KAFKA_ERR_NOT_ENOUGH_REPLICAS;
    size_t reply_len;
    uint8_t *reply = gate_produce_refusal(&h, &e, &reply_len);
    assert_non_null(reply);
    assert_int_equal(
        ((size_t)reply[0] << 24 | (size_t)reply[1] << 16 | (size_t)reply[2] << 8 | reply[3]),
        reply_len);
    struct gate_entries answer;
    assert_int_equal(gate_parse_produce_response(reply + 4, reply_len, 7, &answer), 0);
    assert_int_equal(answer.n, 1);
    assert_int_equal(answer.v[0].partition, 2);
    assert_int_equal(answer.v[0].error, KAFKA_ERR_NOT_ENOUGH_REPLICAS);
    assert_int_equal(answer.v[0].offset, -1);
    free(reply);
    gate_entries_free(&answer);
    gate_entries_free(&e);
}

static void test_every_truncation_of_a_request_is_refused(void **state)
{
    (void)state;
    uint8_t frame[512];
    size_t len = produce_request(frame, 80, 1, 1);
    for (size_t cut = 0; cut < len; cut++) {
        struct gate_request_header h;
        int16_t acks;
        struct gate_entries e;
        if (gate_parse_request_header(frame, cut, &h) < 0)
            continue;
        assert_int_equal(gate_parse_produce(frame, cut, &h, &acks, &e), -1);
        assert_null(e.v);
    }
}

static void test_a_hostile_count_allocates_nothing(void **state)
{
    (void)state;
    uint8_t frame[512];
    size_t len = produce_request(frame, 80, 1, 1);
    struct gate_request_header h;
    assert_int_equal(gate_parse_request_header(frame, len, &h), 0);
    /* The partitions count, after the topic name: 2^31 - 1. */
    uint8_t *count = frame + h.body + 2 + 2 + 4 + 4 + 2 + 6;
    memcpy(count, "\x7f\xff\xff\xff", 4);
    int16_t acks;
    struct gate_entries e;
    assert_int_equal(gate_parse_produce(frame, len, &h, &acks, &e), -1);
    assert_null(e.v);
}

static int32_t plus_one(int32_t port, void *ctx)
{
    (void)ctx;
    return port + 1;
}

static void test_metadata_ports_are_rewritten(void **state)
{
    (void)state;
    /* Metadata v1 answer: two brokers, then what follows untouched. */
    uint8_t frame[] = {0,    0,    0,   9,                              /* correlation id */
                       0,    0,    0,   2,                              /* brokers */
                       0,    0,    0,   1, 0, 1, 'h', 0, 0, 0x23, 0x28, /* 1, "h", 9000 */
                       0xff, 0xff,                                      /* null rack */
                       0,    0,    0,   2, 0, 1, 'h', 0, 0, 0x23, 0x29, /* 2, "h", 9001 */
                       0,    1,    'r',                                 /* rack "r" */
                       0xde, 0xad};
    assert_int_equal(
        gate_rewrite_ports(frame, sizeof(frame), KAFKA_API_METADATA, 1, plus_one, NULL), 0);
    assert_int_equal(frame[18], 0x29);
    assert_int_equal(frame[31], 0x2a);
    assert_int_equal(frame[35], 0xde);
    /* Cut inside the second broker: refused. */
    assert_int_equal(gate_rewrite_ports(frame, 28, KAFKA_API_METADATA, 1, plus_one, NULL), -1);
}

static void test_an_offset_commit_is_read(void **state)
{
    (void)state;
    /* OffsetCommit v7: group "g", generation, member "m", null instance,
     * topic "t.jobs" partition 1 offset 77, leader epoch, null metadata. */
    uint8_t frame[] = {0, 8, 0,   7,   0,   0,   0,   5,   0xff, 0xff, /* header, null client id */
                       0, 1, 'g', 0,   0,   0,   3,   0,   1,    'm',  0xff, 0xff, 0,    0,   0, 1,
                       0, 6, 't', '.', 'j', 'o', 'b', 's', 0,    0,    0,    1,    0,    0,   0, 1,
                       0, 0, 0,   0,   0,   0,   0,   77,  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    struct gate_request_header h;
    assert_int_equal(gate_parse_request_header(frame, sizeof(frame), &h), 0);
    const char *group;
    size_t group_len;
    struct gate_entries e;
    assert_int_equal(gate_parse_offset_commit(frame, sizeof(frame), &h, &group, &group_len, &e), 0);
    assert_int_equal(group_len, 1);
    assert_int_equal(group[0], 'g');
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0].partition, 1);
    assert_int_equal(e.v[0].offset, 77);
    gate_entries_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admits_while_the_unread_fit),
        cmocka_unit_test(test_a_refused_set_frees_its_room),
        cmocka_unit_test(test_sets_are_counted_too),
        cmocka_unit_test(test_an_orphan_holds_until_an_append_bounds_it),
        cmocka_unit_test(test_a_produce_request_is_read),
        cmocka_unit_test(test_every_truncation_of_a_request_is_refused),
        cmocka_unit_test(test_a_hostile_count_allocates_nothing),
        cmocka_unit_test(test_metadata_ports_are_rewritten),
        cmocka_unit_test(test_an_offset_commit_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
