/* What this worker can run, announced to clients on <prefix>.runtimes, a
 * compacted topic (SCHEMA.md section 9): the runtimes record keyed by the
 * worker id once it has started, and a tombstone (a null value) under the
 * same key when it closes, so that `brig runtimes` lists the workers that are
 * up. Each goes through a short-lived producer of its own, flushed at once,
 * so that the answer path's producer (publish.c) keeps its delivery reports
 * for tasks alone.
 *
 * Discovery is not on the job path: a worker whose announcement fails logs
 * it and runs jobs all the same. */
#ifndef BRIG_WORKER_ANNOUNCE_H
#define BRIG_WORKER_ANNOUNCE_H

struct worker;

/* How long an announcement may take before it is given up. */
#define ANNOUNCE_TIMEOUT_MS 5000

/* Announces w's runtimes, or logs why it could not; setup.c calls it once
 * the worker is ready for jobs. */
void worker_announce(struct worker *w);
/* Withdraws what worker_announce() announced, if it did. */
void worker_withdraw(struct worker *w);

#endif
