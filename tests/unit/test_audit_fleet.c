/* The fleet audit without Kafka: a worker store's outbox (what it queues,
 * the records it encodes, the rows of an older store) and the fleet store
 * built from the records (remapped ids, records out of order, twice, or
 * broken). */
#include <dirent.h>
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "worker/audit.h"
#include "worker/audit_fleet.h"
#include "worker/audit_outbox.h"
#include "worker/audit_schema.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_msg("%s: %s", #call, err);                                                        \
    } while (0)

static char err[1024];

struct captured {
    int64_t seq;
    char key[128];
    void *value;
    size_t len;
};

struct capture {
    struct captured items[64];
    size_t count;
};

static int capture_one(void *ctx, const struct audit_outbox_record *r)
{
    struct capture *c = ctx;
    assert_true(c->count < 64);
    struct captured *item = &c->items[c->count++];
    item->seq = r->seq;
    snprintf(item->key, sizeof item->key, "%s", r->key);
    item->value = malloc(r->len);
    memcpy(item->value, r->value, r->len);
    item->len = r->len;
    return 0;
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i].value);
    c->count = 0;
}

struct fixture {
    char dir[64];
    char a[96], b[96], fleet[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/brig-test-fleet-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->a, sizeof f->a, "%s/audit-a.db", f->dir);
    snprintf(f->b, sizeof f->b, "%s/audit-b.db", f->dir);
    snprintf(f->fleet, sizeof f->fleet, "%s/fleet.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *dir = opendir(f->dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] != '.')
            unlinkat(dirfd(dir), entry->d_name, 0);
    closedir(dir);
    rmdir(f->dir);
    free(f);
    return 0;
}

static const char job_raw[] = "\x82\xa1v\x01\xa2id\xa3J-1";
static const char result_b[] = "result of b";

/* Job J-1's message, received at received_ms, and the job. */
static void receive_job(struct audit_store *s, int64_t received_ms)
{
    int64_t message;
    const struct audit_message m = {.topic = "brig.jobs",
                                    .partition = 2,
                                    .offset = 7,
                                    .key = "J-1",
                                    .key_len = 3,
                                    .received_ms = received_ms,
                                    .payload = job_raw,
                                    .payload_len = sizeof job_raw - 1,
                                    .job_id = "J-1"};
    OK(audit_record_message(s, &m, &message, err, sizeof err));
    OK(audit_record_job(s, "J-1", message, NULL, "python", NULL, NULL, job_raw, sizeof job_raw - 1,
                        err, sizeof err));
}

/* Worker a: job J-1 received, run (abandoned by a crash: running when the
 * store is opened again), an undecodable message refused, a connection. */
static void worker_a(const char *path)
{
    struct audit_store *s;
    int64_t attempt, number, junk;
    OK(audit_open(path, "worker-a", &s, err, sizeof err));
    receive_job(s, 1000);
    OK(audit_attempt_begin(s, "J-1", 1100, "python", "3.11", "policy", "sha256:abc", &attempt,
                           &number, err, sizeof err));
    const struct audit_message bad = {.topic = "brig.jobs",
                                      .partition = 0,
                                      .offset = 3,
                                      .received_ms = 1200,
                                      .payload = "\xc1",
                                      .payload_len = 1};
    OK(audit_record_message(s, &bad, &junk, err, sizeof err));
    OK(audit_record_dead_letter(s, junk, "not msgpack", NULL, err, sizeof err));
    const struct audit_connection conn = {
        .job_id = "J-1", .host = "example.org", .port = 443, .allowed = true, .ts_ms = 1150};
    OK(audit_record_connection(s, &conn, err, sizeof err));
    OK(audit_record_cancel(s, "J-0", NULL, "agent-7", 1160, 1170, "not yet arrived", err,
                           sizeof err));
    OK(audit_close(s, err, sizeof err));
    /* The next process finds the attempt running and marks it abandoned. */
    OK(audit_open(path, "worker-a2", &s, err, sizeof err));
    OK(audit_close(s, err, sizeof err));
}

/* Worker b: J-1 delivered again and run to the end, delivered a third time
 * and answered from the store; offsets it could not read. */
static void worker_b(const char *path)
{
    struct audit_store *s;
    int64_t again, attempt, number;
    OK(audit_open(path, "worker-b", &s, err, sizeof err));
    receive_job(s, 2000);
    OK(audit_attempt_begin(s, "J-1", 2100, "python", "3.11", "policy", NULL, &attempt, &number, err,
                           sizeof err));
    const struct audit_outcome outcome = {.finished_ms = 2200,
                                          .status = BRIG_STATUS_OK,
                                          .exit_code = 0,
                                          .wall_us = 5,
                                          .cpu_us = 4,
                                          .peak_memory_bytes = 1024};
    OK(audit_attempt_end(s, attempt, &outcome, result_b, sizeof result_b, err, sizeof err));
    const struct audit_message m = {.topic = "brig.jobs",
                                    .partition = 2,
                                    .offset = 7,
                                    .received_ms = 2250,
                                    .payload = job_raw,
                                    .payload_len = sizeof job_raw - 1,
                                    .job_id = "J-1"};
    OK(audit_record_message(s, &m, &again, err, sizeof err));
    OK(audit_record_redelivery(s, "J-1", again, attempt, 2300, err, sizeof err));
    OK(audit_record_skipped(s, "brig.jobs", 1, 10, 12, 2400, err, sizeof err));
    OK(audit_close(s, err, sizeof err));
}

/* Every record queued in the store at path. */
static void read_outbox(const char *path, const char *worker, bool blobs, struct capture *c)
{
    struct audit_store *s;
    struct audit_outbox *o;
    OK(audit_open(path, worker, &s, err, sizeof err));
    OK(audit_outbox_open(s, &o, err, sizeof err));
    OK(audit_outbox_read(o, 0, 64, blobs, capture_one, c, err, sizeof err));
    audit_outbox_close(o);
    OK(audit_close(s, err, sizeof err));
}

static const char *kind_of(const struct captured *item, char *buf, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, item->value, item->len, NULL), MSGPACK_UNPACK_SUCCESS);
    buf[0] = '\0';
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "kind", 4) == 0)
            snprintf(buf, len, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
    }
    msgpack_unpacked_destroy(&u);
    return buf;
}

