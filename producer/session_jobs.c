#include "producer/session_jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"

struct collect {
    struct session_jobs *out;
    size_t capacity;
    bool oom;
};

static int add_row(void *ctx, const struct audit_list_row *row)
{
    struct collect *c = ctx;
    struct session_jobs *out = c->out;
    if (session_jobs_find(out, row->job_id) >= 0)
        return 0;
    if (out->count == c->capacity) {
        size_t grown = c->capacity ? 2 * c->capacity : 16;
        struct session_job *more = realloc(out->jobs, grown * sizeof *more);
        if (!more) {
            c->oom = true;
            return 1;
        }
        out->jobs = more;
        c->capacity = grown;
    }
    char *id = strdup(row->job_id);
    if (!id) {
        c->oom = true;
        return 1;
    }
    /* In time order; equal times keep the order they came in (a store's
     * own, by offset; the first store's before the next). */
    size_t at = out->count;
    while (at > 0 && out->jobs[at - 1].created_ms > row->created_ms)
        at--;
    memmove(&out->jobs[at + 1], &out->jobs[at], (out->count - at) * sizeof *out->jobs);
    out->jobs[at] = (struct session_job){.job_id = id, .created_ms = row->created_ms};
    out->count++;
    return 0;
}

int session_jobs_read(const struct audit_dbs *dbs, const char *session, bool records,
                      struct session_jobs *out, char *err, size_t errlen)
{
    struct collect c = {.out = out};
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < dbs->count && !c.oom; i++) {
        if (audit_list_session(dbs->paths[i], session, add_row, &c, err, errlen) < 0)
            goto fail;
    }
    if (c.oom) {
        snprintf(err, errlen, "reading the jobs of session %s: %s", session, strerror(ENOMEM));
        goto fail;
    }
    for (size_t i = 0; records && i < out->count; i++) {
        struct session_job *job = &out->jobs[i];
        if (audit_dbs_show(dbs, job->job_id, &job->record, &job->db, err, errlen) <= 0) {
            if (!job->record)
                snprintf(err, errlen, "job %s of session %s went from the audit stores",
                         job->job_id, session);
            goto fail;
        }
    }
    return 0;
fail:
    session_jobs_free(out);
    return -1;
}

void session_jobs_free(struct session_jobs *jobs)
{
    for (size_t i = 0; i < jobs->count; i++) {
        free(jobs->jobs[i].job_id);
        audit_job_record_free(jobs->jobs[i].record);
    }
    free(jobs->jobs);
    memset(jobs, 0, sizeof *jobs);
}

long session_jobs_find(const struct session_jobs *jobs, const char *job_id)
{
    for (size_t i = 0; i < jobs->count; i++) {
        if (strcmp(jobs->jobs[i].job_id, job_id) == 0)
            return (long)i;
    }
    return -1;
}

/* Whether the recorded job ran as a cell of runtime's interpreter. */
static bool was_cell(const struct audit_dbs *dbs, const char *job_id, const char *runtime)
{
    struct audit_job_record *record = NULL;
    const char *db;
    char err[1024];
    bool cell = false;
    if (audit_dbs_show(dbs, job_id, &record, &db, err, sizeof err) > 0 &&
        audit_final_attempt(record)) {
        const struct audit_attempt_record *final = audit_final_attempt(record);
        struct brig_result result;
        struct brig_error error;
        if (brig_result_decode(final->result, final->result_len, &result, &error) == 0) {
            cell = result.has_interpreter && result.runtime_name && runtime &&
                   strcmp(result.runtime_name, runtime) == 0;
            brig_result_free(&result);
        }
    }
    audit_job_record_free(record);
    return cell;
}

bool session_had_earlier_cells(const char *session, const char *job_id, const char *runtime)
{
    struct audit_dbs dbs;
    struct session_jobs jobs;
    char err[1024];
    bool earlier = false;
    if (audit_dbs_find(NULL, &dbs, err, sizeof err) < 0)
        return false;
    if (session_jobs_read(&dbs, session, false, &jobs, err, sizeof err) == 0) {
        long at = session_jobs_find(&jobs, job_id);
        /* From the nearest back: it is most often a cell itself. */
        for (long i = (at < 0 ? (long)jobs.count : at) - 1; i >= 0 && !earlier; i--)
            earlier = was_cell(&dbs, jobs.jobs[i].job_id, runtime);
        session_jobs_free(&jobs);
    }
    audit_dbs_free(&dbs);
    return earlier;
}
