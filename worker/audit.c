/* The write side of the audit store: opening, batching and recording. */
#include "worker/audit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "worker/audit_schema.h"
#include "worker/audit_store.h"
#include "common/common.h"

enum statement {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_MARK_ABANDONED,
    STMT_INSERT_MESSAGE,
    STMT_INSERT_JOB,
    STMT_BEGIN_ATTEMPT,
    STMT_END_ATTEMPT,
    STMT_FINAL_RESULT,
    STMT_JOB_TENANT,
    STMT_INSERT_REDELIVERY,
    STMT_INSERT_SKIPPED,
    STMT_INSERT_CANCEL,
    STMT_INSERT_DEAD_LETTER,
    STMT_INSERT_CONNECTION,
    STMT_COUNT
};

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_MARK_ABANDONED] =
        "UPDATE attempts SET state = 'abandoned',"
        " error = 'no end was recorded: the worker process stopped during the attempt'"
        " WHERE state = 'running'",
    [STMT_INSERT_MESSAGE] =
        "INSERT INTO messages (topic, kafka_partition, kafka_offset, key, received_ms, size,"
        " sha256, raw, job_id, tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    /* A redelivered job keeps the row of its first delivery. */
    [STMT_INSERT_JOB] =
        "INSERT INTO jobs (job_id, message_id, runtime, session, replay_of, raw, created_ms,"
        " tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
        "         COALESCE((SELECT received_ms FROM messages WHERE id = ?2), ?7), ?8)"
        " ON CONFLICT (job_id) DO NOTHING",
    [STMT_BEGIN_ATTEMPT] =
        "INSERT INTO attempts (job_id, attempt, worker_id, state, started_ms, runtime_name,"
        " runtime_version, policy_hash, kernel, image_digest)"
        " SELECT ?1, COUNT(*) + 1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8"
        " FROM attempts WHERE job_id = ?1 RETURNING id, attempt",
    [STMT_END_ATTEMPT] =
        "UPDATE attempts SET state = 'finished', finished_ms = ?2, status = ?3, exit_code = ?4,"
        " signal = ?5, wall_us = ?6, cpu_us = ?7, peak_memory_bytes = ?8, result = ?9,"
        " error = ?10, runtime_version = COALESCE(?11, runtime_version), state_before = ?12,"
        " state_after = ?13"
        " WHERE id = ?1 AND state = 'running'",
    [STMT_FINAL_RESULT] = "SELECT id, result FROM attempts WHERE job_id = ?1 AND state = 'finished'"
                          " ORDER BY attempt DESC LIMIT 1",
    [STMT_JOB_TENANT] = "SELECT tenant FROM jobs WHERE job_id = ?1",
    [STMT_INSERT_REDELIVERY] =
        "INSERT INTO redeliveries (job_id, message_id, answered_with, worker_id, ts_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_INSERT_CANCEL] =
        "INSERT INTO cancellations (job_id, requested_by, requested_ms, received_ms, state,"
        " worker_id, tenant) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_INSERT_SKIPPED] =
        "INSERT INTO skipped_offsets (topic, kafka_partition, first_offset, last_offset,"
        " worker_id, detected_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_INSERT_DEAD_LETTER] = "INSERT INTO dead_letters (message_id, reason, field, ts_ms)"
                                " VALUES (?1, ?2, ?3, ?4)",
    [STMT_INSERT_CONNECTION] =
        "INSERT INTO connections (job_id, host, port, allowed, reason, ts_ms)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

struct audit_store {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
    char *path;
    char *worker_id;
    /* uname's release and version, for every attempt: "6.1.0-13-amd64 #1 SMP ..." */
    char kernel[sizeof(((struct utsname *)0)->release) + sizeof(((struct utsname *)0)->version)];
    int lock_fd; /* flock'd for the store's lifetime: one writing process per database */
    bool in_batch;
    unsigned batch_writes;
    int64_t batch_started_ms; /* CLOCK_MONOTONIC */
    unsigned max_statements;
    unsigned max_ms;
    uint64_t abandoned;
};

static bool is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

static int bad_argument(const struct audit_store *s, char *err, size_t errlen, const char *field,
                        const char *problem)
{
    snprintf(err, errlen, "audit store %s: %s: %s", s->path, field, problem);
    return -1;
}

/* Statements bind the caller's strings and bytes without copying them
 * (SQLITE_STATIC), so every use ends here, before the call returns. */
static void release(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
}

