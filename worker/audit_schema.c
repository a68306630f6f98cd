#include "worker/audit_schema.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/common.h"

/* Step i takes the schema from version i to version i + 1. Steps are never
 * edited once released: a change to the schema is a new step appended here
 * and documented in worker/AUDIT.md. */
static const char *const migration_steps[] = {
    /* 1: the initial schema */
    "CREATE TABLE messages ("
    "    id              INTEGER PRIMARY KEY,"
    "    topic           TEXT    NOT NULL,"
    "    kafka_partition INTEGER NOT NULL,"
    "    kafka_offset    INTEGER NOT NULL,"
    "    key             BLOB,"
    "    received_ms     INTEGER NOT NULL,"
    "    size            INTEGER NOT NULL,"
    "    sha256          TEXT    NOT NULL,"
    "    raw             BLOB    NOT NULL,"
    "    job_id          TEXT"
    ");"
    "CREATE INDEX messages_by_position ON messages (topic, kafka_partition, kafka_offset);"
    "CREATE INDEX messages_by_job ON messages (job_id);"

    "CREATE TABLE jobs ("
    "    job_id     TEXT    PRIMARY KEY,"
    "    message_id INTEGER REFERENCES messages (id),"
    "    runtime    TEXT,"
    "    session    TEXT,"
    "    replay_of  TEXT,"
    "    raw        BLOB    NOT NULL,"
    "    created_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX jobs_by_created ON jobs (created_ms);"
    "CREATE INDEX jobs_by_message ON jobs (message_id);"

    "CREATE TABLE attempts ("
    "    id                INTEGER PRIMARY KEY,"
    "    job_id            TEXT    NOT NULL REFERENCES jobs (job_id),"
    "    attempt           INTEGER NOT NULL,"
    "    worker_id         TEXT    NOT NULL,"
    "    state             TEXT    NOT NULL"
    "                      CHECK (state IN ('running', 'finished', 'abandoned', 'replayed')),"
    "    started_ms        INTEGER NOT NULL,"
    "    finished_ms       INTEGER,"
    "    status            TEXT,"
    "    exit_code         INTEGER,"
    "    signal            INTEGER,"
    "    wall_us           INTEGER,"
    "    cpu_us            INTEGER,"
    "    peak_memory_bytes INTEGER,"
    "    runtime_name      TEXT,"
    "    runtime_version   TEXT,"
    "    policy_hash       TEXT,"
    "    kernel            TEXT    NOT NULL,"
    "    result            BLOB,"
    "    error             TEXT,"
    "    replayed_from     INTEGER REFERENCES attempts (id),"
    "    UNIQUE (job_id, attempt)"
    ");"
    "CREATE INDEX attempts_running ON attempts (state) WHERE state = 'running';"
    "CREATE INDEX attempts_by_replayed_from ON attempts (replayed_from);"

    "CREATE TABLE dead_letters ("
    "    id         INTEGER PRIMARY KEY,"
    "    message_id INTEGER NOT NULL REFERENCES messages (id),"
    "    reason     TEXT    NOT NULL,"
    "    field      TEXT,"
    "    ts_ms      INTEGER NOT NULL"
    ");"
    "CREATE INDEX dead_letters_by_message ON dead_letters (message_id);"

    "CREATE TABLE connections ("
    "    id      INTEGER PRIMARY KEY,"
    "    job_id  TEXT    NOT NULL REFERENCES jobs (job_id),"
    "    host    TEXT    NOT NULL,"
    "    port    INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),"
    "    allowed INTEGER NOT NULL CHECK (allowed IN (0, 1)),"
    "    reason  TEXT,"
    "    ts_ms   INTEGER NOT NULL"
    ");"
    "CREATE INDEX connections_by_job ON connections (job_id);"

    /* Each job with its latest attempt: what brig audit ls lists. */
    "CREATE VIEW job_summary AS"
    " SELECT j.job_id, j.created_ms, j.runtime, j.session, j.replay_of,"
    "        (SELECT COUNT(*) FROM attempts c WHERE c.job_id = j.job_id) AS attempts,"
    "        a.state, a.status, a.exit_code, a.signal, a.wall_us, a.worker_id"
    " FROM jobs j"
    " LEFT JOIN attempts a ON a.id = (SELECT l.id FROM attempts l WHERE l.job_id = j.job_id"
    "                                 ORDER BY l.attempt DESC LIMIT 1);",

    /* 2: a session job's workspace state hash before and after it ran, so a
     * replay can start from the same state. */
    "ALTER TABLE attempts ADD COLUMN state_before TEXT;"
    "ALTER TABLE attempts ADD COLUMN state_after TEXT;",

    /* 3: attempts are runs. A redelivery answered without running (from the
     * store, or with the answer of an attempt still in flight) was an
     * attempt in state 'replayed'; it is a row of redeliveries now, so that
     * "replay" means only re-running an old job (brig replay). And offsets
     * the cluster deleted before they were read. The attempts table is
     * rebuilt without its replayed_from column (SQLite's documented way). */
    "PRAGMA defer_foreign_keys = ON;"
    "DROP VIEW job_summary;"
    "DROP INDEX attempts_running;"
    "DROP INDEX attempts_by_replayed_from;"
    "ALTER TABLE attempts RENAME TO attempts_v2;"
    "CREATE TABLE attempts ("
    "    id                INTEGER PRIMARY KEY,"
    "    job_id            TEXT    NOT NULL REFERENCES jobs (job_id),"
    "    attempt           INTEGER NOT NULL,"
    "    worker_id         TEXT    NOT NULL,"
    "    state             TEXT    NOT NULL"
    "                      CHECK (state IN ('running', 'finished', 'abandoned')),"
    "    started_ms        INTEGER NOT NULL,"
    "    finished_ms       INTEGER,"
    "    status            TEXT,"
    "    exit_code         INTEGER,"
    "    signal            INTEGER,"
    "    wall_us           INTEGER,"
    "    cpu_us            INTEGER,"
    "    peak_memory_bytes INTEGER,"
    "    runtime_name      TEXT,"
    "    runtime_version   TEXT,"
    "    policy_hash       TEXT,"
    "    kernel            TEXT    NOT NULL,"
    "    result            BLOB,"
    "    error             TEXT,"
    "    state_before      TEXT,"
    "    state_after       TEXT,"
    "    UNIQUE (job_id, attempt)"
    ");"
    "INSERT INTO attempts SELECT id, job_id, attempt, worker_id, state, started_ms, finished_ms,"
    "    status, exit_code, signal, wall_us, cpu_us, peak_memory_bytes, runtime_name,"
    "    runtime_version, policy_hash, kernel, result, error, state_before, state_after"
    "    FROM attempts_v2 WHERE state != 'replayed';"
    "CREATE INDEX attempts_running ON attempts (state) WHERE state = 'running';"

    "CREATE TABLE redeliveries ("
    "    id            INTEGER PRIMARY KEY,"
    "    job_id        TEXT    NOT NULL REFERENCES jobs (job_id),"
    "    message_id    INTEGER REFERENCES messages (id),"
    "    answered_with INTEGER NOT NULL REFERENCES attempts (id),"
    "    worker_id     TEXT    NOT NULL,"
    "    ts_ms         INTEGER NOT NULL"
    ");"
    "CREATE INDEX redeliveries_by_job ON redeliveries (job_id);"
    "INSERT INTO redeliveries (job_id, answered_with, worker_id, ts_ms)"
    "    SELECT job_id, replayed_from, worker_id, started_ms FROM attempts_v2"
    "    WHERE state = 'replayed';"
    "DROP TABLE attempts_v2;"

    "CREATE VIEW job_summary AS"
    " SELECT j.job_id, j.created_ms, j.runtime, j.session, j.replay_of,"
    "        (SELECT COUNT(*) FROM attempts c WHERE c.job_id = j.job_id) AS attempts,"
    "        a.state, a.status, a.exit_code, a.signal, a.wall_us, a.worker_id"
    " FROM jobs j"
    " LEFT JOIN attempts a ON a.id = (SELECT l.id FROM attempts l WHERE l.job_id = j.job_id"
    "                                 ORDER BY l.attempt DESC LIMIT 1);"

    "CREATE TABLE skipped_offsets ("
    "    id              INTEGER PRIMARY KEY,"
    "    topic           TEXT    NOT NULL,"
    "    kafka_partition INTEGER NOT NULL,"
    "    first_offset    INTEGER NOT NULL,"
    "    last_offset     INTEGER NOT NULL,"
    "    worker_id       TEXT    NOT NULL,"
    "    detected_ms     INTEGER NOT NULL"
    ");",

    /* 4: the root image an attempt ran on (its runtime's "image"), by digest,
     * so that audit and replay know the exact environment; NULL on the
     * host's tree. */
    "ALTER TABLE attempts ADD COLUMN image_digest TEXT;",

    /* 5: cancel requests a worker acted on (SCHEMA.md section 8a). */
    "CREATE TABLE cancellations ("
    "    id           INTEGER PRIMARY KEY,"
    "    job_id       TEXT    NOT NULL,"
    "    requested_by TEXT,"
    "    requested_ms INTEGER NOT NULL,"
    "    received_ms  INTEGER NOT NULL,"
    "    state        TEXT    NOT NULL"
    "                 CHECK (state IN ('waiting', 'running', 'not yet arrived')),"
    "    worker_id    TEXT    NOT NULL"
    ");"
    "CREATE INDEX cancellations_by_job ON cancellations (job_id);",
};

