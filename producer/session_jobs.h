/* A session's jobs as the audit stores this host can read have them
 * (audit_dbs.h: the local workers' stores, then fleet.db): for brig session
 * show, for replaying a cell from the session's first job, and for brig run
 * to tell a cell that lost its session's state from a session's first. */
#ifndef BRIG_PRODUCER_SESSION_JOBS_H
#define BRIG_PRODUCER_SESSION_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/audit_dbs.h"

struct session_job {
    char *job_id;
    int64_t created_ms;
    /* With records: the job as the store that has the most of it recorded
     * it, and that store. */
    struct audit_job_record *record;
    const char *db;
};

struct session_jobs {
    struct session_job *jobs; /* in the order they came, each once */
    size_t count;
};

/* Reads the session's jobs from every store, a job found in several once,
 * and with records each one's record. Returns 0 (count may be 0), or -1
 * with err. */
int session_jobs_read(const struct audit_dbs *dbs, const char *session, bool records,
                      struct session_jobs *out, char *err, size_t errlen);
void session_jobs_free(struct session_jobs *jobs);

/* The index of job_id in jobs, or -1. */
long session_jobs_find(const struct session_jobs *jobs, const char *job_id);

/* Whether the stores here record a cell of session in runtime's
 * interpreter before job_id (before any of the session's jobs when job_id
 * is not recorded yet). False when they cannot be read: this is a hint,
 * not a check. */
bool session_had_earlier_cells(const char *session, const char *job_id, const char *runtime);

#endif
