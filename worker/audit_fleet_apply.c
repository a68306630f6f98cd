/* Each kind of record into the fleet store's tables: the row's fields bound
 * by name (":topic" takes the row's "topic"), the worker's local ids
 * replaced by the fleet store's own. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "worker/audit_fleet_impl.h"
#include "worker/audit_outbox.h"

static const msgpack_object *field(const msgpack_object *map, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, name, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* 1 with *value, 0 when absent or nil, -1 when of another type. */
static int field_int(const msgpack_object *map, const char *name, int64_t *value)
{
    const msgpack_object *o = field(map, name);
    if (!o || o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *value = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *value = o->via.i64;
        return 1;
    }
    return -1;
}

/* Copies a string field into buf: 0, or -1 when absent, empty, not a string
 * or too long. */
static int field_text(const msgpack_object *map, const char *name, char *buf, size_t len)
{
    const msgpack_object *o = field(map, name);
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size >= len)
        return -1;
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return 0;
}

int fleet_decode(const msgpack_object *root, struct fleet_record *r, char *why, size_t whylen)
{
    int64_t version;
    if (root->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "not a map");
        return -1;
    }
    if (field_int(root, "v", &version) != 1) {
        snprintf(why, whylen, "v: missing or not an integer");
        return -1;
    }
    if (version != AUDIT_RECORD_VERSION) {
        snprintf(why, whylen, "v: version %" PRId64 ", this brig reads version %d", version,
                 AUDIT_RECORD_VERSION);
        return -1;
    }
    const char *missing = field_text(root, "kind", r->kind, sizeof r->kind) < 0         ? "kind"
                          : field_text(root, "store", r->store, sizeof r->store) < 0    ? "store"
                          : field_text(root, "worker", r->worker, sizeof r->worker) < 0 ? "worker"
                                                                                        : NULL;
    if (missing) {
        snprintf(why, whylen, "%s: missing, empty, not a string or too long", missing);
        return -1;
    }
    if (field_int(root, "seq", &r->seq) != 1 || r->seq <= 0) {
        snprintf(why, whylen, "seq: missing or not a positive integer");
        return -1;
    }
    r->row = field(root, "row");
    if (!r->row || r->row->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "row: missing or not a map (record %s/%" PRId64 ")", r->store,
                 r->seq);
        return -1;
    }
    return 0;
}

static int refuse(char *why, size_t whylen, const struct fleet_record *r, const char *what)
{
    snprintf(why, whylen, "%s record %s/%" PRId64 ": %s", r->kind, r->store, r->seq, what);
    return FLEET_REFUSED;
}

/* Binds every field of the row whose name a parameter of stmt has. */
static int bind_row(sqlite3_stmt *stmt, const struct fleet_record *r, char *why, size_t whylen)
{
    const msgpack_object *row = r->row;
    for (uint32_t i = 0; i < row->via.map.size; i++) {
        const msgpack_object *k = &row->via.map.ptr[i].key, *v = &row->via.map.ptr[i].val;
        char name[64];
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size + 2 > sizeof name)
            continue;
        snprintf(name, sizeof name, ":%.*s", (int)k->via.str.size, k->via.str.ptr);
        int index = sqlite3_bind_parameter_index(stmt, name);
        if (index == 0)
            continue;
        int rc;
        switch (v->type) {
        case MSGPACK_OBJECT_NIL:
            rc = sqlite3_bind_null(stmt, index);
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            rc = sqlite3_bind_int(stmt, index, v->via.boolean);
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (v->via.u64 > INT64_MAX)
                return refuse(why, whylen, r, "an integer field is out of range");
            rc = sqlite3_bind_int64(stmt, index, (int64_t)v->via.u64);
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            rc = sqlite3_bind_int64(stmt, index, v->via.i64);
            break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            rc = sqlite3_bind_double(stmt, index, v->via.f64);
            break;
        case MSGPACK_OBJECT_STR:
            rc = sqlite3_bind_text64(stmt, index, v->via.str.ptr, v->via.str.size, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        case MSGPACK_OBJECT_BIN:
            rc = sqlite3_bind_blob64(stmt, index, v->via.bin.size ? v->via.bin.ptr : "",
                                     v->via.bin.size, SQLITE_STATIC);
            break;
        default:
            snprintf(why, whylen, "%s record %s/%" PRId64 ": row.%s: not a scalar", r->kind,
                     r->store, r->seq, name + 1);
            return FLEET_REFUSED;
        }
        if (rc != SQLITE_OK)
            return refuse(why, whylen, r, "a field could not be bound");
    }
    return 0;
}

