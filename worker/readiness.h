/* What /readyz reports: a few named checks, each set by the code that knows
 * (start-up, the main loop) and read by the metrics server's thread. The
 * worker is ready when every check passes; until a check is first set it
 * fails with a "not yet" reason.
 *
 * No check follows what a job can cause (its files, its network requests),
 * so a hostile job cannot take a worker out of service: failures of single
 * jobs show in the metrics instead (brig_jail_setup_failures_total). */
#ifndef BRIG_WORKER_READINESS_H
#define BRIG_WORKER_READINESS_H

#include <stdbool.h>
#include <stddef.h>

enum readiness_check {
    READY_KAFKA,   /* connected to at least one broker */
    READY_AUDIT,   /* the last audit write committed */
    READY_JAILS,   /* the jail context is set up: cgroups and namespaces usable */
    READY_RUNNING, /* consuming jobs: subscribed and not draining */
    READY_CHECKS,
};

/* Sets a check; reason (printf-style) says what is wrong when ok is false
 * and is ignored otherwise. */
void readiness_set(enum readiness_check check, bool ok, const char *reason, ...)
    __attribute__((format(printf, 3, 4)));
void readiness_pass(enum readiness_check check);

/* Puts every check back to its "not yet" state (tests). */
void readiness_reset(void);

/* A metrics_readiness_fn: true when every check passes, else false with one
 * line per failing check, "<check>: <reason>", in reason. ctx is unused. */
bool readiness_report(void *ctx, char *reason, size_t reason_len);

#endif
