/* The scheduler: order, sessions one at a time, one run per job id in flight,
 * what a revoke takes, and the backlog's hysteresis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/scheduler.h"

#define MAX_TASKS 64

struct fixture {
    struct scheduler *s;
    struct task *tasks[MAX_TASKS];
    unsigned n;
};

static const struct sched_limits limits = {.jobs = 8, .bytes = 1000};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->s = sched_new(&limits);
    *state = f;
    return f->s ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sched_free(f->s);
    for (unsigned i = 0; i < f->n; i++)
        task_free(f->tasks[i]);
    free(f);
    return 0;
}

/* A valid job as intake would hand it over: id, session, partition, size. */
static struct task *job(struct fixture *f, const char *id, const char *session, int32_t partition,
                        size_t bytes)
{
    struct task *t = task_new(partition, 1, f->n, 1, NULL, 0, "x", 1);
    assert_non_null(t);
    t->raw_len = bytes;
    t->job.id = id;
    t->job.session = session;
    f->tasks[f->n++] = t;
    return t;
}

static int count(struct task *list)
{
    int n = 0;
    for (; list; list = list->next)
        n++;
    return n;
}

static void test_fifo_order(void **state)
{
    struct fixture *f = *state;
    struct task *a = job(f, "a", NULL, 0, 1), *b = job(f, "b", NULL, 1, 1);
    assert_int_equal(sched_add(f->s, a), SCHED_QUEUED);
    assert_int_equal(sched_add(f->s, b), SCHED_QUEUED);
    assert_int_equal(sched_pending(f->s), 2);
    assert_ptr_equal(sched_next(f->s), a);
    assert_int_equal(a->stage, TASK_RUNNING);
    assert_ptr_equal(sched_next(f->s), b);
    assert_null(sched_next(f->s));
    assert_int_equal(sched_running(f->s), 2);
}

static void test_session_runs_one_at_a_time_in_order(void **state)
{
    struct fixture *f = *state;
    struct task *s1 = job(f, "s1", "nb", 0, 1), *s2 = job(f, "s2", "nb", 0, 1);
    struct task *other = job(f, "o", "other", 0, 1), *plain = job(f, "p", "", 0, 1);
    sched_add(f->s, s1);
    sched_add(f->s, s2);
    sched_add(f->s, other);
    sched_add(f->s, plain);
    assert_ptr_equal(sched_next(f->s), s1);
    /* s2 waits for s1; the jobs behind it do not. */
    assert_ptr_equal(sched_next(f->s), other);
    assert_ptr_equal(sched_next(f->s), plain);
    assert_null(sched_next(f->s));
    assert_null(sched_finish(f->s, s1));
    assert_ptr_equal(sched_next(f->s), s2);
}

/* 10000 deliveries of one job id: one runs, the rest follow it and are
 * handed back, in order, when it ends. */
static void test_copies_of_one_id_run_once(void **state)
{
    struct fixture *f = *state;
    struct task *first = job(f, "same", NULL, 0, 1);
    assert_int_equal(sched_add(f->s, first), SCHED_QUEUED);
    struct task *copies[20];
    for (int i = 0; i < 20; i++) {
        copies[i] = job(f, "same", NULL, i % 3, 1);
        assert_int_equal(sched_add(f->s, copies[i]), SCHED_FOLLOWS);
    }
    assert_int_equal(sched_pending(f->s), 1);
    assert_int_equal(sched_waiting(f->s), 21);
    assert_ptr_equal(sched_next(f->s), first);
    assert_null(sched_next(f->s));
    /* A copy that arrives while the first runs follows it too. */
    struct task *late = job(f, "same", NULL, 0, 1);
    assert_int_equal(sched_add(f->s, late), SCHED_FOLLOWS);

    struct task *followers = sched_finish(f->s, first);
    assert_int_equal(count(followers), 21);
    for (int i = 0; i < 20; i++, followers = followers->next)
        assert_ptr_equal(followers, copies[i]);
    assert_ptr_equal(followers, late);
    assert_int_equal(sched_waiting(f->s), 0);
    /* The id is free again: a later delivery runs (the store answers it). */
    struct task *again = job(f, "same", NULL, 0, 1);
    assert_int_equal(sched_add(f->s, again), SCHED_QUEUED);
}

static bool keep_partition_1(const struct task *task, void *ctx)
{
    (void)ctx;
    return task->partition == 1;
}

/* A revoke takes the partition's pending jobs and followers; a leader taken
 * hands its place to its first follower of another partition. */
