/* The SQLite audit store: schema and migrations, attempts, final results,
 * batching, and the errors; test_audit_read.c has the read side. */
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
#include "tests/unit/audit_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
        T(test_bad_writes_reported_and_batch_kept),
        T(test_open_in_missing_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
