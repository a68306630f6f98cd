/* The jail slots: a fixed set of threads, made once, each running one job at
 * a time. Finished jobs come back to the main loop through a queue, and a
 * wake-up callback lets the main loop return from its Kafka poll at once. */
#ifndef BRIG_WORKER_SLOTS_H
#define BRIG_WORKER_SLOTS_H

#include <stdbool.h>

struct slot_pool;

struct slot_pool_ops {
    void (*run)(void *job, void *run_ctx); /* in a slot thread */
    void *run_ctx;                         /* all a slot sees besides its job */
    void (*wake)(void *wake_ctx);          /* in a slot thread, after a job is queued as done */
    void *wake_ctx;
};

int slot_pool_start(unsigned slots, const struct slot_pool_ops *ops, struct slot_pool **out);

/* Hands job to a free slot; false when every slot is busy. */
bool slot_pool_submit(struct slot_pool *pool, void *job);

unsigned slot_pool_busy(struct slot_pool *pool);
unsigned slot_pool_size(const struct slot_pool *pool);

/* The next finished job, or NULL. */
void *slot_pool_take_done(struct slot_pool *pool);

/* Waits for running jobs to finish, then stops and joins the threads.
 * Finished jobs not yet taken are left for slot_pool_take_done. */
void slot_pool_stop(struct slot_pool *pool);
void slot_pool_free(struct slot_pool *pool);

#endif
