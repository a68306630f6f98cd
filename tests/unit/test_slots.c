/* The slot pool: a job goes to a free slot only, finished jobs come back in
 * the order they finished with a wake-up each, and stopping waits for the
 * running ones. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/slots.h"

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int open;  /* jobs allowed to finish */
    int wakes; /* wake-ups received */
    int ran;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

/* A job is an int* id; it waits until the gate lets one more through. */
static void run(void *job, void *ctx)
{
    struct gate *g = ctx;
    (void)job;
    pthread_mutex_lock(&g->lock);
    while (g->open == 0)
        pthread_cond_wait(&g->cond, &g->lock);
    g->open--;
    g->ran++;
    pthread_mutex_unlock(&g->lock);
}

static void wake(void *ctx)
{
    struct gate *g = ctx;
    pthread_mutex_lock(&g->lock);
    g->wakes++;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void let_through(int n)
{
    pthread_mutex_lock(&gate.lock);
    gate.open += n;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

static void wait_wakes(int n)
{
    pthread_mutex_lock(&gate.lock);
    while (gate.wakes < n)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void test_jobs_only_to_free_slots(void **state)
{
    (void)state;
    struct slot_pool *pool;
    const struct slot_pool_ops ops = {
        .run = run, .run_ctx = &gate, .wake = wake, .wake_ctx = &gate};
    int jobs[3] = {1, 2, 3};
    assert_int_equal(slot_pool_start(2, &ops, &pool), 0);
    assert_int_equal(slot_pool_size(pool), 2);
    assert_true(slot_pool_submit(pool, &jobs[0]));
    assert_true(slot_pool_submit(pool, &jobs[1]));
    assert_int_equal(slot_pool_busy(pool), 2);
    assert_false(slot_pool_submit(pool, &jobs[2]));
    assert_null(slot_pool_take_done(pool));

    let_through(1);
    wait_wakes(1);
    assert_int_equal(slot_pool_busy(pool), 1);
    int *done = slot_pool_take_done(pool);
    assert_true(done == &jobs[0] || done == &jobs[1]);
    assert_null(slot_pool_take_done(pool));
    assert_true(slot_pool_submit(pool, &jobs[2]));

    /* Stopping waits for the two running jobs; they stay to be taken. */
    let_through(2);
    slot_pool_stop(pool);
    assert_int_equal(gate.ran, 3);
    assert_non_null(slot_pool_take_done(pool));
    assert_non_null(slot_pool_take_done(pool));
    assert_null(slot_pool_take_done(pool));
    assert_int_equal(gate.wakes, 3);
    slot_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_only_to_free_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
