/* The read side of the audit store, for brig audit ls / show, brig session
 * show and brig replay:
 * read-only connections that work while a worker writes (WAL readers see the
 * last committed batch and never block the writer). */
#include "worker/audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "worker/audit_schema.h"

static const char list_sql[] =
    "SELECT job_id, created_ms, runtime, session, replay_of, attempts, state, status, exit_code,"
    " signal, wall_us, worker_id, tenant FROM job_summary"
    " WHERE created_ms >= ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR runtime = ?3)"
    " AND (?5 IS NULL OR tenant = ?5)"
    " ORDER BY created_ms DESC, job_id DESC LIMIT ?4";

/* A session's jobs in the order they came: the worker's clock, then the
 * offset on the session's partition for jobs received in the same ms. */
static const char session_sql[] =
    "SELECT s.job_id, s.created_ms, s.runtime, s.session, s.replay_of, s.attempts, s.state,"
    " s.status, s.exit_code, s.signal, s.wall_us, s.worker_id, s.tenant FROM job_summary s"
    " JOIN jobs j ON j.job_id = s.job_id LEFT JOIN messages m ON m.id = j.message_id"
    " WHERE s.session = ?1 ORDER BY s.created_ms, m.kafka_offset, s.job_id";

static const char job_sql[] =
    "SELECT j.job_id, j.runtime, j.session, j.replay_of, j.created_ms, j.raw, j.message_id,"
    " m.topic, m.kafka_partition, m.kafka_offset, m.received_ms, j.tenant"
    " FROM jobs j LEFT JOIN messages m ON m.id = j.message_id WHERE j.job_id = ?1";

static const char attempts_sql[] =
    "SELECT id, attempt, worker_id, state, started_ms, finished_ms, status, exit_code, signal,"
    " wall_us, cpu_us, peak_memory_bytes, runtime_name, runtime_version, policy_hash, kernel,"
    " error, result, state_before, state_after, image_digest FROM attempts WHERE job_id = ?1"
    " ORDER BY attempt";

static const char redeliveries_sql[] =
    "SELECT message_id, answered_with, worker_id, ts_ms FROM redeliveries WHERE job_id = ?1"
    " ORDER BY id";

/* Opens path read-only and starts a read transaction, so that everything one
 * call reads comes from the same committed state. */
static int open_reader(const char *path, sqlite3 **db, char *err, size_t errlen)
{
    int version;

    if (path == NULL || *path == '\0') {
        snprintf(err, errlen, "audit store: path: missing");
        return -1;
    }
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        audit_sql_error(*db, path, err, errlen, "opening read-only");
        goto fail;
    }
    sqlite3_busy_timeout(*db, AUDIT_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        audit_sql_error(*db, path, err, errlen, "starting a read transaction");
        goto fail;
    }
    if (audit_schema_read_version(*db, path, &version, err, errlen) < 0)
        goto fail;
    if (version == 0) {
        snprintf(err, errlen, "audit store %s: not a brig audit store (schema version 0)", path);
        goto fail;
    }
    return 0;
fail:
    sqlite3_close(*db);
    *db = NULL;
    return -1;
}

/* Ends the read transaction (which changed nothing) and closes. */
static void close_reader(sqlite3 *db)
{
    if (db == NULL)
        return;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

static const char *column_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}

static int64_t column_int64_or(sqlite3_stmt *stmt, int col, int64_t absent)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return absent;
    return sqlite3_column_int64(stmt, col);
}

static int bind_optional_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
}

/* Steps stmt (prepared and bound) and calls fn for each row of the
 * job_summary columns list_sql and session_sql select. */
static int each_summary_row(sqlite3 *db, const char *db_path, sqlite3_stmt *stmt, audit_list_fn fn,
                            void *ctx, char *err, size_t errlen)
{
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct audit_list_row row = {
            .job_id = column_text(stmt, 0),
            .created_ms = sqlite3_column_int64(stmt, 1),
            .runtime = column_text(stmt, 2),
            .session = column_text(stmt, 3),
            .replay_of = column_text(stmt, 4),
            .attempts = sqlite3_column_int64(stmt, 5),
            .state = column_text(stmt, 6),
            .status = column_text(stmt, 7),
            .exit_code = (int)column_int64_or(stmt, 8, -1),
            .signal = (int)column_int64_or(stmt, 9, 0),
            .wall_us = column_int64_or(stmt, 10, -1),
            .worker_id = column_text(stmt, 11),
            .tenant = column_text(stmt, 12),
        };
        if (fn(ctx, &row) != 0)
            return 0;
    }
    if (step != SQLITE_DONE)
        return audit_sql_error(db, db_path, err, errlen, "listing jobs");
    return 0;
}

