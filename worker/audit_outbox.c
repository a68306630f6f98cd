#include "worker/audit_outbox.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/audit_schema.h"
#include "worker/audit_store.h"

enum outbox_statement {
    /* One per table a record can describe, in the order of tables[]. */
    SELECT_MESSAGE,
    SELECT_JOB,
    SELECT_ATTEMPT,
    SELECT_REDELIVERY,
    SELECT_DEAD_LETTER,
    SELECT_CONNECTION,
    SELECT_SKIPPED,
    SELECT_CANCELLATION,
    OUTBOX_NEXT,
    OUTBOX_REMOVE,
    OUTBOX_COUNT,
    OUTBOX_STATEMENTS
};

/* Which table an outbox kind's row_id is a rowid of; "attempt_" names every
 * change of an attempt. */
static const struct {
    const char *kind;
    const char *sql;
} tables[] = {
    [SELECT_MESSAGE] = {"message", "SELECT * FROM messages WHERE rowid = ?1"},
    [SELECT_JOB] = {"job", "SELECT * FROM jobs WHERE rowid = ?1"},
    [SELECT_ATTEMPT] = {"attempt_", "SELECT * FROM attempts WHERE rowid = ?1"},
    [SELECT_REDELIVERY] = {"redelivery", "SELECT * FROM redeliveries WHERE rowid = ?1"},
    [SELECT_DEAD_LETTER] = {"dead_letter", "SELECT * FROM dead_letters WHERE rowid = ?1"},
    [SELECT_CONNECTION] = {"connection", "SELECT * FROM connections WHERE rowid = ?1"},
    [SELECT_SKIPPED] = {"skipped", "SELECT * FROM skipped_offsets WHERE rowid = ?1"},
    [SELECT_CANCELLATION] = {"cancellation", "SELECT * FROM cancellations WHERE rowid = ?1"},
};

static const char *const queue_sql[] = {
    [OUTBOX_NEXT] =
        "SELECT seq, kind, row_id, key FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [OUTBOX_REMOVE] = "DELETE FROM outbox WHERE seq = ?1",
    [OUTBOX_COUNT] = "SELECT COUNT(*) FROM outbox",
};

struct audit_outbox {
    struct audit_store *store;
    sqlite3_stmt *stmts[OUTBOX_STATEMENTS];
    char store_id[64];
    msgpack_sbuffer buf;
};

static int failed(struct audit_outbox *o, sqlite3_stmt *stmt, char *err, size_t errlen,
                  const char *what)
{
    audit_sql_error(audit_store_db(o->store), audit_store_path(o->store), err, errlen, "%s", what);
    if (stmt)
        sqlite3_reset(stmt);
    return -1;
}

