/* The SQLite audit store: schema and migrations, batching, attempts, final
 * results, the read side and its filters, and the errors. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "worker/audit.h"
#include "worker/audit_schema.h"
#include "common/common.h"

struct fixture {
    char dir[64];
    char path[96];
    char err[512];
    struct audit_store *store;
};

/* Fails the test with the store's error sentence when call does not return 0. */
#define OK(f, call)                                                                                \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_msg("%s: %s", #call, (f)->err);                                                   \
    } while (0)

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    strcpy(f->dir, "/tmp/brig-test-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/audit.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *dir;
    struct dirent *entry;

    audit_close(f->store, f->err, sizeof f->err);
    dir = opendir(f->dir);
    assert_non_null(dir);
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            assert_int_equal(unlinkat(dirfd(dir), entry->d_name, 0), 0);
    }
    closedir(dir);
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

static void open_store(struct fixture *f)
{
    OK(f, audit_open(f->path, "worker-1", &f->store, f->err, sizeof f->err));
}

static void close_store(struct fixture *f)
{
    OK(f, audit_close(f->store, f->err, sizeof f->err));
    f->store = NULL;
}

/* A second, read-only connection, as the brig audit CLI has. */
static sqlite3 *open_reader(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = open_reader(path);
    sqlite3_stmt *stmt;
    int64_t value;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
}

/* The text of the first column of the first row, copied into out. */
static void query_text(const char *path, const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = open_reader(path);
    sqlite3_stmt *stmt;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(out, outlen, "%s",
             sqlite3_column_type(stmt, 0) == SQLITE_NULL
                 ? "(null)"
                 : (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

/* Records a message carrying job_id, received at created_ms, and the job
 * itself, which takes that time as its own. */
static int64_t add_job(struct fixture *f, const char *job_id, const char *runtime,
                       int64_t created_ms)
{
    char raw[64];
    int64_t message_id;

    snprintf(raw, sizeof raw, "job %s", job_id);
    struct audit_message msg = {
        .topic = "brig.jobs",
        .partition = 1,
        .offset = created_ms,
        .key = job_id,
        .key_len = strlen(job_id),
        .received_ms = created_ms,
        .payload = raw,
        .payload_len = strlen(raw),
        .job_id = job_id,
    };
    OK(f, audit_record_message(f->store, &msg, &message_id, f->err, sizeof f->err));
    OK(f, audit_record_job(f->store, job_id, message_id, NULL, runtime, NULL, NULL, raw,
                           strlen(raw), f->err, sizeof f->err));
    return message_id;
}

static int64_t begin_attempt(struct fixture *f, const char *job_id, int64_t started_ms,
                             int64_t *number)
{
    int64_t attempt_id, ignored;

    OK(f, audit_attempt_begin(f->store, job_id, started_ms, "python", "3.11.2", "policy-hash", NULL,
                              &attempt_id, number ? number : &ignored, f->err, sizeof f->err));
    return attempt_id;
}

static void end_attempt(struct fixture *f, int64_t attempt_id, brig_status status,
                        const char *result)
{
    struct audit_outcome outcome = {
        .finished_ms = 5000,
        .status = status,
        .exit_code = status == BRIG_STATUS_OK ? 0 : 1,
        .wall_us = 1500,
        .cpu_us = 900,
        .peak_memory_bytes = 1 << 20,
    };
    OK(f, audit_attempt_end(f->store, attempt_id, &outcome, result, strlen(result), f->err,
                            sizeof f->err));
}

static struct audit_job_record *show(struct fixture *f, const char *job_id)
{
    struct audit_job_record *job = NULL;
    int found = audit_show(f->path, job_id, &job, f->err, sizeof f->err);

    if (found < 0)
        fail_msg("audit_show %s: %s", job_id, f->err);
    return job;
}

static void test_open_creates_and_migrates(void **state)
{
    struct fixture *f = *state;
    char wal_path[128];
    char mode[16];
    struct stat st;

    open_store(f);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), audit_schema_version());
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name IN"
                                        " ('messages', 'jobs', 'attempts', 'dead_letters',"
                                        " 'connections', 'job_summary')"),
                     6);
    query_text(f->path, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(wal_path, sizeof wal_path, "%s-wal", f->path);
    assert_int_equal(stat(wal_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(audit_abandoned_count(f->store), 0);
}

static void test_reopen_keeps_schema_and_data(void **state)
{
    struct fixture *f = *state;

    open_store(f);
    add_job(f, "job-1", "python", 1000);
    close_store(f);
    /* Migration 1 creates tables without IF NOT EXISTS: running it again
     * would fail the open. */
    open_store(f);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), audit_schema_version());
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 1);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM messages"), 1);
}

