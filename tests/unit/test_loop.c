/* The main loop's decisions (worker/loop.h): the periodic work's schedule,
 * pausing the consumer, cutting a drain short. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "worker/loop.h"
#include "worker/task.h"

static const struct loop_duties all = {
    .tenants = true, .embedded_broker = true, .session_ttl_ms = 5000};

static void test_each_work_is_due_at_the_first_turn_then_once_per_interval(void **state)
{
    (void)state;
    struct loop_clock clock = {0};
    const unsigned every_second = LOOP_EXPIRE_WAITING | LOOP_CHECK_BROKER;
    assert_int_equal(loop_due(&clock, &all, 100), every_second | LOOP_SWEEP_SESSIONS);
    assert_int_equal(loop_due(&clock, &all, 100), 0);
    assert_int_equal(loop_due(&clock, &all, 1099), 0);
    assert_int_equal(loop_due(&clock, &all, 1100), every_second);
    assert_int_equal(loop_due(&clock, &all, 2099), 0);
    assert_int_equal(loop_due(&clock, &all, 2100), every_second);
    /* Sessions every TTL, when that is shorter than a minute. */
    assert_int_equal(loop_due(&clock, &all, 5099), every_second);
    assert_int_equal(loop_due(&clock, &all, 5100), LOOP_SWEEP_SESSIONS);
}

static void test_sessions_are_swept_every_minute_at_most(void **state)
{
    (void)state;
    const struct loop_duties sessions = {.session_ttl_ms = 24 * 3600 * 1000ull};
    struct loop_clock clock = {0};
    assert_int_equal(loop_due(&clock, &sessions, 0), LOOP_SWEEP_SESSIONS);
    assert_int_equal(loop_due(&clock, &sessions, 59999), 0);
    assert_int_equal(loop_due(&clock, &sessions, 60000), LOOP_SWEEP_SESSIONS);
}

static void test_a_late_turn_does_each_work_once_without_catching_up(void **state)
{
    (void)state;
    struct loop_clock clock = {0};
    loop_due(&clock, &all, 0);
    /* A turn 10 s late (a rebalance, a slow commit): once, then a second on. */
    assert_int_equal(loop_due(&clock, &all, 10000),
                     LOOP_EXPIRE_WAITING | LOOP_CHECK_BROKER | LOOP_SWEEP_SESSIONS);
    assert_int_equal(loop_due(&clock, &all, 10001), 0);
    assert_int_equal(loop_due(&clock, &all, 10999), 0);
    assert_int_equal(loop_due(&clock, &all, 11000), LOOP_EXPIRE_WAITING | LOOP_CHECK_BROKER);
}

static void test_no_work_is_due_without_its_duty(void **state)
{
    (void)state;
    const struct loop_duties none = {0};
    struct loop_clock clock = {0};
    for (int64_t now = 0; now < 200000; now += 500)
        assert_int_equal(loop_due(&clock, &none, now), 0);
    const struct loop_duties broker_only = {.embedded_broker = true};
    assert_int_equal(loop_due(&clock, &broker_only, 200000), LOOP_CHECK_BROKER);
}

static void test_draining_pauses_whatever_the_backlog(void **state)
{
    (void)state;
    const struct sched_limits limits = {.jobs = 2, .bytes = 1000};
    struct scheduler *s = sched_new(&limits);
    assert_non_null(s);
    assert_false(loop_wants_pause(false, s, false));
    assert_false(loop_wants_pause(false, s, true)); /* an empty backlog resumes */
    assert_true(loop_wants_pause(true, s, false));
    assert_true(loop_wants_pause(true, s, true));

    struct task *t[2];
    const char *ids[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        t[i] = task_new(0, 1, i, 1, NULL, 0, "x", 1);
        assert_non_null(t[i]);
        t[i]->job.id = ids[i];
        sched_add(s, t[i]);
    }
    assert_true(loop_wants_pause(false, s, false)); /* full */
    assert_ptr_equal(sched_next(s), t[0]);
    assert_ptr_equal(sched_next(s), t[1]);
    assert_false(loop_wants_pause(false, s, true));
    assert_true(loop_wants_pause(true, s, true));
    sched_finish(s, t[0]);
    sched_finish(s, t[1]);
    task_free(t[0]);
    task_free(t[1]);
    sched_free(s);
}

static void test_a_drain_is_cut_short_by_a_second_signal_or_its_deadline(void **state)
{
    (void)state;
    assert_false(loop_drain_cut_short(1, 999, 1000));
    assert_true(loop_drain_cut_short(1, 1000, 1000));
    assert_true(loop_drain_cut_short(2, 0, 1000));
    assert_true(loop_drain_cut_short(3, 0, 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_work_is_due_at_the_first_turn_then_once_per_interval),
        cmocka_unit_test(test_sessions_are_swept_every_minute_at_most),
        cmocka_unit_test(test_a_late_turn_does_each_work_once_without_catching_up),
        cmocka_unit_test(test_no_work_is_due_without_its_duty),
        cmocka_unit_test(test_draining_pauses_whatever_the_backlog),
        cmocka_unit_test(test_a_drain_is_cut_short_by_a_second_signal_or_its_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