static void test_outbox_queues_every_committed_row_in_order(void **state)
{
    struct fixture *f = *state;
    struct capture c = {0};
    static const char *const kinds[] = {
        "message",     "job",        "attempt_begin", "message",
        "dead_letter", "connection", "cancellation",  "attempt_abandoned"};
    static const char *const keys[] = {"J-1",           "J-1", "J-1", "brig.jobs/0/3",
                                       "brig.jobs/0/3", "J-1", "J-0", "J-1"};
    char kind[32];
    worker_a(f->a);
    read_outbox(f->a, "worker-a3", true, &c);
    assert_int_equal(c.count, 8);
    for (size_t i = 0; i < c.count; i++) {
        assert_string_equal(kind_of(&c.items[i], kind, sizeof kind), kinds[i]);
        assert_string_equal(c.items[i].key, keys[i]);
        assert_true(i == 0 || c.items[i].seq > c.items[i - 1].seq);
    }
    capture_free(&c);
}

static void test_outbox_remove_takes_a_delivered_record_off(void **state)
{
    struct fixture *f = *state;
    struct audit_store *s;
    struct audit_outbox *o;
    struct capture c = {0};
    int64_t count;
    worker_a(f->a);
    OK(audit_open(f->a, "worker-a3", &s, err, sizeof err));
    OK(audit_outbox_open(s, &o, err, sizeof err));
    OK(audit_outbox_read(o, 0, 2, true, capture_one, &c, err, sizeof err));
    assert_int_equal(c.count, 2);
    OK(audit_outbox_remove(o, c.items[0].seq, err, sizeof err));
    OK(audit_outbox_count(o, &count, err, sizeof err));
    assert_int_equal(count, 7);
    audit_outbox_close(o);
    OK(audit_close(s, err, sizeof err));
    /* Committed: the next process starts with the rest. */
    capture_free(&c);
    read_outbox(f->a, "worker-a4", true, &c);
    assert_int_equal(c.count, 7);
    assert_true(c.items[0].seq > 1);
    capture_free(&c);
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

/* Adds the records, in the order given, and applies what waits. */
static void sync_records(const char *fleet, struct captured *const *items, size_t n,
                         int expect_outcome, uint64_t *waiting)
{
    struct fleet_store *fs;
    char why[512];
    uint64_t applied;
    OK(fleet_open(fleet, &fs, err, sizeof err));
    for (size_t i = 0; i < n; i++) {
        int outcome = fleet_add(fs, "brig.audit", 0, (int64_t)i, items[i]->value, items[i]->len,
                                why, sizeof why, err, sizeof err);
        if (outcome < 0 || outcome == FLEET_REFUSED)
            fail_msg("record %zu: %s%s", i, why, outcome < 0 ? err : "");
        if (expect_outcome >= 0)
            assert_int_equal(outcome, expect_outcome);
    }
    OK(fleet_apply_waiting(fs, &applied, waiting, err, sizeof err));
    OK(fleet_close(fs, err, sizeof err));
}

/* Both workers' records, newest first: everything refers to something not
 * applied yet when it arrives. */
static size_t both_reversed(struct fixture *f, struct capture *a, struct capture *b,
                            struct captured **items)
{
    size_t n = 0;
    worker_a(f->a);
    worker_b(f->b);
    read_outbox(f->a, "worker-a3", true, a);
    read_outbox(f->b, "worker-b2", true, b);
    for (size_t i = b->count; i-- > 0;)
        items[n++] = &b->items[i];
    for (size_t i = a->count; i-- > 0;)
        items[n++] = &a->items[i];
    return n;
}

static void test_sync_rebuilds_both_workers_history_from_records_out_of_order(void **state)
{
    struct fixture *f = *state;
    struct capture a = {0}, b = {0};
    struct captured *items[128];
    uint64_t waiting;
    size_t n = both_reversed(f, &a, &b, items);
    sync_records(f->fleet, items, n, -1, &waiting);
    assert_int_equal(waiting, 0);

    struct audit_job_record *job;
    assert_int_equal(audit_show(f->fleet, "J-1", &job, err, sizeof err), 1);
    assert_memory_equal(job->raw, job_raw, sizeof job_raw - 1);
    assert_string_equal(job->topic, "brig.jobs");
    assert_int_equal(job->n_attempts, 2);
    /* Applied newest first, so b's run is number 1 here; each keeps its
     * worker, state and measurements. */
    const struct audit_attempt_record *run = &job->attempts[0], *lost = &job->attempts[1];
    if (strcmp(run->worker_id, "worker-b") != 0) {
        run = &job->attempts[1];
        lost = &job->attempts[0];
    }
    assert_string_equal(run->worker_id, "worker-b");
    assert_string_equal(run->state, "finished");
    assert_string_equal(run->status, "ok");
    assert_int_equal(run->peak_memory_bytes, 1024);
    assert_memory_equal(run->result, result_b, sizeof result_b);
    assert_string_equal(lost->worker_id, "worker-a");
    assert_string_equal(lost->state, "abandoned");
    assert_int_equal(job->n_redeliveries, 1);
    assert_int_equal(job->redeliveries[0].answered_with, run->id);
    audit_job_record_free(job);

    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM messages"), 4);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM jobs"), 1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM connections"), 1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM skipped_offsets"), 1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM cancellations WHERE job_id = 'J-0'"
                                         " AND requested_by = 'agent-7'"),
                     1);
    assert_int_equal(
        query_int(f->fleet, "SELECT COUNT(*) FROM attempts WHERE image_digest = 'sha256:abc'"), 1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM dead_letters d JOIN messages m"
                                         " ON m.id = d.message_id WHERE m.job_id IS NULL"),
                     1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM redeliveries r JOIN messages m"
                                         " ON m.id = r.message_id WHERE m.received_ms = 2250"),
                     1);
    /* The fleet store publishes nothing of its own. */
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM outbox"), 0);
    capture_free(&a);
    capture_free(&b);
}

