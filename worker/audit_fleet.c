/* The fleet store: opening it, what it has read of the topic, and each
 * record's way in (checked, counted once, applied or kept waiting). */
#include "worker/audit_fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/audit_fleet_impl.h"
#include "worker/audit_outbox.h"
#include "worker/audit_schema.h"

const char *const fleet_statement_sql[F_STATEMENTS] = {
    [F_SAVEPOINT] = "SAVEPOINT record",
    [F_RELEASE] = "RELEASE record",
    [F_ROLLBACK_TO] = "ROLLBACK TO record",
    [F_POSITION_GET] =
        "SELECT next_offset FROM fleet_positions WHERE topic = ?1 AND kafka_partition = ?2",
    [F_POSITION_SET] = "INSERT INTO fleet_positions (topic, kafka_partition, next_offset)"
                       " VALUES (?1, ?2, ?3) ON CONFLICT (topic, kafka_partition)"
                       " DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
    [F_RECORD_SEEN] = "INSERT INTO fleet_records (store_id, seq, worker_id, kind)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (store_id, seq) DO NOTHING",
    [F_RECORD_WAIT] = "UPDATE fleet_records SET record = ?3 WHERE store_id = ?1 AND seq = ?2",
    [F_RECORD_DONE] = "UPDATE fleet_records SET record = NULL WHERE id = ?1",
    [F_RECORD_FORGET] = "DELETE FROM fleet_records WHERE id = ?1",
    [F_RECORD_WAITING] = "SELECT id FROM fleet_records WHERE record IS NOT NULL ORDER BY id",
    [F_RECORD_GET] = "SELECT record FROM fleet_records WHERE id = ?1",
    [F_RECORD_COUNT_WAITING] = "SELECT COUNT(*) FROM fleet_records WHERE record IS NOT NULL",
    [F_ID_GET] = "SELECT fleet_id, seq FROM fleet_ids"
                 " WHERE store_id = ?1 AND table_name = ?2 AND local_id = ?3",
    [F_ID_SET] = "INSERT INTO fleet_ids (store_id, table_name, local_id, fleet_id, seq)"
                 " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (store_id, table_name, local_id)"
                 " DO UPDATE SET seq = excluded.seq",
    [F_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE job_id = ?1",
    [F_MESSAGE] = "INSERT INTO messages (topic, kafka_partition, kafka_offset, key, received_ms,"
                  " size, sha256, raw, job_id, tenant) VALUES (:topic, :kafka_partition,"
                  " :kafka_offset, :key, :received_ms, :size, :sha256, COALESCE(:raw, x''),"
                  " :job_id, :tenant)",
    [F_JOB] = "INSERT INTO jobs (job_id, message_id, runtime, session, replay_of, raw, created_ms,"
              " tenant) VALUES (:job_id, :fleet_message_id, :runtime, :session, :replay_of,"
              " COALESCE(:raw, x''), :created_ms, :tenant) ON CONFLICT (job_id) DO NOTHING",
    /* Attempt numbers count the job's runs in the fleet, in the order their
     * records reached the topic: two workers each number their own from 1. */
    [F_ATTEMPT_INSERT] =
        "INSERT INTO attempts (job_id, attempt, worker_id, state, started_ms, finished_ms,"
        " status, exit_code, signal, wall_us, cpu_us, peak_memory_bytes, runtime_name,"
        " runtime_version, policy_hash, kernel, result, error, state_before, state_after,"
        " image_digest)"
        " VALUES (:job_id, (SELECT COUNT(*) + 1 FROM attempts WHERE job_id = :job_id),"
        " :worker_id, :state, :started_ms, :finished_ms, :status, :exit_code, :signal, :wall_us,"
        " :cpu_us, :peak_memory_bytes, :runtime_name, :runtime_version, :policy_hash, :kernel,"
        " :result, :error, :state_before, :state_after, :image_digest)",
    [F_ATTEMPT_UPDATE] =
        "UPDATE attempts SET state = :state, finished_ms = :finished_ms, status = :status,"
        " exit_code = :exit_code, signal = :signal, wall_us = :wall_us, cpu_us = :cpu_us,"
        " peak_memory_bytes = :peak_memory_bytes, runtime_name = :runtime_name,"
        " runtime_version = :runtime_version, policy_hash = :policy_hash, kernel = :kernel,"
        " result = COALESCE(:result, result), error = :error, state_before = :state_before,"
        " state_after = :state_after, image_digest = :image_digest WHERE id = :fleet_id",
    [F_REDELIVERY] =
        "INSERT INTO redeliveries (job_id, message_id, answered_with, worker_id, ts_ms)"
        " VALUES (:job_id, :fleet_message_id, :fleet_answered_with, :worker_id,"
        " :ts_ms)",
    [F_DEAD_LETTER] = "INSERT INTO dead_letters (message_id, reason, field, ts_ms)"
                      " VALUES (:fleet_message_id, :reason, :field, :ts_ms)",
    [F_CONNECTION] = "INSERT INTO connections (job_id, host, port, allowed, reason, ts_ms)"
                     " VALUES (:job_id, :host, :port, :allowed, :reason, :ts_ms)",
    [F_SKIPPED] = "INSERT INTO skipped_offsets (topic, kafka_partition, first_offset,"
                  " last_offset, worker_id, detected_ms) VALUES (:topic, :kafka_partition,"
                  " :first_offset, :last_offset, :worker_id, :detected_ms)",
    [F_CANCELLATION] = "INSERT INTO cancellations (job_id, requested_by, requested_ms,"
                       " received_ms, state, worker_id, tenant) VALUES (:job_id, :requested_by,"
                       " :requested_ms, :received_ms, :state, :worker_id, :tenant)",
};

static int sql_failed(struct fleet_store *fs, sqlite3_stmt *stmt, char *err, size_t errlen,
                      const char *what)
{
    audit_sql_error(fs->db, fs->path, err, errlen, "%s", what);
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    return -1;
}

int fleet_step_done(struct fleet_store *fs, sqlite3_stmt *stmt, int rc, char *why, size_t whylen,
                    char *err, size_t errlen)
{
    int primary = rc & 0xff;
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return 0;
    }
    if (primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH || primary == SQLITE_TOOBIG ||
        primary == SQLITE_RANGE) {
        snprintf(why, whylen, "%s", sqlite3_errmsg(fs->db));
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return FLEET_REFUSED;
    }
    return sql_failed(fs, stmt, err, errlen, "applying a record");
}