static int read_identity(struct audit_outbox *o, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(audit_store_db(o->store), "SELECT store_id FROM store_identity", -1,
                           &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        failed(o, NULL, err, errlen, "reading the store's id");
    } else {
        snprintf(o->store_id, sizeof o->store_id, "%s", (const char *)sqlite3_column_text(stmt, 0));
        rc = 0;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int audit_outbox_open(struct audit_store *store, struct audit_outbox **out, char *err,
                      size_t errlen)
{
    struct audit_outbox *o = calloc(1, sizeof *o);
    *out = NULL;
    if (!o) {
        snprintf(err, errlen, "audit store %s: the outbox: out of memory", audit_store_path(store));
        return -1;
    }
    o->store = store;
    msgpack_sbuffer_init(&o->buf);
    for (int i = 0; i < OUTBOX_STATEMENTS; i++) {
        const char *sql = i < (int)ARRAY_SIZE(tables) ? tables[i].sql : queue_sql[i];
        if (sqlite3_prepare_v3(audit_store_db(store), sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &o->stmts[i], NULL) != SQLITE_OK) {
            failed(o, NULL, err, errlen, "preparing the outbox's statements");
            audit_outbox_close(o);
            return -1;
        }
    }
    if (read_identity(o, err, errlen) < 0) {
        audit_outbox_close(o);
        return -1;
    }
    *out = o;
    return 0;
}

void audit_outbox_close(struct audit_outbox *o)
{
    if (!o)
        return;
    for (int i = 0; i < OUTBOX_STATEMENTS; i++)
        sqlite3_finalize(o->stmts[i]);
    msgpack_sbuffer_destroy(&o->buf);
    free(o);
}

const char *audit_outbox_store_id(const struct audit_outbox *o)
{
    return o->store_id;
}

static void pack_string(msgpack_packer *pk, const char *text, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, text, len);
}

static void pack_cstring(msgpack_packer *pk, const char *text)
{
    pack_string(pk, text, strlen(text));
}

/* The row's columns by name, as SQLite holds them; BLOBs left out unless
 * blobs, and then named in "omitted" (after the row, in the record's map). */
static size_t pack_row(msgpack_packer *pk, sqlite3_stmt *row, bool blobs)
{
    int columns = sqlite3_column_count(row);
    size_t omitted = 0;
    for (int c = 0; c < columns; c++)
        omitted += !blobs && sqlite3_column_type(row, c) == SQLITE_BLOB;
    msgpack_pack_map(pk, (size_t)columns - omitted);
    for (int c = 0; c < columns; c++) {
        int type = sqlite3_column_type(row, c);
        if (!blobs && type == SQLITE_BLOB)
            continue;
        pack_cstring(pk, sqlite3_column_name(row, c));
        if (type == SQLITE_INTEGER) {
            msgpack_pack_int64(pk, sqlite3_column_int64(row, c));
        } else if (type == SQLITE_TEXT) {
            pack_string(pk, (const char *)sqlite3_column_text(row, c),
                        (size_t)sqlite3_column_bytes(row, c));
        } else if (type == SQLITE_BLOB) {
            size_t len = (size_t)sqlite3_column_bytes(row, c);
            msgpack_pack_bin(pk, len);
            msgpack_pack_bin_body(pk, sqlite3_column_blob(row, c), len);
        } else if (type == SQLITE_FLOAT) {
            msgpack_pack_double(pk, sqlite3_column_double(row, c));
        } else {
            msgpack_pack_nil(pk);
        }
    }
    if (omitted > 0) {
        pack_cstring(pk, "omitted");
        msgpack_pack_array(pk, omitted);
        for (int c = 0; c < columns; c++)
            if (sqlite3_column_type(row, c) == SQLITE_BLOB)
                pack_cstring(pk, sqlite3_column_name(row, c));
    }
    return omitted;
}

static int table_of(const char *kind)
{
    for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
        if (strncmp(kind, tables[i].kind, strlen(tables[i].kind)) == 0)
            return (int)i;
    return -1;
}

/* {"v", "kind", "store", "seq", "worker", "row"[, "omitted"]}; "row" is nil
 * when the row is gone (it never is: audit rows are not deleted). */
static int encode(struct audit_outbox *o, int64_t seq, const char *kind, int64_t row_id, bool blobs,
                  char *err, size_t errlen)
{
    msgpack_packer pk;
    int table = table_of(kind);
    if (table < 0) {
        snprintf(err, errlen, "audit store %s: outbox entry %lld: unknown kind \"%s\"",
                 audit_store_path(o->store), (long long)seq, kind);
        return -1;
    }
    sqlite3_stmt *row = o->stmts[table];
    sqlite3_bind_int64(row, 1, row_id);
    int rc = sqlite3_step(row);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(o, row, err, errlen, "reading a row for the audit topic");
    bool omits = false;
    if (rc == SQLITE_ROW && !blobs) {
        for (int c = 0; c < sqlite3_column_count(row); c++)
            omits = omits || sqlite3_column_type(row, c) == SQLITE_BLOB;
    }
    msgpack_sbuffer_clear(&o->buf);
    msgpack_packer_init(&pk, &o->buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, omits ? 7 : 6);
    pack_cstring(&pk, "v");
    msgpack_pack_int(&pk, AUDIT_RECORD_VERSION);
    pack_cstring(&pk, "kind");
    pack_cstring(&pk, kind);
    pack_cstring(&pk, "store");
    pack_cstring(&pk, o->store_id);
    pack_cstring(&pk, "seq");
    msgpack_pack_int64(&pk, seq);
    pack_cstring(&pk, "worker");
    pack_cstring(&pk, audit_store_worker(o->store));
    pack_cstring(&pk, "row");
    if (rc == SQLITE_ROW)
        pack_row(&pk, row, blobs);
    else
        msgpack_pack_nil(&pk);
    sqlite3_reset(row);
    return 0;
}

int audit_outbox_read(struct audit_outbox *o, int64_t after, size_t max, bool blobs,
                      audit_outbox_fn fn, void *ctx, char *err, size_t errlen)
{
    sqlite3_stmt *next = o->stmts[OUTBOX_NEXT];
    int rc;
    sqlite3_bind_int64(next, 1, after);
    sqlite3_bind_int64(next, 2, (int64_t)max);
    while ((rc = sqlite3_step(next)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(next, 0);
        if (encode(o, seq, (const char *)sqlite3_column_text(next, 1),
                   sqlite3_column_int64(next, 2), blobs, err, errlen) < 0) {
            sqlite3_reset(next);
            return -1;
        }
        const struct audit_outbox_record record = {
            .seq = seq,
            .key = (const char *)sqlite3_column_text(next, 3),
            .value = o->buf.data,
            .len = o->buf.size,
        };
        if (fn(ctx, &record) != 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(o, next, err, errlen, "reading the outbox");
    sqlite3_reset(next);
    return 0;
}

int audit_outbox_remove(struct audit_outbox *o, int64_t seq, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = o->stmts[OUTBOX_REMOVE];
    sqlite3_bind_int64(stmt, 1, seq);
    return audit_store_write(o->store, stmt, err, errlen,
                             "taking a delivered record off the outbox");
}

int audit_outbox_count(struct audit_outbox *o, int64_t *count, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = o->stmts[OUTBOX_COUNT];
    if (sqlite3_step(stmt) != SQLITE_ROW)
        return failed(o, stmt, err, errlen, "counting the outbox");
    *count = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return 0;
}