static void test_revoke_takes_partition_and_promotes_heir(void **state)
{
    struct fixture *f = *state;
    struct task *gone = job(f, "a", NULL, 0, 1);
    struct task *stays = job(f, "b", NULL, 1, 1);
    struct task *lead = job(f, "c", NULL, 0, 1);
    struct task *heir = job(f, "c", NULL, 1, 1);
    struct task *follower_gone = job(f, "c", NULL, 0, 1);
    struct task *running = job(f, "d", NULL, 0, 1);
    struct task *running_follower = job(f, "d", NULL, 0, 1);
    sched_add(f->s, running);
    assert_ptr_equal(sched_next(f->s), running);
    sched_add(f->s, gone);
    sched_add(f->s, stays);
    sched_add(f->s, lead);
    sched_add(f->s, heir);
    sched_add(f->s, follower_gone);
    sched_add(f->s, running_follower);

    struct task *taken = sched_take_unless(f->s, keep_partition_1, NULL);
    assert_int_equal(count(taken), 4); /* gone, lead, follower_gone, running_follower */
    for (struct task *t = taken; t; t = t->next)
        assert_int_equal(t->partition, 0);
    assert_int_equal(sched_running(f->s), 1);
    assert_ptr_equal(sched_next(f->s), stays);
    assert_ptr_equal(sched_next(f->s), heir);
    assert_null(sched_next(f->s));
    assert_null(sched_finish(f->s, running));
    assert_int_equal(sched_waiting(f->s), 0);
}

static void test_backlog_pauses_with_hysteresis(void **state)
{
    struct fixture *f = *state;
    struct task *t[8];
    for (int i = 0; i < 8; i++) {
        char *id = malloc(8);
        snprintf(id, 8, "j%d", i);
        t[i] = job(f, id, NULL, 0, 10);
        sched_add(f->s, t[i]);
        assert_int_equal(sched_wants_pause(f->s, false), i == 7);
    }
    /* Paused at 8 jobs; resumed only at 4 (half). */
    for (int i = 0; i < 4; i++) {
        assert_true(sched_wants_pause(f->s, true));
        sched_next(f->s);
    }
    assert_false(sched_wants_pause(f->s, true));
    for (int i = 0; i < 8; i++)
        free((char *)t[i]->job.id);
}

static void test_backlog_bytes(void **state)
{
    struct fixture *f = *state;
    struct task *big = job(f, "big", NULL, 0, 999);
    sched_add(f->s, big);
    assert_false(sched_wants_pause(f->s, false));
    /* Followers hold their messages too. */
    sched_add(f->s, job(f, "big", NULL, 0, 1));
    assert_true(sched_wants_pause(f->s, false));
    sched_next(f->s);
    assert_false(sched_wants_pause(f->s, true));
}

/* At most one running job per account, as a tenant's concurrent_jobs. */
static bool one_per_account(const struct task *task, void *ctx)
{
    (void)ctx;
    return !task->account || task->account->running < 1;
}

/* A held job waits and the jobs behind it go ahead; the account counts its
 * tasks waiting (with their bytes, followers too) and running. */
static void test_held_jobs_let_others_pass_and_are_counted(void **state)
{
    struct fixture *f = *state;
    struct sched_limits held = {.jobs = 8, .bytes = 1000, .may_start = one_per_account};
    struct scheduler *s = sched_new(&held);
    struct sched_account acme = {0};
    struct task *a1 = job(f, "a1", NULL, 0, 10), *a2 = job(f, "a2", NULL, 0, 20);
    struct task *copy = job(f, "a2", NULL, 1, 5), *b = job(f, "b", NULL, 0, 1);
    a1->account = a2->account = copy->account = &acme;
    sched_add(s, a1);
    sched_add(s, a2);
    assert_int_equal(sched_add(s, copy), SCHED_FOLLOWS);
    sched_add(s, b);
    assert_int_equal(acme.waiting, 3);
    assert_int_equal(acme.waiting_bytes, 35);
    assert_ptr_equal(sched_next(s), a1);
    assert_int_equal(acme.running, 1);
    assert_int_equal(acme.waiting, 2);
    /* a2 is held: b, behind it, goes first. */
    assert_ptr_equal(sched_next(s), b);
    assert_null(sched_next(s));
    assert_null(sched_finish(s, a1));
    assert_int_equal(acme.running, 0);
    assert_ptr_equal(sched_next(s), a2);
    struct task *followers = sched_finish(s, a2);
    assert_ptr_equal(followers, copy);
    assert_int_equal(acme.waiting, 0);
    assert_int_equal(acme.waiting_bytes, 0);
    assert_int_equal(acme.running, 0);
    sched_finish(s, b);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
        T(test_fifo_order),
        T(test_session_runs_one_at_a_time_in_order),
        T(test_copies_of_one_id_run_once),
        T(test_revoke_takes_partition_and_promotes_heir),
        T(test_backlog_pauses_with_hysteresis),
        T(test_backlog_bytes),
        T(test_held_jobs_let_others_pass_and_are_counted),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