static int bind_blob(sqlite3_stmt *stmt, int index, const void *data, size_t len)
{
    if (data == NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_blob64(stmt, index, data, len, SQLITE_STATIC);
}

/* Reports a failed statement and releases it. An I/O error or a full disk
 * can make SQLite roll the whole open batch back: that is said too, since the
 * writes before this one are then lost. */
static int statement_failed(struct audit_store *s, sqlite3_stmt *stmt, char *err, size_t errlen,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int statement_failed(struct audit_store *s, sqlite3_stmt *stmt, char *err, size_t errlen,
                            const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    audit_sql_error(s->db, s->path, err, errlen, "%s", what);
    release(stmt);
    if (s->in_batch && sqlite3_get_autocommit(s->db)) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (the open batch of %u writes was rolled back)",
                 s->batch_writes);
        s->in_batch = false;
    }
    return -1;
}

int audit_flush(struct audit_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *commit = s->stmts[STMT_COMMIT];

    if (!s->in_batch)
        return 0;
    if (sqlite3_step(commit) != SQLITE_DONE) {
        audit_sql_error(s->db, s->path, err, errlen, "committing a batch of %u writes",
                        s->batch_writes);
        release(commit);
        /* Start the next batch afresh rather than on top of a failed one. */
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (the batch was rolled back)");
        s->in_batch = false;
        return -1;
    }
    release(commit);
    s->in_batch = false;
    return 0;
}

int audit_tick(struct audit_store *s, char *err, size_t errlen)
{
    if (s->in_batch && monotonic_ms() - s->batch_started_ms >= s->max_ms)
        return audit_flush(s, err, errlen);
    return 0;
}

static int start_write(struct audit_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *begin = s->stmts[STMT_BEGIN];

    if (s->in_batch)
        return 0;
    if (sqlite3_step(begin) != SQLITE_DONE)
        return statement_failed(s, begin, err, errlen, "starting a batch");
    release(begin);
    s->in_batch = true;
    s->batch_writes = 0;
    s->batch_started_ms = monotonic_ms();
    return 0;
}

static int finish_write(struct audit_store *s, char *err, size_t errlen)
{
    s->batch_writes++;
    if (s->batch_writes >= s->max_statements)
        return audit_flush(s, err, errlen);
    return audit_tick(s, err, errlen);
}

/* Runs a write statement that returns no row. */
static int run_write(struct audit_store *s, sqlite3_stmt *stmt, char *err, size_t errlen,
                     const char *what)
{
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen, "%s", what);
    release(stmt);
    return finish_write(s, err, errlen);
}

sqlite3 *audit_store_db(struct audit_store *s)
{
    return s->db;
}

const char *audit_store_path(const struct audit_store *s)
{
    return s->path;
}

const char *audit_store_worker(const struct audit_store *s)
{
    return s->worker_id;
}

int audit_store_write(struct audit_store *s, sqlite3_stmt *stmt, char *err, size_t errlen,
                      const char *what)
{
    if (start_write(s, err, errlen) < 0) {
        release(stmt);
        return -1;
    }
    return run_write(s, stmt, err, errlen, what);
}

static int sha256_hex(const void *data, size_t len, char hex[2 * EVP_MAX_MD_SIZE + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len;

    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL))
        return -1;
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
    hex[2 * md_len] = '\0';
    return 0;
}

int audit_record_message(struct audit_store *s, const struct audit_message *msg,
                         int64_t *message_id, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_MESSAGE];
    char digest[2 * EVP_MAX_MD_SIZE + 1];
    /* An empty message is stored as an empty BLOB, not as NULL. */
    const void *payload = msg->payload ? msg->payload : "";

    if (is_empty(msg->topic))
        return bad_argument(s, err, errlen, "message.topic", "missing");
    if (msg->payload == NULL && msg->payload_len > 0)
        return bad_argument(s, err, errlen, "message.payload", "NULL with a nonzero length");
    if (msg->key == NULL && msg->key_len > 0)
        return bad_argument(s, err, errlen, "message.key", "NULL with a nonzero length");
    if (sha256_hex(payload, msg->payload_len, digest) < 0) {
        snprintf(err, errlen,
                 "audit store %s: computing the SHA-256 of a message: OpenSSL "
                 "EVP_Digest failed",
                 s->path);
        return -1;
    }
    if (start_write(s, err, errlen) < 0)
        return -1;
    if (bind_text(stmt, 1, msg->topic) || sqlite3_bind_int(stmt, 2, msg->partition) ||
        sqlite3_bind_int64(stmt, 3, msg->offset) || bind_blob(stmt, 4, msg->key, msg->key_len) ||
        sqlite3_bind_int64(stmt, 5, msg->received_ms) ||
        sqlite3_bind_int64(stmt, 6, (int64_t)msg->payload_len) || bind_text(stmt, 7, digest) ||
        bind_blob(stmt, 8, payload, msg->payload_len) || bind_text(stmt, 9, msg->job_id) ||
        bind_text(stmt, 10, msg->tenant))
        return statement_failed(s, stmt, err, errlen, "binding message %s[%d]@%lld", msg->topic,
                                msg->partition, (long long)msg->offset);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen, "recording message %s[%d]@%lld", msg->topic,
                                msg->partition, (long long)msg->offset);
    *message_id = sqlite3_last_insert_rowid(s->db);
    release(stmt);
    return finish_write(s, err, errlen);
}