/* The fleet id of a worker's local row id: 1 (found), 0, or -1. */
static int fleet_id(struct fleet_store *fs, const struct fleet_record *r, const char *table,
                    int64_t local_id, int64_t *id, int64_t *seq, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_ID_GET];
    sqlite3_bind_text(stmt, 1, r->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, local_id);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(stmt, 0);
        if (seq)
            *seq = sqlite3_column_int64(stmt, 1);
    }
    char why[8];
    if (fleet_step_done(fs, stmt, rc, why, sizeof why, err, errlen) != 0)
        return -1;
    return rc == SQLITE_ROW;
}

static int remember_id(struct fleet_store *fs, const struct fleet_record *r, const char *table,
                       int64_t local_id, int64_t id, char *why, size_t whylen, char *err,
                       size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_ID_SET];
    sqlite3_bind_text(stmt, 1, r->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, table, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, local_id);
    sqlite3_bind_int64(stmt, 4, id);
    sqlite3_bind_int64(stmt, 5, r->seq);
    return fleet_step_done(fs, stmt, sqlite3_step(stmt), why, whylen, err, errlen);
}

/* The row's reference to a local row id of table, as the fleet's id bound
 * to param: 0 bound (nil stays NULL unless required), FLEET_WAITING, or
 * FLEET_REFUSED / -1. */
static int bind_reference(struct fleet_store *fs, const struct fleet_record *r, sqlite3_stmt *stmt,
                          const char *name, const char *table, bool required, const char *param,
                          char *why, size_t whylen, char *err, size_t errlen)
{
    int64_t local, id;
    int has = field_int(r->row, name, &local);
    if (has < 0 || (has == 0 && required)) {
        snprintf(why, whylen, "%s record %s/%" PRId64 ": row.%s: missing or not an integer",
                 r->kind, r->store, r->seq, name);
        return FLEET_REFUSED;
    }
    if (has == 0)
        return 0;
    int found = fleet_id(fs, r, table, local, &id, NULL, err, errlen);
    if (found <= 0)
        return found < 0 ? -1 : FLEET_WAITING;
    sqlite3_bind_int64(stmt, sqlite3_bind_parameter_index(stmt, param), id);
    return 0;
}

static int job_exists(struct fleet_store *fs, const struct fleet_record *r, char *why,
                      size_t whylen, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = fs->stmts[F_JOB_EXISTS];
    const msgpack_object *job = field(r->row, "job_id");
    if (!job || job->type != MSGPACK_OBJECT_STR)
        return refuse(why, whylen, r, "row.job_id: missing or not a string");
    sqlite3_bind_text64(stmt, 1, job->via.str.ptr, job->via.str.size, SQLITE_STATIC, SQLITE_UTF8);
    int rc = sqlite3_step(stmt);
    if (fleet_step_done(fs, stmt, rc, why, whylen, err, errlen) != 0)
        return -1;
    return rc == SQLITE_ROW;
}

/* Runs stmt, bound, then remembers the row it made as the fleet's id of the
 * record's row.id of table (when table). */
static int insert(struct fleet_store *fs, const struct fleet_record *r, sqlite3_stmt *stmt,
                  const char *table, char *why, size_t whylen, char *err, size_t errlen)
{
    int rc = bind_row(stmt, r, why, whylen);
    if (rc != 0) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return rc;
    }
    rc = fleet_step_done(fs, stmt, sqlite3_step(stmt), why, whylen, err, errlen);
    if (rc != 0 || !table)
        return rc == 0 ? FLEET_APPLIED : rc;
    int64_t local;
    if (field_int(r->row, "id", &local) != 1)
        return refuse(why, whylen, r, "row.id: missing or not an integer");
    rc = remember_id(fs, r, table, local, sqlite3_last_insert_rowid(fs->db), why, whylen, err,
                     errlen);
    return rc == 0 ? FLEET_APPLIED : rc;
}

/* A row of attempts changes (its start, then its end or abandonment): each
 * record has the whole row, and the one of the highest seq wins. */