static void test_second_writer_refused(void **state)
{
    struct fixture *f = *state;
    struct audit_store *second = NULL;

    open_store(f);
    assert_int_equal(audit_open(f->path, "worker-2", &second, f->err, sizeof f->err), -1);
    assert_null(second);
    assert_non_null(strstr(f->err, "another process has it open for writing"));
}

/* A worker that dies mid-attempt: its attempt is marked abandoned by the next
 * process to open the store; finished attempts are left alone. */
static void test_abandoned_attempts_marked_on_open(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct audit_store *store;
        struct audit_outcome outcome = {.finished_ms = 2, .status = BRIG_STATUS_OK};
        int64_t attempt_id, number;
        char err[512];

        if (audit_open(f->path, "worker-1", &store, err, sizeof err) < 0 ||
            audit_record_job(store, "job-a", 0, NULL, "python", NULL, NULL, "x", 1, err,
                             sizeof err) < 0 ||
            audit_attempt_begin(store, "job-a", 1, "python", NULL, NULL, NULL, &attempt_id, &number,
                                err, sizeof err) < 0 ||
            audit_attempt_end(store, attempt_id, &outcome, "r", 1, err, sizeof err) < 0 ||
            audit_attempt_begin(store, "job-a", 3, "python", NULL, NULL, NULL, &attempt_id, &number,
                                err, sizeof err) < 0 ||
            audit_flush(store, err, sizeof err) < 0) {
            fprintf(stderr, "child: %s\n", err);
            _exit(1);
        }
        _exit(0); /* a crash: no audit_close */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    open_store(f);
    assert_int_equal(audit_abandoned_count(f->store), 1);
    job = show(f, "job-a");
    assert_non_null(job);
    assert_int_equal(job->n_attempts, 2);
    assert_string_equal(job->attempts[0].state, "finished");
    assert_string_equal(job->attempts[1].state, "abandoned");
    assert_non_null(job->attempts[1].error);
    audit_job_record_free(job);

    close_store(f);
    open_store(f);
    assert_int_equal(audit_abandoned_count(f->store), 0);
}

static void test_attempt_numbering(void **state)
{
    struct fixture *f = *state;
    int64_t number, first_id, second_id;

    open_store(f);
    add_job(f, "job-a", "python", 1000);
    add_job(f, "job-b", "python", 1001);
    first_id = begin_attempt(f, "job-a", 1, &number);
    assert_int_equal(number, 1);
    end_attempt(f, first_id, BRIG_STATUS_INTERNAL_ERROR, "e");
    second_id = begin_attempt(f, "job-a", 2, &number);
    assert_int_equal(number, 2);
    assert_true(second_id != first_id);
    begin_attempt(f, "job-b", 3, &number);
    assert_int_equal(number, 1);
    begin_attempt(f, "job-a", 4, &number);
    assert_int_equal(number, 3);
}

static void test_final_result_is_latest_finished(void **state)
{
    struct fixture *f = *state;
    void *result;
    size_t len;
    int64_t ok_id, found_id = 0;

    open_store(f);
    add_job(f, "job-a", "python", 1000);
    assert_int_equal(
        audit_final_result(f->store, "job-a", &result, &len, NULL, f->err, sizeof f->err), 0);
    assert_null(result);
    assert_int_equal(
        audit_final_result(f->store, "no-such-job", &result, &len, NULL, f->err, sizeof f->err), 0);

    /* Still running: not a final result. */
    int64_t first_id = begin_attempt(f, "job-a", 1, NULL);
    assert_int_equal(
        audit_final_result(f->store, "job-a", &result, &len, NULL, f->err, sizeof f->err), 0);
    end_attempt(f, first_id, BRIG_STATUS_FAILED, "failed-result");
    ok_id = begin_attempt(f, "job-a", 2, NULL);
    end_attempt(f, ok_id, BRIG_STATUS_OK, "ok-result");
    begin_attempt(f, "job-a", 3, NULL);

    assert_int_equal(
        audit_final_result(f->store, "job-a", &result, &len, &found_id, f->err, sizeof f->err), 1);
    assert_int_equal(found_id, ok_id);
    assert_int_equal(len, strlen("ok-result"));
    assert_memory_equal(result, "ok-result", len);
    free(result);
}