#define MIGRATION_COUNT ((int)ARRAY_SIZE(migration_steps))

int audit_schema_version(void)
{
    return MIGRATION_COUNT;
}

int audit_sql_error(sqlite3 *db, const char *path, char *err, size_t errlen, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "audit store %s: %s: %s", path, what,
             db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

int audit_schema_read_version(sqlite3 *db, const char *path, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        audit_sql_error(db, path, err, errlen, "reading the schema version (user_version)");
        goto out;
    }
    *version = sqlite3_column_int(stmt, 0);
    if (*version > MIGRATION_COUNT) {
        snprintf(err, errlen,
                 "audit store %s: schema version (user_version) %d is newer than the %d this "
                 "brig knows; it was written by a newer brig and is left untouched",
                 path, *version, MIGRATION_COUNT);
        goto out;
    }
    if (*version < 0) {
        snprintf(err, errlen, "audit store %s: invalid schema version (user_version) %d", path,
                 *version);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(stmt);
    return rc;
}

static int run_step(sqlite3 *db, const char *path, int step, char *err, size_t errlen)
{
    char set_version[64];
    int version;

    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return audit_sql_error(db, path, err, errlen, "starting migration %d", step + 1);
    /* Read again under the write lock: the version decides which step runs. */
    if (audit_schema_read_version(db, path, &version, err, errlen) < 0)
        goto fail;
    if (version != step) {
        snprintf(err, errlen,
                 "audit store %s: expected schema version %d before migration %d, found %d", path,
                 step, step + 1, version);
        goto fail;
    }
    snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d", step + 1);
    if (sqlite3_exec(db, migration_steps[step], NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, set_version, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        audit_sql_error(db, path, err, errlen, "running migration %d", step + 1);
        goto fail;
    }
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int audit_schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int version;

    if (audit_schema_read_version(db, path, &version, err, errlen) < 0)
        return -1;
    for (int step = version; step < MIGRATION_COUNT; step++) {
        if (run_step(db, path, step, err, errlen) < 0)
            return -1;
    }
    return 0;
}