/* The rows of the tables a record can add, as one number. */
static int64_t row_counts(const char *path)
{
    return query_int(path, "SELECT (SELECT COUNT(*) FROM messages) * 1000000 +"
                           " (SELECT COUNT(*) FROM attempts) * 10000 +"
                           " (SELECT COUNT(*) FROM redeliveries) * 100 +"
                           " (SELECT COUNT(*) FROM dead_letters)");
}

static void test_sync_twice_changes_nothing(void **state)
{
    struct fixture *f = *state;
    struct capture a = {0}, b = {0};
    struct captured *items[128];
    uint64_t waiting;
    size_t n = both_reversed(f, &a, &b, items);
    sync_records(f->fleet, items, n, -1, &waiting);
    int64_t rows = row_counts(f->fleet);
    sync_records(f->fleet, items, n, FLEET_DUPLICATE, &waiting);
    assert_int_equal(waiting, 0);
    assert_int_equal(row_counts(f->fleet), rows);
    capture_free(&a);
    capture_free(&b);
}

static void test_a_record_waits_for_the_one_it_refers_to(void **state)
{
    struct fixture *f = *state;
    struct capture b = {0};
    struct captured *items[16];
    uint64_t waiting;
    worker_b(f->b);
    read_outbox(f->b, "worker-b2", true, &b);
    /* Everything but the job's first message: the job waits for it, and
     * its attempt's start and end and the redelivery wait for the job; the
     * second message and the skipped offsets do not. */
    for (size_t i = 1; i < b.count; i++)
        items[i - 1] = &b.items[i];
    sync_records(f->fleet, items, b.count - 1, -1, &waiting);
    assert_int_equal(waiting, 4);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM jobs"), 0);
    /* Once it comes, they all apply. */
    items[0] = &b.items[0];
    sync_records(f->fleet, items, 1, FLEET_APPLIED, &waiting);
    assert_int_equal(waiting, 0);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM attempts WHERE state = 'finished'"),
                     1);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM redeliveries"), 1);
    capture_free(&b);
}

