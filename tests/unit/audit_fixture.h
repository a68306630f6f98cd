/* What the audit store tests share (audit_fixture.c): a fixture with a store
 * in a temporary directory (setup / teardown, per test), the store read
 * back with SQL, and jobs and attempts written through the store's API.
 * Each helper fails the test on error. */
#ifndef BRIG_TESTS_AUDIT_FIXTURE_H
#define BRIG_TESTS_AUDIT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "worker/audit.h"

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

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int setup(void **state);
int teardown(void **state);
void open_store(struct fixture *f);
void close_store(struct fixture *f);
sqlite3 *open_reader(const char *path);
int64_t query_int(const char *path, const char *sql);
void query_text(const char *path, const char *sql, char *out, size_t outlen);
int64_t add_job(struct fixture *f, const char *job_id, const char *runtime, int64_t created_ms);
int64_t begin_attempt(struct fixture *f, const char *job_id, int64_t started_ms, int64_t *number);
void end_attempt(struct fixture *f, int64_t attempt_id, brig_status status, const char *result);
struct audit_job_record *show(struct fixture *f, const char *job_id);

#endif