static void test_redelivery_refers_to_answering_attempt(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;

    open_store(f);
    add_job(f, "job-a", "python", 1000);
    assert_int_equal(audit_record_redelivery(f->store, "job-a", 0, 0, 10, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "answered_with"));

    int64_t finished_id = begin_attempt(f, "job-a", 1, NULL);
    end_attempt(f, finished_id, BRIG_STATUS_OK, "ok-result");
    OK(f, audit_record_redelivery(f->store, "job-a", 0, finished_id, 10, f->err, sizeof f->err));
    OK(f, audit_record_redelivery(f->store, "job-a", 0, finished_id, 11, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));

    /* Redeliveries are not runs: the next attempt is number 2. */
    assert_int_equal(begin_attempt(f, "job-a", 20, NULL) > 0, 1);
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    job = show(f, "job-a");
    assert_non_null(job);
    assert_int_equal(job->n_attempts, 2);
    assert_int_equal(job->attempts[1].number, 2);
    assert_int_equal(job->n_redeliveries, 2);
    assert_int_equal(job->redeliveries[0].answered_with, finished_id);
    assert_int_equal(job->redeliveries[0].ts_ms, 10);
    assert_int_equal(job->redeliveries[0].message_id, -1);
    assert_string_equal(job->redeliveries[0].worker_id, "worker-1");
    assert_int_equal(job->redeliveries[1].ts_ms, 11);
    audit_job_record_free(job);
}

static void test_skipped_offsets_stored(void **state)
{
    struct fixture *f = *state;

    open_store(f);
    assert_int_equal(
        audit_record_skipped(f->store, "brig.jobs", 3, 9, 5, 100, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "last_offset"));
    OK(f, audit_record_skipped(f->store, "brig.jobs", 3, 5, 9, 100, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT last_offset - first_offset + 1 FROM "
                                        "skipped_offsets WHERE topic = 'brig.jobs' AND "
                                        "kafka_partition = 3 AND worker_id = 'worker-1'"),
                     5);
}

/* A store written by the schema before migration 3, where an answer from the
 * store was an attempt in state 'replayed', keeps every run and moves those
 * answers to redeliveries. */
static void test_migration_moves_replayed_attempts(void **state)
{
    struct fixture *f = *state;
    static const char v2[] =
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, kafka_partition "
        "INTEGER NOT NULL, kafka_offset INTEGER NOT NULL, key BLOB, received_ms INTEGER NOT NULL,"
        " size INTEGER NOT NULL, sha256 TEXT NOT NULL, raw BLOB NOT NULL, job_id TEXT);"
        "CREATE INDEX messages_by_position ON messages (topic, kafka_partition, kafka_offset);"
        "CREATE INDEX messages_by_job ON messages (job_id);"
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, message_id INTEGER REFERENCES messages (id),"
        " runtime TEXT, session TEXT, replay_of TEXT, raw BLOB NOT NULL, created_ms INTEGER NOT "
        "NULL);"
        "CREATE INDEX jobs_by_created ON jobs (created_ms);"
        "CREATE INDEX jobs_by_message ON jobs (message_id);"
        "CREATE TABLE attempts (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs "
        "(job_id), attempt INTEGER NOT NULL, worker_id TEXT NOT NULL, state TEXT NOT NULL CHECK "
        "(state IN ('running', 'finished', 'abandoned', 'replayed')), started_ms INTEGER NOT "
        "NULL, finished_ms INTEGER, status TEXT, exit_code INTEGER, signal INTEGER, wall_us "
        "INTEGER, cpu_us INTEGER, peak_memory_bytes INTEGER, runtime_name TEXT, runtime_version "
        "TEXT, policy_hash TEXT, kernel TEXT NOT NULL, result BLOB, error TEXT, replayed_from "
        "INTEGER REFERENCES attempts (id), UNIQUE (job_id, attempt));"
        "CREATE INDEX attempts_running ON attempts (state) WHERE state = 'running';"
        "CREATE INDEX attempts_by_replayed_from ON attempts (replayed_from);"
        "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL "
        "REFERENCES messages (id), reason TEXT NOT NULL, field TEXT, ts_ms INTEGER NOT NULL);"
        "CREATE TABLE connections (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs "
        "(job_id), host TEXT NOT NULL, port INTEGER NOT NULL, allowed INTEGER NOT NULL, reason "
        "TEXT, ts_ms INTEGER NOT NULL);"
        "CREATE VIEW job_summary AS SELECT j.job_id FROM jobs j;"
        "ALTER TABLE attempts ADD COLUMN state_before TEXT;"
        "ALTER TABLE attempts ADD COLUMN state_after TEXT;"
        "INSERT INTO jobs VALUES ('job-a', NULL, 'python', NULL, NULL, x'80', 1);"
        "INSERT INTO attempts (id, job_id, attempt, worker_id, state, started_ms, status, kernel,"
        " result) VALUES (7, 'job-a', 1, 'w', 'finished', 2, 'ok', 'k', x'81');"
        "INSERT INTO attempts (id, job_id, attempt, worker_id, state, started_ms, status, kernel,"
        " replayed_from) VALUES (8, 'job-a', 2, 'w', 'replayed', 3, 'ok', 'k', 7);"
        "PRAGMA user_version = 2;";
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v2, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    open_store(f);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), audit_schema_version());
    struct audit_job_record *job = show(f, "job-a");
    assert_int_equal(job->n_attempts, 1);
    assert_int_equal(job->attempts[0].id, 7);
    assert_int_equal(job->n_redeliveries, 1);
    assert_int_equal(job->redeliveries[0].answered_with, 7);
    assert_int_equal(job->redeliveries[0].ts_ms, 3);
    /* Migration 4: runs from before images ran on the host's tree. */
    assert_null(job->attempts[0].image_digest);
    audit_job_record_free(job);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = "
                                        "'attempts_v2'"),
                     0);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
}