static void test_records_without_blobs_apply(void **state)
{
    struct fixture *f = *state;
    struct capture b = {0};
    struct captured *items[16];
    uint64_t waiting;
    worker_b(f->b);
    read_outbox(f->b, "worker-b2", false, &b);
    for (size_t i = 0; i < b.count; i++)
        items[i] = &b.items[i];
    sync_records(f->fleet, items, b.count, -1, &waiting);
    assert_int_equal(waiting, 0);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM attempts WHERE result IS NULL"), 1);
    assert_int_equal(query_int(f->fleet, "SELECT length(raw) FROM jobs"), 0);
    capture_free(&b);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A record with one field broken as `broken` says. */
static void broken_record(msgpack_sbuffer *buf, const char *broken)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pack_str(&pk, "v");
    msgpack_pack_int(&pk, strcmp(broken, "v") == 0 ? 99 : 1);
    pack_str(&pk, "kind");
    pack_str(&pk, strcmp(broken, "kind") == 0 ? "telepathy" : "skipped");
    pack_str(&pk, "store");
    pack_str(&pk, "s1");
    pack_str(&pk, "seq");
    if (strcmp(broken, "seq") == 0)
        pack_str(&pk, "one");
    else
        msgpack_pack_int(&pk, 1);
    pack_str(&pk, "worker");
    pack_str(&pk, "w");
    pack_str(&pk, "row");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "topic");
    if (strcmp(broken, "row") == 0)
        msgpack_pack_array(&pk, 0);
    else
        pack_str(&pk, "brig.jobs");
    pack_str(&pk, strcmp(broken, "null") == 0 ? "nothing" : "kafka_partition");
    msgpack_pack_int(&pk, 1);
}