int audit_record_job(struct audit_store *s, const char *job_id, int64_t message_id,
                     const char *tenant, const char *runtime, const char *session,
                     const char *replay_of, const void *raw, size_t raw_len, char *err,
                     size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_JOB];
    char what[160];

    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (raw == NULL || raw_len == 0)
        return bad_argument(s, err, errlen, "raw", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording job %s", job_id);
    if (bind_text(stmt, 1, job_id) ||
        (message_id > 0 ? sqlite3_bind_int64(stmt, 2, message_id) : sqlite3_bind_null(stmt, 2)) ||
        bind_text(stmt, 3, runtime) || bind_text(stmt, 4, session) ||
        bind_text(stmt, 5, replay_of) || bind_blob(stmt, 6, raw, raw_len) ||
        sqlite3_bind_int64(stmt, 7, wall_clock_ms()) || bind_text(stmt, 8, tenant))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

int audit_attempt_begin(struct audit_store *s, const char *job_id, int64_t started_ms,
                        const char *runtime_name, const char *runtime_version,
                        const char *policy_hash, const char *image_digest, int64_t *attempt_id,
                        int64_t *attempt_number, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_BEGIN_ATTEMPT];

    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    if (bind_text(stmt, 1, job_id) || bind_text(stmt, 2, s->worker_id) ||
        sqlite3_bind_int64(stmt, 3, started_ms) || bind_text(stmt, 4, runtime_name) ||
        bind_text(stmt, 5, runtime_version) || bind_text(stmt, 6, policy_hash) ||
        bind_text(stmt, 7, s->kernel) || bind_text(stmt, 8, image_digest))
        return statement_failed(s, stmt, err, errlen, "binding an attempt of job %s", job_id);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        return statement_failed(s, stmt, err, errlen,
                                "starting an attempt of job %s (a job must be recorded first)",
                                job_id);
    *attempt_id = sqlite3_column_int64(stmt, 0);
    *attempt_number = sqlite3_column_int64(stmt, 1);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen, "starting an attempt of job %s", job_id);
    release(stmt);
    return finish_write(s, err, errlen);
}

int audit_attempt_end(struct audit_store *s, int64_t attempt_id,
                      const struct audit_outcome *outcome, const void *result, size_t result_len,
                      char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_END_ATTEMPT];
    const char *status = brig_status_name(outcome->status);

    if (status == NULL)
        return bad_argument(s, err, errlen, "outcome.status", "not a known status");
    if (start_write(s, err, errlen) < 0)
        return -1;
    if (sqlite3_bind_int64(stmt, 1, attempt_id) ||
        sqlite3_bind_int64(stmt, 2, outcome->finished_ms) || bind_text(stmt, 3, status) ||
        (outcome->exit_code >= 0 ? sqlite3_bind_int(stmt, 4, outcome->exit_code)
                                 : sqlite3_bind_null(stmt, 4)) ||
        (outcome->signal != 0 ? sqlite3_bind_int(stmt, 5, outcome->signal)
                              : sqlite3_bind_null(stmt, 5)) ||
        sqlite3_bind_int64(stmt, 6, (int64_t)outcome->wall_us) ||
        sqlite3_bind_int64(stmt, 7, (int64_t)outcome->cpu_us) ||
        sqlite3_bind_int64(stmt, 8, (int64_t)outcome->peak_memory_bytes) ||
        bind_blob(stmt, 9, result, result_len) || bind_text(stmt, 10, outcome->error) ||
        bind_text(stmt, 11, outcome->runtime_version) ||
        bind_text(stmt, 12, outcome->state_before) || bind_text(stmt, 13, outcome->state_after))
        return statement_failed(s, stmt, err, errlen, "binding the end of attempt %lld",
                                (long long)attempt_id);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen, "recording the end of attempt %lld",
                                (long long)attempt_id);
    release(stmt);
    if (sqlite3_changes(s->db) == 0) {
        snprintf(err, errlen,
                 "audit store %s: recording the end of attempt %lld: no such attempt is running",
                 s->path, (long long)attempt_id);
        return -1;
    }
    return finish_write(s, err, errlen);
}

