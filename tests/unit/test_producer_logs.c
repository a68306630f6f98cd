/* Log chunks put back in order per (attempt, stream), each once, newest
 * attempt only; and the table of watched job ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "producer/log_order.h"
#include "producer/watch_table.h"

/* What the sink received, as "attempt:stream:seq" words. */
static char seen[4096];

static void record(void *ctx, struct brig_log_chunk *chunk)
{
    (void)ctx;
    char word[64];
    snprintf(word, sizeof word, "%s%llu:%s:%llu%s", seen[0] ? " " : "",
             (unsigned long long)chunk->attempt, chunk->stream == BRIG_STREAM_STDERR ? "e" : "o",
             (unsigned long long)chunk->seq, chunk->eos ? "$" : "");
    strncat(seen, word, sizeof seen - strlen(seen) - 1);
    brig_log_chunk_free(chunk);
}

static void feed(struct log_order *order, uint64_t attempt, enum brig_stream stream, uint64_t seq,
                 bool eos)
{
    struct brig_log_chunk chunk = {
        .id = "j",
        .attempt = attempt,
        .stream = stream,
        .seq = seq,
        .data = {"x", 1},
        .eos = eos,
    };
    log_order_feed(order, &chunk, record, NULL);
}

#define OUT BRIG_STREAM_STDOUT
#define ERR BRIG_STREAM_STDERR

static int reset(void **state)
{
    (void)state;
    seen[0] = '\0';
    return 0;
}

static void test_in_order(void **state)
{
    (void)state;
    struct log_order order = {0};
    feed(&order, 1, OUT, 0, false);
    feed(&order, 1, ERR, 0, false);
    feed(&order, 1, OUT, 1, true);
    assert_false(log_order_ended(&order));
    feed(&order, 1, ERR, 1, true);
    assert_true(log_order_ended(&order));
    assert_string_equal(seen, "1:o:0 1:e:0 1:o:1$ 1:e:1$");
    log_order_free(&order);
}

static void test_reordered_and_duplicated(void **state)
{
    (void)state;
    struct log_order order = {0};
    feed(&order, 1, OUT, 2, false);
    feed(&order, 1, OUT, 1, false);
    feed(&order, 1, OUT, 2, false); /* a duplicate while held */
    assert_string_equal(seen, "");
    feed(&order, 1, OUT, 0, false);
    assert_string_equal(seen, "1:o:0 1:o:1 1:o:2");
    feed(&order, 1, OUT, 1, false); /* a duplicate once delivered */
    feed(&order, 1, OUT, 3, true);
    feed(&order, 1, OUT, 4, false); /* nothing follows the end */
    assert_string_equal(seen, "1:o:0 1:o:1 1:o:2 1:o:3$");
    log_order_free(&order);
}

static void test_attempts(void **state)
{
    (void)state;
    struct log_order order = {0};
    feed(&order, 1, OUT, 0, false);
    feed(&order, 1, OUT, 2, false); /* held, then dropped with its attempt */
    feed(&order, 2, OUT, 0, false); /* a retry starts over */
    feed(&order, 1, OUT, 1, false); /* late chunk of the old attempt */
    feed(&order, 2, ERR, 0, true);
    feed(&order, 2, OUT, 1, true);
    assert_string_equal(seen, "1:o:0 2:o:0 2:e:0$ 2:o:1$");
    assert_true(log_order_ended(&order));
    log_order_free(&order);
}

static void test_flush_skips_gaps(void **state)
{
    (void)state;
    struct log_order order = {0};
    feed(&order, 1, ERR, 3, false);
    feed(&order, 1, OUT, 5, false);
    feed(&order, 1, ERR, 1, false);
    log_order_flush(&order, record, NULL);
    assert_string_equal(seen, "1:o:5 1:e:1 1:e:3");
    feed(&order, 1, ERR, 2, false); /* now behind: a duplicate of the lost one */
    feed(&order, 1, ERR, 4, false);
    assert_string_equal(seen, "1:o:5 1:e:1 1:e:3 1:e:4");
    log_order_free(&order);
}

/* A gap that never fills does not hold chunks for ever. */
static void test_held_chunks_are_bounded(void **state)
{
    (void)state;
    struct log_order order = {0};
    for (uint64_t seq = 1; seq <= LOG_ORDER_MAX_HELD; seq++)
        feed(&order, 1, OUT, seq, false);
    assert_string_equal(seen, "");
    assert_int_equal(order.n_held, LOG_ORDER_MAX_HELD);
    feed(&order, 1, OUT, LOG_ORDER_MAX_HELD + 1, false);
    assert_int_equal(order.n_held, 0);
    assert_int_equal(order.next_seq[0], LOG_ORDER_MAX_HELD + 2);
    assert_non_null(strstr(seen, "1:o:1 1:o:2 "));
    log_order_free(&order);
}

static void test_watch_table(void **state)
{
    (void)state;
    struct watch_table table;
    char id[32];
    assert_int_equal(watch_table_init(&table), 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "job-%d", i);
        assert_non_null(watch_add(&table, id));
    }
    assert_int_equal(table.count, 10000);
    struct watch *w = watch_find(&table, "job-1234", 8);
    assert_non_null(w);
    assert_string_equal(w->id, "job-1234");
    assert_ptr_equal(watch_add(&table, "job-1234"), w); /* no second entry */
    assert_int_equal(table.count, 10000);
    /* keys arrive as Kafka bytes, without a NUL */
    assert_non_null(watch_find(&table, "job-12345678", 7));
    assert_ptr_equal(watch_find(&table, "job-1234", 7), watch_find(&table, "job-123", 7));
    assert_null(watch_find(&table, "job-123", 3));
    assert_null(watch_find(&table, "job-99999", 9));
    watch_remove(&table, w);
    assert_null(watch_find(&table, "job-1234", 8));
    assert_int_equal(table.count, 9999);

    char too_long[BRIG_ID_SIZE + 1];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_null(watch_add(&table, too_long));
    assert_null(watch_find(&table, too_long, strlen(too_long)));
    watch_table_free(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_in_order, reset),
        cmocka_unit_test_setup(test_reordered_and_duplicated, reset),
        cmocka_unit_test_setup(test_attempts, reset),
        cmocka_unit_test_setup(test_flush_skips_gaps, reset),
        cmocka_unit_test_setup(test_held_chunks_are_bounded, reset),
        cmocka_unit_test(test_watch_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
