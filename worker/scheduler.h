/* The scheduler: which received job runs next.
 *
 * Valid jobs wait here, in the order they were received, until a slot is
 * free. Four rules decide the order:
 *
 *   - A session's jobs share its workspace (and interpreter), so they run
 *     one at a time in the order received: a pending job waits while its
 *     session has a job running, and so do the ones behind it.
 *   - One job id runs once at a time. A delivery of a job whose id is
 *     already pending or running here becomes a follower of that first one
 *     (the leader): it takes no slot and is answered with the leader's
 *     result once that attempt ends, so that 10000 copies of a job sent at
 *     once run once, and `attempt` counts runs, not deliveries.
 *   - A job the caller's may_start() holds back (its tenant's quota is
 *     spent) waits, and the jobs behind it may go first: one tenant's
 *     waiting jobs never hold up another's.
 *   - The backlog is bounded in jobs and in bytes; the caller pauses the
 *     consumer while sched_wants_pause() says so (with hysteresis: it
 *     resumes once the backlog has drained to half).
 *
 * The scheduler never frees a task and knows nothing of Kafka or slots: it
 * keeps the tasks it is given, linked through task->sched, and hands them
 * back. Main loop thread only. */
#ifndef BRIG_WORKER_SCHEDULER_H
#define BRIG_WORKER_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/task.h"

struct scheduler;

struct sched_limits {
    unsigned jobs;  /* pending jobs before the consumer is paused */
    uint64_t bytes; /* their message bytes */
    /* Whether a pending job may start now (NULL: every one may). */
    bool (*may_start)(const struct task *task, void *ctx);
    void *may_start_ctx;
};

/* NULL when out of memory. */
struct scheduler *sched_new(const struct sched_limits *limits);
/* Frees the scheduler, not the tasks it still holds. NULL is a no-op. */
void sched_free(struct scheduler *s);

enum sched_added {
    SCHED_QUEUED,  /* pending, in order */
    SCHED_FOLLOWS, /* a follower of the pending or running job with its id */
};

/* Takes a valid job (task->job decoded). Its account, when it has one,
 * counts it as waiting until it starts or is taken out, then as running
 * until it finishes. */
enum sched_added sched_add(struct scheduler *s, struct task *task);

/* The oldest pending job that may start now, taken out of the queue and
 * counted as running (its session busy, its id in flight); NULL when none. */
struct task *sched_next(struct scheduler *s);

/* A running job's attempt ended: its session and id are free again. Returns
 * its followers, linked through ->next in the order they arrived, for the
 * caller to answer with this attempt's result. */
struct task *sched_finish(struct scheduler *s, struct task *task);

/* Takes out every pending job and follower that keep_fn does not keep (a
 * revoked partition's, or all of them on shutdown) and returns them linked
 * through ->next. A running job stays (its slot has it); a leader taken out
 * hands its place in the queue to its first remaining follower. */
struct task *sched_take_unless(struct scheduler *s, bool (*keep_fn)(const struct task *, void *),
                               void *ctx);

/* The pending or running job with this id (its first delivery), or NULL. */
struct task *sched_find(struct scheduler *s, const char *id);

/* Calls fn for each running job. */
void sched_for_each_running(struct scheduler *s, void (*fn)(struct task *task, void *ctx),
                            void *ctx);

unsigned sched_pending(const struct scheduler *s);
unsigned sched_running(const struct scheduler *s);
/* Pending jobs and followers: what a shutdown gives up. */
unsigned sched_waiting(const struct scheduler *s);

/* Whether the consumer should be paused, given whether it is now. */
bool sched_wants_pause(const struct scheduler *s, bool paused);

#endif