int audit_final_result(struct audit_store *s, const char *job_id, void **result, size_t *result_len,
                       int64_t *attempt_id, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_FINAL_RESULT];
    int rc;

    *result = NULL;
    *result_len = 0;
    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (bind_text(stmt, 1, job_id))
        return statement_failed(s, stmt, err, errlen, "binding the final result query of job %s",
                                job_id);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        release(stmt);
        return 0;
    }
    if (rc != SQLITE_ROW)
        return statement_failed(s, stmt, err, errlen, "looking up the final result of job %s",
                                job_id);
    if (attempt_id)
        *attempt_id = sqlite3_column_int64(stmt, 0);
    const void *bytes = sqlite3_column_blob(stmt, 1);
    size_t len = (size_t)sqlite3_column_bytes(stmt, 1);
    if (bytes != NULL && len > 0) {
        *result = malloc(len);
        if (*result == NULL) {
            release(stmt);
            snprintf(err, errlen, "audit store %s: copying the final result of job %s: %s", s->path,
                     job_id, strerror(ENOMEM));
            return -1;
        }
        memcpy(*result, bytes, len);
        *result_len = len;
    }
    release(stmt);
    return 1;
}

int audit_job_tenant(struct audit_store *s, const char *job_id, char *tenant, size_t len, char *err,
                     size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_JOB_TENANT];
    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (bind_text(stmt, 1, job_id))
        return statement_failed(s, stmt, err, errlen, "binding the tenant query of job %s", job_id);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen, "looking up the tenant of job %s", job_id);
    const char *found = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    snprintf(tenant, len, "%s", found ? found : "");
    release(stmt);
    return rc == SQLITE_ROW;
}