static void test_broken_records_are_refused_naming_the_field(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *broken, *why;
    } cases[] = {
        {"v", "v: version 99"},
        {"kind", "unknown kind"},
        {"seq", "seq: missing"},
        {"row", "row.topic: not a scalar"},
        {"null", "NOT NULL constraint failed"},
    };
    struct fleet_store *fs;
    char why[512];
    OK(fleet_open(f->fleet, &fs, err, sizeof err));
    assert_int_equal(fleet_add(fs, "brig.audit", 0, 0, "\xc1", 1, why, sizeof why, err, sizeof err),
                     FLEET_REFUSED);
    assert_string_equal(why, "not one msgpack value");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer buf;
        msgpack_sbuffer_init(&buf);
        broken_record(&buf, cases[i].broken);
        assert_int_equal(fleet_add(fs, "brig.audit", 0, (int64_t)i + 1, buf.data, buf.size, why,
                                   sizeof why, err, sizeof err),
                         FLEET_REFUSED);
        if (!strstr(why, cases[i].why))
            fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].broken, why, cases[i].why);
        msgpack_sbuffer_destroy(&buf);
    }
    /* Refused records leave nothing but the position behind. */
    int64_t next;
    OK(fleet_position(fs, "brig.audit", 0, &next, err, sizeof err));
    assert_int_equal(next, 6);
    OK(fleet_close(fs, err, sizeof err));
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM fleet_records"), 0);
    assert_int_equal(query_int(f->fleet, "SELECT COUNT(*) FROM skipped_offsets"), 0);
}

static void test_a_workers_store_is_not_a_fleet_store(void **state)
{
    struct fixture *f = *state;
    struct fleet_store *fs;
    worker_b(f->b);
    assert_int_equal(fleet_open(f->b, &fs, err, sizeof err), -1);
    assert_non_null(strstr(err, "a worker's own audit store"));
}

/* A store from before the outbox queues its old rows when it is opened. */
static void test_an_older_store_queues_its_rows(void **state)
{
    struct fixture *f = *state;
    struct capture before = {0}, after = {0};
    worker_b(f->b);
    read_outbox(f->b, "worker-b2", true, &before);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->b, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER outbox_message; DROP TRIGGER outbox_job;"
                                  "DROP TRIGGER outbox_attempt_begin;"
                                  "DROP TRIGGER outbox_attempt_change;"
                                  "DROP TRIGGER outbox_redelivery;"
                                  "DROP TRIGGER outbox_dead_letter;"
                                  "DROP TRIGGER outbox_connection; DROP TRIGGER outbox_skipped;"
                                  "DROP TRIGGER outbox_cancellation;"
                                  "DROP TABLE outbox; DROP TABLE store_identity;"
                                  "DROP TABLE fleet_positions; DROP TABLE fleet_records;"
                                  "DROP TABLE fleet_ids; DELETE FROM sqlite_sequence;"
                                  /* and migrations 8's and 7's */
                                  "DROP VIEW job_summary; DROP INDEX jobs_by_tenant;"
                                  "ALTER TABLE messages DROP COLUMN tenant;"
                                  "ALTER TABLE jobs DROP COLUMN tenant;"
                                  "ALTER TABLE cancellations DROP COLUMN tenant;"
                                  "CREATE VIEW job_summary AS SELECT 1;"
                                  "DROP INDEX jobs_by_session;"
                                  "PRAGMA user_version = 5;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    read_outbox(f->b, "worker-b3", true, &after);
    /* Every row once, in table order: the attempt's start and end are one
     * row now, its end. */
    assert_int_equal(after.count, before.count - 1);
    char kind[32];
    assert_string_equal(kind_of(&after.items[0], kind, sizeof kind), "message");
    assert_string_equal(kind_of(&after.items[3], kind, sizeof kind), "attempt_end");
    capture_free(&before);
    capture_free(&after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_queues_every_committed_row_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_remove_takes_a_delivered_record_off, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_sync_rebuilds_both_workers_history_from_records_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_twice_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_record_waits_for_the_one_it_refers_to, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_records_without_blobs_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_records_are_refused_naming_the_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_workers_store_is_not_a_fleet_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_older_store_queues_its_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