static int exec(struct fleet_store *fs, enum fleet_statement which, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[which];
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, fleet_statement_sql[which]);
    sqlite3_reset(stmt);
    return 0;
}

static int begin(struct fleet_store *fs, char *err, size_t errlen)
{
    if (fs->in_transaction)
        return 0;
    if (sqlite3_exec(fs->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_failed(fs, NULL, err, errlen, "starting a transaction");
    fs->in_transaction = true;
    return 0;
}

int fleet_commit(struct fleet_store *fs, char *err, size_t errlen)
{
    if (!fs->in_transaction)
        return 0;
    fs->in_transaction = false;
    if (sqlite3_exec(fs->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sql_failed(fs, NULL, err, errlen, "committing");
        sqlite3_exec(fs->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* A store made here publishes nothing; one that publishes is a worker's. */
static int claim(struct fleet_store *fs, bool created, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int publishes = -1;
    if (sqlite3_prepare_v2(fs->db, "SELECT publishes FROM store_identity", -1, &stmt, NULL) ==
            SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        publishes = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (publishes < 0)
        return sql_failed(fs, NULL, err, errlen, "reading the store's identity");
    if (publishes && !created) {
        snprintf(err, errlen,
                 "%s is a worker's own audit store, not a fleet store: give brig audit sync "
                 "another --out",
                 fs->path);
        return -1;
    }
    if (publishes &&
        sqlite3_exec(fs->db, "UPDATE store_identity SET publishes = 0; DELETE FROM outbox", NULL,
                     NULL, NULL) != SQLITE_OK)
        return sql_failed(fs, NULL, err, errlen, "making it a fleet store");
    return 0;
}

int fleet_open(const char *path, struct fleet_store **out, char *err, size_t errlen)
{
    struct stat st;
    struct fleet_store *fs = calloc(1, sizeof *fs);
    *out = NULL;
    if (!fs || !(fs->path = strdup(path))) {
        free(fs);
        snprintf(err, errlen, "fleet store %s: out of memory", path);
        return -1;
    }
    fs->lock_fd = -1;
    bool created = lstat(path, &st) < 0 && errno == ENOENT;
    if (audit_db_open_writer(path, &fs->db, &fs->lock_fd, err, errlen) < 0 ||
        claim(fs, created, err, errlen) < 0)
        goto fail;
    for (int i = 0; i < F_STATEMENTS; i++) {
        if (sqlite3_prepare_v3(fs->db, fleet_statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &fs->stmts[i], NULL) != SQLITE_OK) {
            sql_failed(fs, NULL, err, errlen, "preparing the fleet store's statements");
            goto fail;
        }
    }
    *out = fs;
    return 0;
fail:
    fleet_close(fs, NULL, 0);
    return -1;
}

int fleet_close(struct fleet_store *fs, char *err, size_t errlen)
{
    if (!fs)
        return 0;
    int rc = fs->db && err ? fleet_commit(fs, err, errlen) : 0;
    for (int i = 0; i < F_STATEMENTS; i++)
        sqlite3_finalize(fs->stmts[i]);
    sqlite3_close(fs->db);
    if (fs->lock_fd >= 0)
        close(fs->lock_fd);
    free(fs->path);
    free(fs);
    return rc;
}

int fleet_position(struct fleet_store *fs, const char *topic, int32_t partition, int64_t *next,
                   char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_POSITION_GET];
    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, partition);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, "reading a position");
    *next = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

static int set_position(struct fleet_store *fs, const char *topic, int32_t partition, int64_t next,
                        char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_POSITION_SET];
    sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, partition);
    sqlite3_bind_int64(stmt, 3, next);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, "recording a position");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

/* Whether this record was counted before; else it is now. */
static int seen_before(struct fleet_store *fs, const struct fleet_record *r, char *err,
                       size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_RECORD_SEEN];
    sqlite3_bind_text(stmt, 1, r->store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, r->seq);
    sqlite3_bind_text(stmt, 3, r->worker, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, r->kind, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, "counting a record");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return sqlite3_changes(fs->db) == 0;
}

static int keep_waiting(struct fleet_store *fs, const struct fleet_record *r, const void *value,
                        size_t len, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_RECORD_WAIT];
    sqlite3_bind_text(stmt, 1, r->store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, r->seq);
    sqlite3_bind_blob64(stmt, 3, value, len, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, "keeping a record until its reference comes");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

/* One record, in a savepoint: counted, then applied or kept; a refused one
 * leaves nothing behind. */
static int take(struct fleet_store *fs, const void *value, size_t len, bool new_record, char *why,
                size_t whylen, char *err, size_t errlen)
{
    msgpack_unpacked unpacked;
    struct fleet_record r;
    int outcome = FLEET_REFUSED;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    if (!value || msgpack_unpack_next(&unpacked, value, len, &offset) != MSGPACK_UNPACK_SUCCESS ||
        offset != len) {
        snprintf(why, whylen, "not one msgpack value");
        goto out;
    }
    if (fleet_decode(&unpacked.data, &r, why, whylen) < 0)
        goto out;
    if (exec(fs, F_SAVEPOINT, err, errlen) < 0) {
        outcome = -1;
        goto out;
    }
    int seen = new_record ? seen_before(fs, &r, err, errlen) : 0;
    if (seen != 0) {
        outcome = seen < 0 ? -1 : FLEET_DUPLICATE;
    } else {
        outcome = fleet_apply_record(fs, &r, why, whylen, err, errlen);
        if (outcome == FLEET_WAITING && new_record &&
            keep_waiting(fs, &r, value, len, err, errlen) < 0)
            outcome = -1;
    }
    if (outcome == FLEET_REFUSED || outcome < 0)
        exec(fs, F_ROLLBACK_TO, NULL, 0);
    if (exec(fs, F_RELEASE, outcome < 0 ? NULL : err, outcome < 0 ? 0 : errlen) < 0)
        outcome = -1;
out:
    msgpack_unpacked_destroy(&unpacked);
    return outcome;
}

int fleet_add(struct fleet_store *fs, const char *topic, int32_t partition, int64_t offset,
              const void *value, size_t len, char *why, size_t whylen, char *err, size_t errlen)
{
    if (begin(fs, err, errlen) < 0)
        return -1;
    int outcome = take(fs, value, len, true, why, whylen, err, errlen);
    if (outcome < 0 || set_position(fs, topic, partition, offset + 1, err, errlen) < 0)
        return -1;
    return outcome;
}

/* Tries one waiting record again: applied ones are cleared, refused ones
 * forgotten. */
static int retry(struct fleet_store *fs, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *get = fs->stmts[F_RECORD_GET];
    char why[512];
    sqlite3_bind_int64(get, 1, id);
    if (sqlite3_step(get) != SQLITE_ROW)
        return sql_failed(fs, get, err, errlen, "reading a waiting record");
    /* The blob stays valid until get is reset: take() reads it first. */
    int outcome = take(fs, sqlite3_column_blob(get, 0), (size_t)sqlite3_column_bytes(get, 0), false,
                       why, sizeof why, err, errlen);
    sqlite3_reset(get);
    sqlite3_clear_bindings(get);
    if (outcome == FLEET_APPLIED || outcome == FLEET_REFUSED) {
        sqlite3_stmt *stmt = fs->stmts[outcome == FLEET_APPLIED ? F_RECORD_DONE : F_RECORD_FORGET];
        sqlite3_bind_int64(stmt, 1, id);
        if (sqlite3_step(stmt) != SQLITE_DONE)
            return sql_failed(fs, stmt, err, errlen, "clearing a waiting record");
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    return outcome;
}

static int waiting_ids(struct fleet_store *fs, int64_t **ids, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_RECORD_WAITING];
    size_t cap = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            int64_t *grown = realloc(*ids, cap * sizeof **ids);
            if (!grown) {
                sqlite3_reset(stmt);
                snprintf(err, errlen, "fleet store %s: listing waiting records: %s", fs->path,
                         strerror(ENOMEM));
                return -1;
            }
            *ids = grown;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_DONE)
        return sql_failed(fs, stmt, err, errlen, "listing waiting records");
    sqlite3_reset(stmt);
    return 0;
}

int fleet_apply_waiting(struct fleet_store *fs, uint64_t *applied, uint64_t *waiting, char *err,
                        size_t errlen)
{
    bool progress = true;
    *applied = *waiting = 0;
    if (begin(fs, err, errlen) < 0)
        return -1;
    while (progress) {
        int64_t *ids;
        size_t n;
        progress = false;
        if (waiting_ids(fs, &ids, &n, err, errlen) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int outcome = retry(fs, ids[i], err, errlen);
            if (outcome < 0) {
                free(ids);
                return -1;
            }
            if (outcome == FLEET_APPLIED) {
                (*applied)++;
                progress = true;
            }
        }
        free(ids);
    }
    sqlite3_stmt *count = fs->stmts[F_RECORD_COUNT_WAITING];
    if (sqlite3_step(count) != SQLITE_ROW)
        return sql_failed(fs, count, err, errlen, "counting waiting records");
    *waiting = (uint64_t)sqlite3_column_int64(count, 0);
    sqlite3_reset(count);
    return fleet_commit(fs, err, errlen);
}