int audit_record_redelivery(struct audit_store *s, const char *job_id, int64_t message_id,
                            int64_t answered_with, int64_t ts_ms, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_REDELIVERY];
    char what[128];

    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (answered_with <= 0)
        return bad_argument(s, err, errlen, "answered_with", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording a redelivery of job %s", job_id);
    if (bind_text(stmt, 1, job_id) ||
        (message_id > 0 ? sqlite3_bind_int64(stmt, 2, message_id) : sqlite3_bind_null(stmt, 2)) ||
        sqlite3_bind_int64(stmt, 3, answered_with) || bind_text(stmt, 4, s->worker_id) ||
        sqlite3_bind_int64(stmt, 5, ts_ms))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

int audit_record_cancel(struct audit_store *s, const char *job_id, const char *tenant,
                        const char *by, int64_t requested_ms, int64_t received_ms,
                        const char *state, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_CANCEL];
    char what[128];

    if (is_empty(job_id))
        return bad_argument(s, err, errlen, "job_id", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording a cancel of job %s", job_id);
    if (bind_text(stmt, 1, job_id) || bind_text(stmt, 2, by) ||
        sqlite3_bind_int64(stmt, 3, requested_ms) || sqlite3_bind_int64(stmt, 4, received_ms) ||
        bind_text(stmt, 5, state) || bind_text(stmt, 6, s->worker_id) || bind_text(stmt, 7, tenant))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

int audit_record_skipped(struct audit_store *s, const char *topic, int32_t partition,
                         int64_t first_offset, int64_t last_offset, int64_t detected_ms, char *err,
                         size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_SKIPPED];
    char what[128];

    if (is_empty(topic))
        return bad_argument(s, err, errlen, "topic", "missing");
    if (first_offset < 0 || last_offset < first_offset)
        return bad_argument(s, err, errlen, "last_offset", "before first_offset");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording skipped offsets of %s[%d]", topic, (int)partition);
    if (bind_text(stmt, 1, topic) || sqlite3_bind_int(stmt, 2, partition) ||
        sqlite3_bind_int64(stmt, 3, first_offset) || sqlite3_bind_int64(stmt, 4, last_offset) ||
        bind_text(stmt, 5, s->worker_id) || sqlite3_bind_int64(stmt, 6, detected_ms))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

int audit_record_dead_letter(struct audit_store *s, int64_t message_id, const char *reason,
                             const char *field, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_DEAD_LETTER];
    char what[96];

    if (message_id <= 0)
        return bad_argument(s, err, errlen, "message_id", "missing");
    if (is_empty(reason))
        return bad_argument(s, err, errlen, "reason", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording a dead letter for message %lld", (long long)message_id);
    if (sqlite3_bind_int64(stmt, 1, message_id) || bind_text(stmt, 2, reason) ||
        bind_text(stmt, 3, field) || sqlite3_bind_int64(stmt, 4, wall_clock_ms()))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

int audit_record_connection(struct audit_store *s, const struct audit_connection *conn, char *err,
                            size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_INSERT_CONNECTION];
    char what[160];

    if (is_empty(conn->job_id))
        return bad_argument(s, err, errlen, "connection.job_id", "missing");
    if (is_empty(conn->host))
        return bad_argument(s, err, errlen, "connection.host", "missing");
    if (start_write(s, err, errlen) < 0)
        return -1;
    snprintf(what, sizeof what, "recording a connection of job %s", conn->job_id);
    if (bind_text(stmt, 1, conn->job_id) || bind_text(stmt, 2, conn->host) ||
        sqlite3_bind_int(stmt, 3, conn->port) || sqlite3_bind_int(stmt, 4, conn->allowed) ||
        bind_text(stmt, 5, conn->reason) || sqlite3_bind_int64(stmt, 6, conn->ts_ms))
        return statement_failed(s, stmt, err, errlen, "binding %s", what);
    return run_write(s, stmt, err, errlen, what);
}

static void free_store(struct audit_store *s)
{
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(s->db);
    /* Only now: closing any descriptor of the database file drops the POSIX
     * locks SQLite holds on it. */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->path);
    free(s->worker_id);
    free(s);
}

int audit_close(struct audit_store *s, char *err, size_t errlen)
{
    int rc;

    if (s == NULL)
        return 0;
    rc = audit_flush(s, err, errlen);
    free_store(s);
    return rc;
}

uint64_t audit_abandoned_count(const struct audit_store *s)
{
    return s->abandoned;
}

void audit_set_batch_limits(struct audit_store *s, unsigned max_statements, unsigned max_ms)
{
    s->max_statements = max_statements;
    s->max_ms = max_ms;
}

static int prepare_statements(struct audit_store *s, char *err, size_t errlen)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmts[i],
                               NULL) != SQLITE_OK)
            return audit_sql_error(s->db, s->path, err, errlen, "preparing \"%.60s...\"",
                                   statement_sql[i]);
    }
    return 0;
}

static int mark_abandoned(struct audit_store *s, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s->stmts[STMT_MARK_ABANDONED];

    if (start_write(s, err, errlen) < 0)
        return -1;
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return statement_failed(s, stmt, err, errlen,
                                "marking the attempts of an earlier process abandoned");
    release(stmt);
    s->abandoned = (uint64_t)sqlite3_changes64(s->db);
    return audit_flush(s, err, errlen);
}

int audit_open(const char *path, const char *worker_id, struct audit_store **out, char *err,
               size_t errlen)
{
    struct audit_store *s;
    struct utsname uts;

    *out = NULL;
    if (is_empty(path)) {
        snprintf(err, errlen, "audit store: path: missing");
        return -1;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "audit store %s: %s", path, strerror(ENOMEM));
        return -1;
    }
    s->lock_fd = -1;
    s->max_statements = AUDIT_BATCH_STATEMENTS;
    s->max_ms = AUDIT_BATCH_MS;
    s->path = strdup(path);
    s->worker_id = worker_id ? strdup(worker_id) : NULL;
    if (s->path == NULL || (worker_id && s->worker_id == NULL)) {
        snprintf(err, errlen, "audit store %s: %s", path, strerror(ENOMEM));
        goto fail;
    }
    if (is_empty(worker_id)) {
        bad_argument(s, err, errlen, "worker_id", "missing");
        goto fail;
    }
    if (uname(&uts) < 0) {
        snprintf(err, errlen, "audit store %s: uname: %s", path, strerror(errno));
        goto fail;
    }
    snprintf(s->kernel, sizeof s->kernel, "%s %s", uts.release, uts.version);
    if (audit_db_open_writer(path, &s->db, &s->lock_fd, err, errlen) < 0 ||
        prepare_statements(s, err, errlen) < 0 || mark_abandoned(s, err, errlen) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    free_store(s);
    return -1;
}
