/* The main loop's decisions that depend only on its state and the time
 * (loop.c): which periodic work is due, whether the consumer is paused, when
 * a drain stops waiting for running jobs. Kept apart from the Kafka calls
 * that act on them, so that they are unit-tested (tests/unit/test_loop.c). */
#ifndef BRIG_WORKER_LOOP_H
#define BRIG_WORKER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "worker/scheduler.h"

/* When each periodic work is next due, in monotonic ms; all 0 at start, so
 * each is due at the first turn. */
struct loop_clock {
    int64_t next_expiry_ms, next_broker_check_ms, next_session_sweep_ms;
};

/* What this worker has to do periodically at all. */
struct loop_duties {
    bool tenants;            /* expire jobs whose deadline passed while a quota held them */
    bool embedded_broker;    /* check that the embedded broker it uses still runs */
    uint64_t session_ttl_ms; /* remove sessions idle this long; 0 = never */
};

enum loop_work {
    LOOP_EXPIRE_WAITING = 1u << 0,
    LOOP_CHECK_BROKER = 1u << 1,
    LOOP_SWEEP_SESSIONS = 1u << 2,
};

/* The works (enum loop_work) due at now, each then scheduled again from now:
 * a late turn does each once, with no catching up. */
unsigned loop_due(struct loop_clock *clock, const struct loop_duties *duties, int64_t now);

/* Whether the consumer should be paused: always while draining, else while
 * the scheduler's backlog is full (scheduler.h; paused is the current
 * state). */
bool loop_wants_pause(bool draining, const struct scheduler *s, bool paused);

/* Whether a drain stops the jobs still running rather than wait on: at a
 * second stop signal, or once its deadline (monotonic ms) has come. */
bool loop_drain_cut_short(int stop_requests, int64_t now, int64_t deadline);

#endif