int audit_list(const char *db_path, const struct audit_filter *filter, audit_list_fn fn, void *ctx,
               char *err, size_t errlen)
{
    static const struct audit_filter everything = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    brig_status parsed;
    int rc = -1;

    if (filter == NULL)
        filter = &everything;
    if (filter->status != NULL && !brig_status_parse(filter->status, &parsed)) {
        snprintf(err, errlen, "audit filter: status: \"%s\" is not a known status", filter->status);
        return -1;
    }
    if (open_reader(db_path, &db, err, errlen) < 0)
        return -1;
    if (sqlite3_prepare_v2(db, list_sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(stmt, 1, filter->since_ms) ||
        bind_optional_text(stmt, 2, filter->status) ||
        bind_optional_text(stmt, 3, filter->runtime) ||
        sqlite3_bind_int64(stmt, 4, filter->limit ? (int64_t)filter->limit : -1) ||
        bind_optional_text(stmt, 5, filter->tenant)) {
        audit_sql_error(db, db_path, err, errlen, "preparing the job listing");
        goto out;
    }
    rc = each_summary_row(db, db_path, stmt, fn, ctx, err, errlen);
out:
    sqlite3_finalize(stmt);
    close_reader(db);
    return rc;
}

/* A reader with sql prepared and key, which must not be empty, bound as ?1.
 * On failure *db and *stmt are whatever is left to release. */
static int open_query(const char *db_path, const char *sql, const char *key_name, const char *key,
                      const char *what, sqlite3 **db, sqlite3_stmt **stmt, char *err, size_t errlen)
{
    if (key == NULL || *key == '\0') {
        snprintf(err, errlen, "audit store %s: %s: missing", db_path ? db_path : "", key_name);
        return -1;
    }
    if (open_reader(db_path, db, err, errlen) < 0)
        return -1;
    if (sqlite3_prepare_v2(*db, sql, -1, stmt, NULL) != SQLITE_OK ||
        bind_optional_text(*stmt, 1, key)) {
        audit_sql_error(*db, db_path, err, errlen, "preparing %s", what);
        return -1;
    }
    return 0;
}

int audit_list_session(const char *db_path, const char *session, audit_list_fn fn, void *ctx,
                       char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = -1;

    if (open_query(db_path, session_sql, "session", session, "the session's listing", &db, &stmt,
                   err, errlen) < 0)
        goto out;
    rc = each_summary_row(db, db_path, stmt, fn, ctx, err, errlen);
out:
    sqlite3_finalize(stmt);
    close_reader(db);
    return rc;
}

/* Copies of a column, recorded as out of memory in *oom when a copy fails. */
static char *copy_text(sqlite3_stmt *stmt, int col, bool *oom)
{
    const char *text = column_text(stmt, col);
    char *copy;

    if (text == NULL)
        return NULL;
    copy = strdup(text);
    if (copy == NULL)
        *oom = true;
    return copy;
}

static void *copy_blob(sqlite3_stmt *stmt, int col, size_t *len, bool *oom)
{
    const void *data = sqlite3_column_blob(stmt, col);
    void *copy;

    *len = (size_t)sqlite3_column_bytes(stmt, col);
    if (data == NULL || *len == 0) {
        *len = 0;
        return NULL;
    }
    copy = malloc(*len);
    if (copy == NULL) {
        *oom = true;
        *len = 0;
        return NULL;
    }
    memcpy(copy, data, *len);
    return copy;
}

static void read_job(sqlite3_stmt *stmt, struct audit_job_record *job, bool *oom)
{
    job->job_id = copy_text(stmt, 0, oom);
    job->runtime = copy_text(stmt, 1, oom);
    job->session = copy_text(stmt, 2, oom);
    job->replay_of = copy_text(stmt, 3, oom);
    job->created_ms = sqlite3_column_int64(stmt, 4);
    job->raw = copy_blob(stmt, 5, &job->raw_len, oom);
    job->message_id = column_int64_or(stmt, 6, -1);
    job->topic = copy_text(stmt, 7, oom);
    job->partition = (int32_t)column_int64_or(stmt, 8, -1);
    job->offset = column_int64_or(stmt, 9, -1);
    job->received_ms = column_int64_or(stmt, 10, -1);
    job->tenant = copy_text(stmt, 11, oom);
}

static void read_attempt(sqlite3_stmt *stmt, void *row, bool *oom)
{
    struct audit_attempt_record *a = row;
    a->id = sqlite3_column_int64(stmt, 0);
    a->number = sqlite3_column_int64(stmt, 1);
    a->worker_id = copy_text(stmt, 2, oom);
    a->state = copy_text(stmt, 3, oom);
    a->started_ms = sqlite3_column_int64(stmt, 4);
    a->finished_ms = column_int64_or(stmt, 5, -1);
    a->status = copy_text(stmt, 6, oom);
    a->exit_code = (int)column_int64_or(stmt, 7, -1);
    a->signal = (int)column_int64_or(stmt, 8, 0);
    a->wall_us = column_int64_or(stmt, 9, -1);
    a->cpu_us = column_int64_or(stmt, 10, -1);
    a->peak_memory_bytes = column_int64_or(stmt, 11, -1);
    a->runtime_name = copy_text(stmt, 12, oom);
    a->runtime_version = copy_text(stmt, 13, oom);
    a->policy_hash = copy_text(stmt, 14, oom);
    a->kernel = copy_text(stmt, 15, oom);
    a->error = copy_text(stmt, 16, oom);
    a->result = copy_blob(stmt, 17, &a->result_len, oom);
    a->state_before = copy_text(stmt, 18, oom);
    a->state_after = copy_text(stmt, 19, oom);
    a->image_digest = copy_text(stmt, 20, oom);
}

static void read_redelivery(sqlite3_stmt *stmt, void *row, bool *oom)
{
    struct audit_redelivery_record *r = row;
    r->message_id = column_int64_or(stmt, 0, -1);
    r->answered_with = sqlite3_column_int64(stmt, 1);
    r->worker_id = copy_text(stmt, 2, oom);
    r->ts_ms = sqlite3_column_int64(stmt, 3);
}

/* Room for one more element of size in *array; NULL when out of memory. */
static void *grow_by_one(void **array, size_t *n, size_t *capacity, size_t size)
{
    if (*n == *capacity) {
        size_t grown = *capacity ? 2 * *capacity : 4;
        void *more = realloc(*array, grown * size);
        if (more == NULL)
            return NULL;
        *array = more;
        *capacity = grown;
    }
    void *slot = (char *)*array + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}

/* Reads the rows of sql (one parameter: the job id) into an array of
 * elements of size, each filled by read_row. */
static int read_rows(sqlite3 *db, const char *db_path, const char *sql, const char *what,
                     const char *job_id, void **array, size_t *n, size_t size,
                     void (*read_row)(sqlite3_stmt *, void *, bool *), bool *oom, char *err,
                     size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    size_t capacity = 0;
    int rc = -1;
    int step = SQLITE_DONE;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        bind_optional_text(stmt, 1, job_id)) {
        audit_sql_error(db, db_path, err, errlen, "preparing the %s query", what);
        goto out;
    }
    while (!*oom && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        void *row = grow_by_one(array, n, &capacity, size);
        if (row == NULL) {
            *oom = true;
            break;
        }
        read_row(stmt, row, oom);
    }
    if (!*oom && step != SQLITE_DONE) {
        audit_sql_error(db, db_path, err, errlen, "reading the %s of job %s", what, job_id);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(stmt);
    return rc;
}

int audit_show(const char *db_path, const char *job_id, struct audit_job_record **out, char *err,
               size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    struct audit_job_record *job = NULL;
    bool oom = false;
    int rc = -1;
    int step;

    *out = NULL;
    if (open_query(db_path, job_sql, "job_id", job_id, "the job query", &db, &stmt, err, errlen) <
        0)
        goto out;
    step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        rc = 0;
        goto out;
    }
    if (step != SQLITE_ROW) {
        audit_sql_error(db, db_path, err, errlen, "reading job %s", job_id);
        goto out;
    }
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        oom = true;
        goto out;
    }
    read_job(stmt, job, &oom);
    if (!oom &&
        read_rows(db, db_path, attempts_sql, "attempts", job->job_id, (void **)&job->attempts,
                  &job->n_attempts, sizeof(*job->attempts), read_attempt, &oom, err, errlen) < 0)
        goto out;
    if (!oom && read_rows(db, db_path, redeliveries_sql, "redeliveries", job->job_id,
                          (void **)&job->redeliveries, &job->n_redeliveries,
                          sizeof(*job->redeliveries), read_redelivery, &oom, err, errlen) < 0)
        goto out;
    if (oom)
        goto out;
    *out = job;
    job = NULL;
    rc = 1;
out:
    if (oom)
        snprintf(err, errlen, "audit store %s: reading job %s: %s", db_path, job_id,
                 strerror(ENOMEM));
    audit_job_record_free(job);
    sqlite3_finalize(stmt);
    close_reader(db);
    return rc;
}

void audit_job_record_free(struct audit_job_record *job)
{
    if (job == NULL)
        return;
    for (size_t i = 0; i < job->n_attempts; i++) {
        struct audit_attempt_record *a = &job->attempts[i];
        free(a->worker_id);
        free(a->state);
        free(a->status);
        free(a->runtime_name);
        free(a->runtime_version);
        free(a->state_before);
        free(a->state_after);
        free(a->image_digest);
        free(a->policy_hash);
        free(a->kernel);
        free(a->error);
        free(a->result);
    }
    free(job->attempts);
    for (size_t i = 0; i < job->n_redeliveries; i++)
        free(job->redeliveries[i].worker_id);
    free(job->redeliveries);
    free(job->job_id);
    free(job->tenant);
    free(job->runtime);
    free(job->session);
    free(job->replay_of);
    free(job->raw);
    free(job->topic);
    free(job);
}
