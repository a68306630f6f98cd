/* What the audit store tests share: a store in a temporary directory per
 * test, and jobs and attempts written and read through it. */
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

int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    strcpy(f->dir, "/tmp/brig-test-audit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/audit.db", f->dir);
    *state = f;
    return 0;
}

int teardown(void **state)
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

void open_store(struct fixture *f)
{
    OK(f, audit_open(f->path, "worker-1", &f->store, f->err, sizeof f->err));
}

void close_store(struct fixture *f)
{
    OK(f, audit_close(f->store, f->err, sizeof f->err));
    f->store = NULL;
}

/* A second, read-only connection, as the brig audit CLI has. */
sqlite3 *open_reader(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

int64_t query_int(const char *path, const char *sql)
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
void query_text(const char *path, const char *sql, char *out, size_t outlen)
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
int64_t add_job(struct fixture *f, const char *job_id, const char *runtime, int64_t created_ms)
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

int64_t begin_attempt(struct fixture *f, const char *job_id, int64_t started_ms, int64_t *number)
{
    int64_t attempt_id, ignored;

    OK(f, audit_attempt_begin(f->store, job_id, started_ms, "python", "3.11.2", "policy-hash", NULL,
                              &attempt_id, number ? number : &ignored, f->err, sizeof f->err));
    return attempt_id;
}

void end_attempt(struct fixture *f, int64_t attempt_id, brig_status status, const char *result)
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

struct audit_job_record *show(struct fixture *f, const char *job_id)
{
    struct audit_job_record *job = NULL;
    int found = audit_show(f->path, job_id, &job, f->err, sizeof f->err);

    if (found < 0)
        fail_msg("audit_show %s: %s", job_id, f->err);
    return job;
}