static int apply_attempt(struct fleet_store *fs, const struct fleet_record *r, char *why,
                         size_t whylen, char *err, size_t errlen)
{
    int64_t local, id, seq;
    if (field_int(r->row, "id", &local) != 1)
        return refuse(why, whylen, r, "row.id: missing or not an integer");
    int found = fleet_id(fs, r, "attempts", local, &id, &seq, err, errlen);
    if (found < 0)
        return -1;
    if (found == 0)
        return insert(fs, r, fs->stmts[F_ATTEMPT_INSERT], "attempts", why, whylen, err, errlen);
    if (seq >= r->seq)
        return FLEET_APPLIED; /* a later state is there already */
    sqlite3_stmt *stmt = fs->stmts[F_ATTEMPT_UPDATE];
    sqlite3_bind_int64(stmt, sqlite3_bind_parameter_index(stmt, ":fleet_id"), id);
    int rc = insert(fs, r, stmt, NULL, why, whylen, err, errlen);
    if (rc != FLEET_APPLIED)
        return rc;
    rc = remember_id(fs, r, "attempts", local, id, why, whylen, err, errlen);
    return rc == 0 ? FLEET_APPLIED : rc;
}

int fleet_apply_record(struct fleet_store *fs, const struct fleet_record *r, char *why,
                       size_t whylen, char *err, size_t errlen)
{
    static const char *const kinds[] = {"message",    "job",     "redelivery",  "dead_letter",
                                        "connection", "skipped", "cancellation"};
    const char *k = r->kind;
    bool known = strncmp(k, "attempt_", 8) == 0;
    for (size_t i = 0; !known && i < sizeof kinds / sizeof kinds[0]; i++)
        known = strcmp(k, kinds[i]) == 0;
    if (!known)
        return refuse(why, whylen, r, "an unknown kind (written by a newer brig?)");
    bool needs_job = strcmp(k, "job") != 0 && strcmp(k, "message") != 0 &&
                     strcmp(k, "dead_letter") != 0 && strcmp(k, "skipped") != 0 &&
                     strcmp(k, "cancellation") != 0; /* a cancel may come before its job */
    if (needs_job) {
        int exists = job_exists(fs, r, why, whylen, err, errlen);
        if (exists != 1)
            return exists == 0 ? FLEET_WAITING : exists;
    }
    if (strcmp(k, "message") == 0) {
        int64_t local, id;
        if (field_int(r->row, "id", &local) != 1)
            return refuse(why, whylen, r, "row.id: missing or not an integer");
        int found = fleet_id(fs, r, "messages", local, &id, NULL, err, errlen);
        if (found != 0)
            return found < 0 ? -1 : FLEET_APPLIED;
        return insert(fs, r, fs->stmts[F_MESSAGE], "messages", why, whylen, err, errlen);
    }
    if (strncmp(k, "attempt_", 8) == 0)
        return apply_attempt(fs, r, why, whylen, err, errlen);

    enum fleet_statement which;
    int rc = 0;
    if (strcmp(k, "job") == 0) {
        which = F_JOB;
        rc = bind_reference(fs, r, fs->stmts[which], "message_id", "messages", false,
                            ":fleet_message_id", why, whylen, err, errlen);
    } else if (strcmp(k, "redelivery") == 0) {
        which = F_REDELIVERY;
        rc = bind_reference(fs, r, fs->stmts[which], "answered_with", "attempts", true,
                            ":fleet_answered_with", why, whylen, err, errlen);
        if (rc == 0)
            rc = bind_reference(fs, r, fs->stmts[which], "message_id", "messages", false,
                                ":fleet_message_id", why, whylen, err, errlen);
    } else if (strcmp(k, "dead_letter") == 0) {
        which = F_DEAD_LETTER;
        rc = bind_reference(fs, r, fs->stmts[which], "message_id", "messages", true,
                            ":fleet_message_id", why, whylen, err, errlen);
    } else if (strcmp(k, "connection") == 0) {
        which = F_CONNECTION;
    } else if (strcmp(k, "cancellation") == 0) {
        which = F_CANCELLATION;
    } else {
        which = F_SKIPPED;
    }
    if (rc != 0) {
        sqlite3_reset(fs->stmts[which]);
        sqlite3_clear_bindings(fs->stmts[which]);
        return rc;
    }
    return insert(fs, r, fs->stmts[which], NULL, why, whylen, err, errlen);
}
