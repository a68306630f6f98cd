#include "producer/replay_cells.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "producer/session_jobs.h"

/* Publishes the recorded job again in session, as a replay of itself. */
static int submit_again(struct brig_client *client, const struct session_job *entry,
                        const char *session, struct replayed_job *out, char *err, size_t errlen)
{
    struct brig_job job;
    struct brig_error error;
    const struct audit_attempt_record *final = audit_final_attempt(entry->record);
    snprintf(out->original, sizeof out->original, "%s", entry->job_id);
    snprintf(out->original_status, sizeof out->original_status, "%s",
             final && final->status ? final->status : "");
    if (brig_job_decode(entry->record->raw, entry->record->raw_len, &job, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "the recorded job %s of the session cannot be decoded: %s",
                 entry->job_id, why);
        return -1;
    }
    /* As brig replay sends any job: a new id, no deadline, answered to us. */
    job.id = NULL;
    job.session = session;
    job.replay_of = entry->job_id;
    job.deadline_ms = 0;
    job.reply_topic = NULL;
    job.stream_logs = false;
    int rc = brig_submit(client, &job, out->replay, err, errlen);
    brig_job_free(&job);
    return rc;
}

/* Whether the first recorded job started the session's interpreter, as
 * the first of a complete session does when it is a cell. */
static bool starts_the_session(const struct session_job *first)
{
    const struct audit_attempt_record *final = audit_final_attempt(first->record);
    struct brig_result result;
    struct brig_error error;
    if (!final || brig_result_decode(final->result, final->result_len, &result, &error) < 0)
        return true;
    bool incomplete = result.has_interpreter && !result.interpreter_started;
    brig_result_free(&result);
    return !incomplete;
}

static int64_t left_of(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - monotonic_ms();
    return left > 0 ? left : 0;
}

static int run_all(struct brig_client *client, const struct session_jobs *jobs, size_t cell_at,
                   int64_t timeout_ms, struct cell_replay *out, struct brig_result *last, char *err,
                   size_t errlen)
{
    if (!(out->jobs = calloc(cell_at + 1, sizeof *out->jobs))) {
        snprintf(err, errlen, "replaying %zu jobs: %s", cell_at + 1, strerror(ENOMEM));
        return -1;
    }
    /* All at once: the session's key keeps them in order on one partition,
     * and its worker runs them one after the other. */
    for (size_t i = 0; i <= cell_at; i++) {
        if (submit_again(client, &jobs->jobs[i], out->session, &out->jobs[i], err, errlen) < 0)
            return -1;
        out->count++;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    for (size_t i = 0; i <= cell_at; i++) {
        struct brig_result result;
        int waited =
            brig_wait(client, out->jobs[i].replay, left_of(deadline), &result, err, errlen);
        if (waited != 0)
            return waited;
        out->jobs[i].replay_status = result.status;
        out->jobs[i].answered = true;
        if (i == cell_at)
            *last = result;
        else
            brig_result_free(&result);
    }
    return 0;
}

int replay_cells(struct brig_client *client, const char *audit_db, const char *session,
                 const char *cell_id, int64_t timeout_ms, struct cell_replay *out,
                 struct brig_result *last, char *err, size_t errlen)
{
    struct audit_dbs dbs;
    struct session_jobs jobs;
    char id[BRIG_ID_SIZE];
    memset(out, 0, sizeof *out);
    brig_new_id(id);
    /* 24 hex digits: the session id stays within its 64 bytes. */
    snprintf(out->session, sizeof out->session, "replay-%.24s", id);
    if (audit_dbs_find(audit_db, &dbs, err, errlen) < 0)
        return -1;
    int rc = session_jobs_read(&dbs, session, true, &jobs, err, errlen);
    audit_dbs_free(&dbs);
    if (rc < 0)
        return -1;
    long cell_at = session_jobs_find(&jobs, cell_id);
    if (cell_at < 0) {
        snprintf(err, errlen, "job %s is not among the recorded jobs of session %s", cell_id,
                 session);
        rc = -1;
    } else {
        out->incomplete = !starts_the_session(&jobs.jobs[0]);
        rc = run_all(client, &jobs, (size_t)cell_at, timeout_ms, out, last, err, errlen);
    }
    session_jobs_free(&jobs);
    return rc;
}

void cell_replay_free(struct cell_replay *replay)
{
    free(replay->jobs);
    memset(replay, 0, sizeof *replay);
}
