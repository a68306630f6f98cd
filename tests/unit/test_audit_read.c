/* The audit store's read side (listing and its filters, a job shown whole)
 * and the records beside jobs: dead letters, connections, image digests. */
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
        T(test_list_filters),
        T(test_show_returns_every_attempt),
        T(test_record_job_keeps_first_delivery),
        T(test_job_without_runtime_or_message),
        T(test_attempt_records_image_digest),
        T(test_dead_letters_stored),
        T(test_connections_stored),
        T(test_newer_schema_refused_untouched),
        T(test_reader_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
