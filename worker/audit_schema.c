#include "worker/audit_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

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
    /* 6: the fleet audit (AUDIT.md, "The audit topic"). Every row a worker
     * commits is queued, by a trigger in the same transaction, in the outbox
     * until its record is delivered to <prefix>.audit; the rows a store
     * already had are queued too, so the topic gets them all. A store made by
     * brig audit sync (publishes = 0) queues nothing: fleet_records,
     * fleet_ids and fleet_positions are its own, what it has read of the
     * topic and which local ids became which of its rows. */
    "CREATE TABLE store_identity ("
    "    store_id  TEXT    NOT NULL,"
    "    publishes INTEGER NOT NULL CHECK (publishes IN (0, 1))"
    ");"
    "INSERT INTO store_identity VALUES (lower(hex(randomblob(16))), 1);"

    "CREATE TABLE outbox ("
    "    seq    INTEGER PRIMARY KEY AUTOINCREMENT,"
    "    kind   TEXT    NOT NULL,"
    "    row_id INTEGER NOT NULL,"
    "    key    TEXT    NOT NULL"
    ");"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'message', id,"
    "           COALESCE(job_id, topic || '/' || kafka_partition || '/' || kafka_offset)"
    "    FROM messages ORDER BY id;"
    "INSERT INTO outbox (kind, row_id, key) SELECT 'job', rowid, job_id FROM jobs ORDER BY rowid;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT CASE state WHEN 'finished' THEN 'attempt_end'"
    "                      WHEN 'abandoned' THEN 'attempt_abandoned' ELSE 'attempt_begin' END,"
    "           id, job_id"
    "    FROM attempts ORDER BY id;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'redelivery', id, job_id FROM redeliveries ORDER BY id;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'dead_letter', d.id,"
    "           COALESCE((SELECT COALESCE(m.job_id, m.topic || '/' || m.kafka_partition || '/' ||"
    "                                     m.kafka_offset)"
    "                     FROM messages m WHERE m.id = d.message_id), 'dead_letter/' || d.id)"
    "    FROM dead_letters d ORDER BY d.id;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'connection', id, job_id FROM connections ORDER BY id;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'skipped', id, topic || '/' || kafka_partition || '/' || first_offset"
    "    FROM skipped_offsets ORDER BY id;"
    "INSERT INTO outbox (kind, row_id, key)"
    "    SELECT 'cancellation', id, job_id FROM cancellations ORDER BY id;"

    "CREATE TRIGGER outbox_message AFTER INSERT ON messages"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('message', NEW.id,"
    "    COALESCE(NEW.job_id, NEW.topic || '/' || NEW.kafka_partition || '/' || NEW.kafka_offset));"
    " END;"
    "CREATE TRIGGER outbox_job AFTER INSERT ON jobs"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('job', NEW.rowid, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_attempt_begin AFTER INSERT ON attempts"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('attempt_begin', NEW.id, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_attempt_change AFTER UPDATE ON attempts"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ("
    "    CASE NEW.state WHEN 'finished' THEN 'attempt_end'"
    "                   WHEN 'abandoned' THEN 'attempt_abandoned' ELSE 'attempt_update' END,"
    "    NEW.id, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_redelivery AFTER INSERT ON redeliveries"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('redelivery', NEW.id, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_dead_letter AFTER INSERT ON dead_letters"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('dead_letter', NEW.id,"
    "    COALESCE((SELECT COALESCE(m.job_id, m.topic || '/' || m.kafka_partition || '/' ||"
    "                              m.kafka_offset)"
    "              FROM messages m WHERE m.id = NEW.message_id), 'dead_letter/' || NEW.id));"
    " END;"
    "CREATE TRIGGER outbox_connection AFTER INSERT ON connections"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('connection', NEW.id, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_cancellation AFTER INSERT ON cancellations"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('cancellation', NEW.id, NEW.job_id);"
    " END;"
    "CREATE TRIGGER outbox_skipped AFTER INSERT ON skipped_offsets"
    " WHEN (SELECT publishes FROM store_identity) BEGIN"
    "  INSERT INTO outbox (kind, row_id, key) VALUES ('skipped', NEW.id,"
    "    NEW.topic || '/' || NEW.kafka_partition || '/' || NEW.first_offset);"
    " END;"

    "CREATE TABLE fleet_positions ("
    "    topic           TEXT    NOT NULL,"
    "    kafka_partition INTEGER NOT NULL,"
    "    next_offset     INTEGER NOT NULL,"
    "    PRIMARY KEY (topic, kafka_partition)"
    ");"
    "CREATE TABLE fleet_records ("
    "    id        INTEGER PRIMARY KEY,"
    "    store_id  TEXT    NOT NULL,"
    "    seq       INTEGER NOT NULL,"
    "    worker_id TEXT    NOT NULL,"
    "    kind      TEXT    NOT NULL,"
    "    record    BLOB,"
    "    UNIQUE (store_id, seq)"
    ");"
    "CREATE INDEX fleet_records_waiting ON fleet_records (id) WHERE record IS NOT NULL;"
    "CREATE TABLE fleet_ids ("
    "    store_id   TEXT    NOT NULL,"
    "    table_name TEXT    NOT NULL,"
    "    local_id   INTEGER NOT NULL,"
    "    fleet_id   INTEGER NOT NULL,"
    "    seq        INTEGER NOT NULL,"
    "    PRIMARY KEY (store_id, table_name, local_id)"
    ");",

    /* 7: a session's jobs in order (brig session show, audit_list_session).
     * A cell is a job and its attempts as any other: its code is in the
     * job, its outputs (within SCHEMA.md 6.1's 2 MiB), exception and
     * interpreter fields in the attempt's result, which the outbox already
     * carries; no new table, so nothing new for the outbox. */
    "CREATE INDEX jobs_by_session ON jobs (session, created_ms) WHERE session IS NOT NULL;",

    /* 8: tenants (SCHEMA.md section 14): the tenant whose signature a
     * message carried, and so of the job it brought, and of a cancel; NULL
     * without tenants. An attempt's tenant is its job's. The outbox's
     * records carry every column, so the fleet store gets them too. */
    "ALTER TABLE messages ADD COLUMN tenant TEXT;"
    "ALTER TABLE jobs ADD COLUMN tenant TEXT;"
    "ALTER TABLE cancellations ADD COLUMN tenant TEXT;"
    "CREATE INDEX jobs_by_tenant ON jobs (tenant, created_ms) WHERE tenant IS NOT NULL;"
    "DROP VIEW job_summary;"
    "CREATE VIEW job_summary AS"
    " SELECT j.job_id, j.created_ms, j.runtime, j.session, j.replay_of,"
    "        (SELECT COUNT(*) FROM attempts c WHERE c.job_id = j.job_id) AS attempts,"
    "        a.state, a.status, a.exit_code, a.signal, a.wall_us, a.worker_id, j.tenant"
    " FROM jobs j"
    " LEFT JOIN attempts a ON a.id = (SELECT l.id FROM attempts l WHERE l.job_id = j.job_id"
    "                                 ORDER BY l.attempt DESC LIMIT 1);",
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

/* After a checkpoint, the WAL is truncated back to this size, so one large
 * batch does not leave a large file behind for the process's lifetime. */
#define JOURNAL_SIZE_LIMIT_BYTES (64 * 1024 * 1024)

/* Creates the file 0600 (SQLite would use 0644; its -wal and -shm files copy
 * the database's mode) and takes an exclusive flock, so that a second writer
 * pointed at the same file fails here instead of, for a worker, marking the
 * first one's running attempts abandoned. flock and SQLite's POSIX locks do
 * not interact. */
static int lock_store(const char *path, int *lock_fd, char *err, size_t errlen)
{
    *lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*lock_fd < 0) {
        snprintf(err, errlen, "audit store %s: opening the database file for writing: %s%s", path,
                 strerror(errno), errno == ENOENT ? " (its directory must exist)" : "");
        return -1;
    }
    if (flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen, "audit store %s: another process has it open for writing", path);
        else
            snprintf(err, errlen, "audit store %s: locking the database file: %s", path,
                     strerror(errno));
        return -1;
    }
    return 0;
}

static int configure(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    static const char *const pragmas[] = {
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    };
    char size_limit[64];
    sqlite3_stmt *stmt = NULL;
    bool wal;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        audit_sql_error(db, path, err, errlen, "switching to WAL mode");
        sqlite3_finalize(stmt);
        return -1;
    }
    wal = strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0;
    sqlite3_finalize(stmt);
    if (!wal) {
        snprintf(err, errlen, "audit store %s: switching to WAL mode: SQLite refused", path);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(pragmas); i++) {
        if (sqlite3_exec(db, pragmas[i], NULL, NULL, NULL) != SQLITE_OK)
            return audit_sql_error(db, path, err, errlen, "%s", pragmas[i]);
    }
    snprintf(size_limit, sizeof size_limit, "PRAGMA journal_size_limit = %d",
             JOURNAL_SIZE_LIMIT_BYTES);
    if (sqlite3_exec(db, size_limit, NULL, NULL, NULL) != SQLITE_OK)
        return audit_sql_error(db, path, err, errlen, "%s", size_limit);
    return 0;
}

int audit_db_open_writer(const char *path, sqlite3 **db, int *lock_fd, char *err, size_t errlen)
{
    int version;

    *db = NULL;
    if (lock_store(path, lock_fd, err, errlen) < 0)
        return -1;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return audit_sql_error(*db, path, err, errlen, "opening");
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, AUDIT_BUSY_TIMEOUT_MS);
    /* Before anything writes: a database from a newer brig is left as it is. */
    if (audit_schema_read_version(*db, path, &version, err, errlen) < 0 ||
        configure(*db, path, err, errlen) < 0 || audit_schema_migrate(*db, path, err, errlen) < 0)
        return -1;
    return 0;
}
