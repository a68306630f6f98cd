/* Inside a fleet store: shared by audit_fleet.c (the store, positions and
 * records) and audit_fleet_apply.c (each kind's rows). Internal. */
#ifndef BRIG_WORKER_AUDIT_FLEET_IMPL_H
#define BRIG_WORKER_AUDIT_FLEET_IMPL_H

#include <msgpack.h>
#include <sqlite3.h>
#include <stdbool.h>

#include "worker/audit_fleet.h"

enum fleet_statement {
    F_SAVEPOINT,
    F_RELEASE,
    F_ROLLBACK_TO,
    F_POSITION_GET,
    F_POSITION_SET,
    F_RECORD_SEEN,
    F_RECORD_WAIT,
    F_RECORD_DONE,
    F_RECORD_FORGET,
    F_RECORD_WAITING,
    F_RECORD_GET,
    F_RECORD_COUNT_WAITING,
    F_ID_GET,
    F_ID_SET,
    F_JOB_EXISTS,
    F_MESSAGE,
    F_JOB,
    F_ATTEMPT_INSERT,
    F_ATTEMPT_UPDATE,
    F_REDELIVERY,
    F_DEAD_LETTER,
    F_CONNECTION,
    F_SKIPPED,
    F_CANCELLATION,
    F_STATEMENTS
};

extern const char *const fleet_statement_sql[F_STATEMENTS];

struct fleet_store {
    sqlite3 *db;
    int lock_fd;
    char *path;
    bool in_transaction;
    sqlite3_stmt *stmts[F_STATEMENTS];
};

/* A record's envelope, checked; row points into the decoded message. */
struct fleet_record {
    char kind[32];
    char store[65];
    char worker[256];
    int64_t seq;
    const msgpack_object *row;
};

/* Checks a decoded record's envelope (AUDIT.md); -1 with why naming the
 * field. */
int fleet_decode(const msgpack_object *root, struct fleet_record *record, char *why, size_t whylen);

/* Applies one record's row: FLEET_APPLIED, FLEET_WAITING or FLEET_REFUSED
 * (why), or -1 with err when the store failed. Inside a savepoint of the
 * caller's, which it rolls back on FLEET_REFUSED. */
int fleet_apply_record(struct fleet_store *fs, const struct fleet_record *record, char *why,
                       size_t whylen, char *err, size_t errlen);

/* Resets stmt after a step that returned rc: 0 done, FLEET_REFUSED (a
 * constraint or type the record broke: why), or -1 (err). */
int fleet_step_done(struct fleet_store *fs, sqlite3_stmt *stmt, int rc, char *why, size_t whylen,
                    char *err, size_t errlen);

#endif
