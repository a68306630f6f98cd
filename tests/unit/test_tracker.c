#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "worker/tracker.h"

static void nothing_finished_is_not_committable(void **state)
{
    (void)state;
    struct partition_tracker *t = tracker_new();
    assert_int_equal(tracker_begin(t, 10), 0);
    assert_int_equal(tracker_committable(t), -1);
    assert_int_equal(tracker_in_flight(t), 1);
    tracker_free(t);
}

static void slow_job_holds_back_later_offsets(void **state)
{
    (void)state;
    struct partition_tracker *t = tracker_new();
    for (int64_t o = 5; o <= 8; o++)
        assert_int_equal(tracker_begin(t, o), 0);
    assert_int_equal(tracker_finish(t, 7), 0);
    assert_int_equal(tracker_finish(t, 8), 0);
    assert_int_equal(tracker_committable(t), -1); /* 5 and 6 still run */
    assert_int_equal(tracker_finish(t, 5), 0);
    assert_int_equal(tracker_committable(t), 6); /* 6 is the lowest unfinished */
    assert_int_equal(tracker_finish(t, 6), 0);
    assert_int_equal(tracker_committable(t), 9);
    assert_int_equal(tracker_in_flight(t), 0);
    tracker_free(t);
}

static void gaps_in_offsets_are_fine(void **state)
{
    (void)state;
    /* Compacted topics and transaction markers leave holes in the offsets. */
    struct partition_tracker *t = tracker_new();
    assert_int_equal(tracker_begin(t, 1), 0);
    assert_int_equal(tracker_begin(t, 4), 0);
    assert_int_equal(tracker_finish(t, 4), 0);
    assert_int_equal(tracker_finish(t, 1), 0);
    assert_int_equal(tracker_committable(t), 5);
    tracker_free(t);
}

static void refuses_out_of_order_and_unknown_offsets(void **state)
{
    (void)state;
    struct partition_tracker *t = tracker_new();
    assert_int_equal(tracker_begin(t, 3), 0);
    assert_int_equal(tracker_begin(t, 3), -1);
    assert_int_equal(tracker_begin(t, 2), -1);
    assert_int_equal(tracker_finish(t, 9), -1);
    assert_int_equal(tracker_finish(t, 3), 0);
    assert_int_equal(tracker_finish(t, 3), -1);
    tracker_free(t);
}

static void ring_grows_and_wraps(void **state)
{
    (void)state;
    struct partition_tracker *t = tracker_new();
    int64_t next = 0;
    /* Keep 100 in flight while finishing in order, so the ring wraps many times. */
    for (; next < 100; next++)
        assert_int_equal(tracker_begin(t, next), 0);
    for (int64_t done = 0; done < 5000; done++) {
        assert_int_equal(tracker_finish(t, done), 0);
        assert_int_equal(tracker_committable(t), done + 1);
        assert_int_equal(tracker_begin(t, next++), 0);
    }
    assert_int_equal(tracker_in_flight(t), 100);
    tracker_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_finished_is_not_committable),
        cmocka_unit_test(slow_job_holds_back_later_offsets),
        cmocka_unit_test(gaps_in_offsets_are_fine),
        cmocka_unit_test(refuses_out_of_order_and_unknown_offsets),
        cmocka_unit_test(ring_grows_and_wraps),
    };
    return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