static void test_message_fields_and_sha256(void **state)
{
    struct fixture *f = *state;
    struct audit_message msg = {
        .topic = "brig.jobs",
        .partition = 3,
        .offset = 42,
        .received_ms = 1700000000123,
        .payload = "abc",
        .payload_len = 3,
    };
    char text[128];
    int64_t message_id;

    open_store(f);
    OK(f, audit_record_message(f->store, &msg, &message_id, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    query_text(f->path, "SELECT sha256 FROM messages", text, sizeof text);
    assert_string_equal(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    query_text(f->path, "SELECT raw FROM messages", text, sizeof text);
    assert_string_equal(text, "abc");
    query_text(f->path,
               "SELECT topic || ' ' || kafka_partition || ' ' || kafka_offset || ' ' ||"
               " received_ms || ' ' || size || ' ' || typeof(key) || ' ' || typeof(job_id)"
               " FROM messages",
               text, sizeof text);
    assert_string_equal(text, "brig.jobs 3 42 1700000000123 3 null null");

    /* An empty message is stored, as an empty BLOB. */
    msg.payload = NULL;
    msg.payload_len = 0;
    OK(f, audit_record_message(f->store, &msg, &message_id, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    query_text(f->path,
               "SELECT typeof(raw) || ' ' || length(raw) || ' ' || sha256 FROM messages"
               " ORDER BY id DESC LIMIT 1",
               text, sizeof text);
    assert_string_equal(text,
                        "blob 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_batch_visible_only_after_flush(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;

    open_store(f);
    audit_set_batch_limits(f->store, 1000000, 3600 * 1000);
    add_job(f, "job-a", "python", 1000);
    int64_t attempt_id = begin_attempt(f, "job-a", 1, NULL);
    end_attempt(f, attempt_id, BRIG_STATUS_OK, "ok-result");

    assert_null(show(f, "job-a"));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM messages"), 0);
    OK(f, audit_tick(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM messages"), 0);

    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    job = show(f, "job-a");
    assert_non_null(job);
    assert_int_equal(job->n_attempts, 1);
    audit_job_record_free(job);
}

static void test_batch_commits_when_full(void **state)
{
    struct fixture *f = *state;

    open_store(f);
    audit_set_batch_limits(f->store, 4, 3600 * 1000);
    add_job(f, "job-a", "python", 1000); /* 2 writes */
    begin_attempt(f, "job-a", 1, NULL);  /* 3 */
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 0);
    begin_attempt(f, "job-a", 2, NULL); /* 4: the batch is full */
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM attempts"), 2);
}

/* The limit is far above the time between a write and the check after it,
 * even on a loaded machine, and each pause is longer than it. */
static void test_batch_commits_when_old(void **state)
{
    struct fixture *f = *state;
    struct timespec pause = {.tv_nsec = 600 * 1000 * 1000};

    open_store(f);
    audit_set_batch_limits(f->store, 1000000, 500);
    add_job(f, "job-a", "python", 1000);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 0);
    nanosleep(&pause, NULL);
    /* The age is checked on writes and ticks, never behind the owner's back. */
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 0);
    /* Its message is the first write past the limit: it commits the batch
     * with itself in it; the job record starts the next batch. */
    add_job(f, "job-b", "python", 1001);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM messages"), 2);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 1);

    OK(f, audit_tick(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 1);
    nanosleep(&pause, NULL);
    OK(f, audit_tick(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 2);
}

struct listing {
    char ids[8][32];
    int n;
    int stop_after; /* 0 = never */
    struct audit_list_row last;
};

static int collect(void *ctx, const struct audit_list_row *row)
{
    struct listing *l = ctx;

    assert_true(l->n < 8);
    snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", row->job_id);
    if (strcmp(row->job_id, "job-3") == 0) {
        assert_int_equal(row->attempts, 2);
        assert_string_equal(row->state, "finished");
        assert_string_equal(row->status, "ok");
        assert_int_equal(row->exit_code, 0);
        assert_int_equal(row->wall_us, 1500);
        assert_string_equal(row->worker_id, "worker-1");
    }
    if (strcmp(row->job_id, "job-4") == 0) {
        assert_int_equal(row->attempts, 1);
        assert_string_equal(row->state, "running");
        assert_null(row->status);
        assert_int_equal(row->exit_code, -1);
        assert_int_equal(row->wall_us, -1);
    }
    return l->stop_after && l->n >= l->stop_after;
}

/* Lists with filter and checks the job ids, newest first, against expected
 * (a space-separated list). */
static void expect_listing(struct fixture *f, const struct audit_filter *filter,
                           const char *expected, int stop_after)
{
    struct listing l = {.stop_after = stop_after};
    char got[256] = "";

    OK(f, audit_list(f->path, filter, collect, &l, f->err, sizeof f->err));
    for (int i = 0; i < l.n; i++) {
        strcat(got, i ? " " : "");
        strcat(got, l.ids[i]);
    }
    assert_string_equal(got, expected);
}

static void test_list_filters(void **state)
{
    struct fixture *f = *state;
    int64_t id;

    open_store(f);
    add_job(f, "job-1", "python", 1000);
    end_attempt(f, begin_attempt(f, "job-1", 1000, NULL), BRIG_STATUS_OK, "r");
    add_job(f, "job-2", "node", 2000);
    end_attempt(f, begin_attempt(f, "job-2", 2000, NULL), BRIG_STATUS_FAILED, "r");
    add_job(f, "job-3", "python", 3000);
    end_attempt(f, begin_attempt(f, "job-3", 3000, NULL), BRIG_STATUS_FAILED, "r");
    id = begin_attempt(f, "job-3", 3001, NULL);
    end_attempt(f, id, BRIG_STATUS_OK, "r");
    add_job(f, "job-4", "python", 4000);
    begin_attempt(f, "job-4", 4000, NULL);
    add_job(f, "job-5", "bash", 5000); /* never attempted */
    OK(f, audit_flush(f->store, f->err, sizeof f->err));

    expect_listing(f, NULL, "job-5 job-4 job-3 job-2 job-1", 0);
    expect_listing(f, &(struct audit_filter){.since_ms = 2000}, "job-5 job-4 job-3 job-2", 0);
    /* A job's status is its latest attempt's: job-3 failed once, then passed. */
    expect_listing(f, &(struct audit_filter){.status = "ok"}, "job-3 job-1", 0);
    expect_listing(f, &(struct audit_filter){.status = "failed"}, "job-2", 0);
    expect_listing(f, &(struct audit_filter){.status = "timeout"}, "", 0);
    expect_listing(f, &(struct audit_filter){.runtime = "node"}, "job-2", 0);
    expect_listing(f, &(struct audit_filter){.limit = 2}, "job-5 job-4", 0);
    expect_listing(f, &(struct audit_filter){.since_ms = 1001, .status = "ok", .runtime = "python"},
                   "job-3", 0);
    expect_listing(f, NULL, "job-5 job-4", 2);

    struct listing l = {0};
    assert_int_equal(audit_list(f->path, &(struct audit_filter){.status = "fine"}, collect, &l,
                                f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "status"));
    assert_non_null(strstr(f->err, "fine"));
}

static void test_show_returns_every_attempt(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;
    struct utsname uts;
    const char raw[] = "\x82\xa2id\xa5job-a";
    struct audit_message msg = {
        .topic = "brig.jobs",
        .partition = 2,
        .offset = 77,
        .received_ms = 999,
        .payload = raw,
        .payload_len = sizeof raw - 1,
        .job_id = "job-a",
    };
    int64_t message_id, first_id, second_id, number;

    open_store(f);
    OK(f, audit_record_message(f->store, &msg, &message_id, f->err, sizeof f->err));
    OK(f, audit_record_job(f->store, "job-a", message_id, NULL, "python", "session-9", "job-0", raw,
                           sizeof raw - 1, f->err, sizeof f->err));
    OK(f, audit_attempt_begin(f->store, "job-a", 1100, "python", "3.11.2", "abcd", NULL, &first_id,
                              &number, f->err, sizeof f->err));
    struct audit_outcome killed = {
        .finished_ms = 1200,
        .status = BRIG_STATUS_SETUP_ERROR,
        .exit_code = -1,
        .signal = 9,
        .wall_us = 11,
        .cpu_us = 12,
        .peak_memory_bytes = 13,
        .error = "mounting /work: No space left on device",
    };
    OK(f, audit_attempt_end(f->store, first_id, &killed, NULL, 0, f->err, sizeof f->err));
    OK(f, audit_attempt_begin(f->store, "job-a", 1300, "python", NULL, NULL, NULL, &second_id,
                              &number, f->err, sizeof f->err));
    struct audit_outcome ok = {
        .finished_ms = 1400,
        .status = BRIG_STATUS_OK,
        .exit_code = 0,
        .wall_us = 21,
        .cpu_us = 22,
        .peak_memory_bytes = 23,
        .runtime_version = "3.11.4",
    };
    OK(f, audit_attempt_end(f->store, second_id, &ok, "\x81\xa2ok\xc3", 5, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));

    assert_null(show(f, "job-b"));
    job = show(f, "job-a");
    assert_non_null(job);
    assert_string_equal(job->job_id, "job-a");
    assert_string_equal(job->runtime, "python");
    assert_string_equal(job->session, "session-9");
    assert_string_equal(job->replay_of, "job-0");
    assert_int_equal(job->created_ms, 999);
    assert_int_equal(job->raw_len, sizeof raw - 1);
    assert_memory_equal(job->raw, raw, sizeof raw - 1);
    assert_int_equal(job->message_id, message_id);
    assert_string_equal(job->topic, "brig.jobs");
    assert_int_equal(job->partition, 2);
    assert_int_equal(job->offset, 77);
    assert_int_equal(job->received_ms, 999);
    assert_int_equal(job->n_attempts, 2);

    struct audit_attempt_record *a = &job->attempts[0];
    assert_int_equal(uname(&uts), 0);
    assert_int_equal(a->id, first_id);
    assert_int_equal(a->number, 1);
    assert_string_equal(a->worker_id, "worker-1");
    assert_string_equal(a->state, "finished");
    assert_int_equal(a->started_ms, 1100);
    assert_int_equal(a->finished_ms, 1200);
    assert_string_equal(a->status, "setup_error");
    assert_int_equal(a->exit_code, -1);
    assert_int_equal(a->signal, 9);
    assert_int_equal(a->wall_us, 11);
    assert_int_equal(a->cpu_us, 12);
    assert_int_equal(a->peak_memory_bytes, 13);
    assert_string_equal(a->runtime_name, "python");
    assert_string_equal(a->runtime_version, "3.11.2");
    assert_string_equal(a->policy_hash, "abcd");
    assert_non_null(a->kernel);
    assert_int_equal(strncmp(a->kernel, uts.release, strlen(uts.release)), 0);
    assert_non_null(strstr(a->kernel, uts.version));
    assert_string_equal(a->error, "mounting /work: No space left on device");
    assert_null(a->result);

    a = &job->attempts[1];
    assert_int_equal(a->id, second_id);
    assert_int_equal(a->number, 2);
    assert_string_equal(a->status, "ok");
    assert_int_equal(a->exit_code, 0);
    assert_int_equal(a->signal, 0);
    assert_int_equal(a->wall_us, 21);
    assert_string_equal(a->runtime_version, "3.11.4");
    assert_null(a->policy_hash);
    assert_null(a->error);
    assert_int_equal(a->result_len, 5);
    assert_memory_equal(a->result, "\x81\xa2ok\xc3", 5);
    audit_job_record_free(job);
}

static void test_record_job_keeps_first_delivery(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;

    open_store(f);
    add_job(f, "job-a", "python", 1000);
    add_job(f, "job-a", "node", 2000);
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM messages"), 2);
    job = show(f, "job-a");
    assert_non_null(job);
    assert_string_equal(job->runtime, "python");
    assert_int_equal(job->created_ms, 1000);
    audit_job_record_free(job);
}

/* An argv job has no runtime; a job that came without a message is dated
 * when it is recorded. */
static void test_job_without_runtime_or_message(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;
    int64_t attempt_id, number, before = wall_clock_ms();

    open_store(f);
    OK(f, audit_record_job(f->store, "job-argv", 0, NULL, NULL, NULL, NULL, "x", 1, f->err,
                           sizeof f->err));
    OK(f, audit_attempt_begin(f->store, "job-argv", 5, NULL, NULL, NULL, NULL, &attempt_id, &number,
                              f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    job = show(f, "job-argv");
    assert_non_null(job);
    assert_null(job->runtime);
    assert_in_range(job->created_ms, before, wall_clock_ms());
    assert_int_equal(job->message_id, -1);
    assert_null(job->topic);
    assert_int_equal(job->n_attempts, 1);
    assert_null(job->attempts[0].runtime_name);
    audit_job_record_free(job);
}

/* A runtime with a root image: its digest goes with the attempt, next to
 * the policy hash; a job on the host's tree has none. */
static void test_attempt_records_image_digest(void **state)
{
    struct fixture *f = *state;
    static const char digest[] =
        "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    int64_t attempt_id, number;

    open_store(f);
    add_job(f, "job-image", "debian", 1000);
    add_job(f, "job-host", "python", 1000);
    OK(f, audit_attempt_begin(f->store, "job-image", 1100, "debian", NULL, "image-policy", digest,
                              &attempt_id, &number, f->err, sizeof f->err));
    OK(f, audit_attempt_begin(f->store, "job-host", 1100, "python", NULL, "host-policy", NULL,
                              &attempt_id, &number, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    struct audit_job_record *job = show(f, "job-image");
    assert_string_equal(job->attempts[0].image_digest, digest);
    assert_string_equal(job->attempts[0].policy_hash, "image-policy");
    audit_job_record_free(job);
    job = show(f, "job-host");
    assert_null(job->attempts[0].image_digest);
    audit_job_record_free(job);
}

static void test_dead_letters_stored(void **state)
{
    struct fixture *f = *state;
    struct audit_message msg = {
        .topic = "brig.jobs", .partition = 0, .offset = 5, .payload = "\xc1", .payload_len = 1};
    char text[256];
    int64_t message_id;

    open_store(f);
    OK(f, audit_record_message(f->store, &msg, &message_id, f->err, sizeof f->err));
    int64_t before = wall_clock_ms();
    OK(f,
       audit_record_dead_letter(f->store, message_id, "not msgpack", NULL, f->err, sizeof f->err));
    OK(f,
       audit_record_dead_letter(f->store, message_id, "too long", "code", f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    int64_t after = wall_clock_ms();
    query_text(f->path,
               "SELECT group_concat(message_id || '|' || reason || '|' || ifnull(field, '-'), ';')"
               " FROM (SELECT * FROM dead_letters ORDER BY id)",
               text, sizeof text);
    char expected[256];
    snprintf(expected, sizeof expected, "%lld|not msgpack|-;%lld|too long|code",
             (long long)message_id, (long long)message_id);
    assert_string_equal(text, expected);
    assert_in_range(query_int(f->path, "SELECT MIN(ts_ms) FROM dead_letters"), before, after);
    assert_in_range(query_int(f->path, "SELECT MAX(ts_ms) FROM dead_letters"), before, after);

    assert_int_equal(audit_record_dead_letter(f->store, 12345, "x", NULL, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "FOREIGN KEY"));
}

static void test_connections_stored(void **state)
{
    struct fixture *f = *state;
    char text[256];

    open_store(f);
    add_job(f, "job-a", "python", 1000);
    struct audit_connection conn = {
        .job_id = "job-a", .host = "pypi.org", .port = 443, .allowed = true, .ts_ms = 7};
    OK(f, audit_record_connection(f->store, &conn, f->err, sizeof f->err));
    conn.host = "10.0.0.1";
    conn.port = 22;
    conn.allowed = false;
    conn.reason = "private address";
    OK(f, audit_record_connection(f->store, &conn, f->err, sizeof f->err));
    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    query_text(f->path,
               "SELECT group_concat(job_id || ' ' || host || ':' || port || ' ' || allowed || ' '"
               " || ifnull(reason, '-'), ';') FROM (SELECT * FROM connections ORDER BY id)",
               text, sizeof text);
    assert_string_equal(text, "job-a pypi.org:443 1 -;job-a 10.0.0.1:22 0 private address");

    conn.job_id = "no-such-job";
    assert_int_equal(audit_record_connection(f->store, &conn, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "FOREIGN KEY"));
}

/* Refused writes name the field or the reason and leave the open batch, with
 * the writes before them, intact. */
static void test_bad_writes_reported_and_batch_kept(void **state)
{
    struct fixture *f = *state;
    int64_t attempt_id, number;

    open_store(f);
    audit_set_batch_limits(f->store, 1000000, 3600 * 1000);
    add_job(f, "job-a", "python", 1000);

    assert_int_equal(audit_record_job(f->store, "job-b", 0, NULL, "python", NULL, NULL, NULL, 0,
                                      f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "raw: missing"));
    assert_int_equal(audit_record_job(f->store, "", 0, NULL, "python", NULL, NULL, "x", 1, f->err,
                                      sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "job_id: missing"));

    struct audit_message no_topic = {.payload = "x", .payload_len = 1};
    assert_int_equal(audit_record_message(f->store, &no_topic, &attempt_id, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "message.topic: missing"));

    assert_int_equal(audit_attempt_begin(f->store, "job-unknown", 1, "python", NULL, NULL, NULL,
                                         &attempt_id, &number, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "job-unknown"));
    assert_non_null(strstr(f->err, "FOREIGN KEY"));

    struct audit_outcome bad_status = {.status = BRIG_STATUS_COUNT};
    attempt_id = begin_attempt(f, "job-a", 1, NULL);
    assert_int_equal(
        audit_attempt_end(f->store, attempt_id, &bad_status, NULL, 0, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "outcome.status"));

    struct audit_outcome ok = {.status = BRIG_STATUS_OK, .exit_code = 0};
    assert_int_equal(
        audit_attempt_end(f->store, attempt_id + 100, &ok, NULL, 0, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "no such attempt is running"));
    OK(f, audit_attempt_end(f->store, attempt_id, &ok, NULL, 0, f->err, sizeof f->err));
    assert_int_equal(audit_attempt_end(f->store, attempt_id, &ok, NULL, 0, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "no such attempt is running"));

    OK(f, audit_flush(f->store, f->err, sizeof f->err));
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM jobs"), 1);
    assert_int_equal(query_int(f->path, "SELECT COUNT(*) FROM attempts WHERE state = 'finished'"),
                     1);
}

static void test_open_in_missing_directory(void **state)
{
    struct fixture *f = *state;
    char path[160];

    snprintf(path, sizeof path, "%s/no-such-dir/audit.db", f->dir);
    assert_int_equal(audit_open(path, "worker-1", &f->store, f->err, sizeof f->err), -1);
    assert_null(f->store);
    assert_non_null(strstr(f->err, path));
    assert_non_null(strstr(f->err, "No such file or directory"));
    assert_non_null(strstr(f->err, "directory must exist"));
}

static void test_newer_schema_refused_untouched(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    char sql[64];
    char mode[16];
    int newer = audit_schema_version() + 1;
    struct listing l = {0};

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", newer);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(audit_open(f->path, "worker-1", &f->store, f->err, sizeof f->err), -1);
    assert_null(f->store);
    assert_non_null(strstr(f->err, "newer"));
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), newer);
    query_text(f->path, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "delete");

    assert_int_equal(audit_list(f->path, NULL, collect, &l, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "newer"));
}

static void test_reader_errors(void **state)
{
    struct fixture *f = *state;
    struct audit_job_record *job;
    struct listing l = {0};
    sqlite3 *db;

    assert_int_equal(audit_list(f->path, NULL, collect, &l, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "opening read-only"));
    assert_int_equal(audit_show(f->path, "job-a", &job, f->err, sizeof f->err), -1);
    assert_null(job);

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE other (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(audit_list(f->path, NULL, collect, &l, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "not a brig audit store"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_open_creates_and_migrates),
        T(test_reopen_keeps_schema_and_data),
        T(test_second_writer_refused),
        T(test_abandoned_attempts_marked_on_open),
        T(test_attempt_numbering),
        T(test_final_result_is_latest_finished),
        T(test_redelivery_refers_to_answering_attempt),
        T(test_skipped_offsets_stored),
        T(test_migration_moves_replayed_attempts),
        T(test_message_fields_and_sha256),
        T(test_batch_visible_only_after_flush),
        T(test_batch_commits_when_full),
        T(test_batch_commits_when_old),
        T(test_list_filters),
        T(test_show_returns_every_attempt),
        T(test_record_job_keeps_first_delivery),
        T(test_job_without_runtime_or_message),
        T(test_attempt_records_image_digest),
        T(test_dead_letters_stored),
        T(test_connections_stored),
        T(test_bad_writes_reported_and_batch_kept),
        T(test_open_in_missing_directory),
        T(test_newer_schema_refused_untouched),
        T(test_reader_errors),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
