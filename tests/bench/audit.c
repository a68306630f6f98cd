/* Audit store throughput: jobs recorded per second the way the worker records
 * them (message, job, final-result lookup, attempt begin, attempt end), with
 * commits after every job, every 64 jobs, and by the store's own batch limits.
 *
 * Usage: bench_audit [jobs] [directory]   (defaults: 20000, /tmp) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker/audit.h"
#include "common/common.h"

#define JOB_BYTES 512
#define RESULT_BYTES 1024

static int record_one_job(struct audit_store *store, long n, const unsigned char *job_bytes,
                          const unsigned char *result_bytes, char *err, size_t errlen)
{
    char job_id[32];
    int64_t message_id, attempt_id, number, ts = wall_clock_ms();
    void *previous;
    size_t previous_len;

    snprintf(job_id, sizeof job_id, "bench-%ld", n);
    struct audit_message msg = {
        .topic = "brig.jobs",
        .partition = (int32_t)(n % 8),
        .offset = n,
        .key = job_id,
        .key_len = strlen(job_id),
        .received_ms = ts,
        .payload = job_bytes,
        .payload_len = JOB_BYTES,
        .job_id = job_id,
    };
    struct audit_outcome outcome = {
        .finished_ms = ts,
        .status = BRIG_STATUS_OK,
        .wall_us = 12345,
        .cpu_us = 6789,
        .peak_memory_bytes = 8 << 20,
    };
    if (audit_record_message(store, &msg, &message_id, err, errlen) < 0)
        return -1;
    if (audit_record_job(store, job_id, message_id, NULL, "python", NULL, NULL, job_bytes,
                         JOB_BYTES, err, errlen) < 0 ||
        audit_final_result(store, job_id, &previous, &previous_len, NULL, err, errlen) < 0 ||
        audit_attempt_begin(store, job_id, ts, "python", "3.11.2",
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                            NULL, &attempt_id, &number, err, errlen) < 0 ||
        audit_attempt_end(store, attempt_id, &outcome, result_bytes, RESULT_BYTES, err, errlen) < 0)
        return -1;
    free(previous);
    return 0;
}

/* flush_every: commit after that many jobs; 0 = leave it to the batch limits. */
static int run(const char *dir, long jobs, long flush_every, const unsigned char *job_bytes,
               const unsigned char *result_bytes)
{
    char path[PATH_MAX + 32], err[512];
    struct audit_store *store = NULL;
    double start, seconds;

    snprintf(path, sizeof path, "%s/bench-audit.db", dir);
    if (audit_open(path, "bench", &store, err, sizeof err) < 0)
        goto fail;
    start = monotonic_seconds();
    for (long n = 0; n < jobs; n++) {
        if (record_one_job(store, n, job_bytes, result_bytes, err, sizeof err) < 0)
            goto fail;
        if (flush_every && (n + 1) % flush_every == 0 && audit_flush(store, err, sizeof err) < 0)
            goto fail;
    }
    if (audit_flush(store, err, sizeof err) < 0)
        goto fail;
    seconds = monotonic_seconds() - start;
    if (flush_every)
        printf("audit: %ld jobs, commit every %ld job(s): %.0f jobs/s\n", jobs, flush_every,
               (double)jobs / seconds);
    else
        printf("audit: %ld jobs, commit by batch limits (%d writes / %d ms): %.0f jobs/s\n", jobs,
               AUDIT_BATCH_STATEMENTS, AUDIT_BATCH_MS, (double)jobs / seconds);
    if (audit_close(store, err, sizeof err) < 0) {
        store = NULL;
        goto fail;
    }
    /* Closing removes the -wal and -shm files; what is left must go too. */
    if (unlink(path) < 0) {
        fprintf(stderr, "bench_audit: removing %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
fail:
    fprintf(stderr, "bench_audit: %s\n", err);
    audit_close(store, err, sizeof err);
    return -1;
}

int main(int argc, char **argv)
{
    long jobs = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    const char *parent = argc > 2 ? argv[2] : "/tmp";
    static const long flush_every[] = {1, 64, 0};
    unsigned char job_bytes[JOB_BYTES], result_bytes[RESULT_BYTES];
    char dir[PATH_MAX];
    int rc = 0;

    if (jobs <= 0) {
        fprintf(stderr, "usage: bench_audit [jobs] [directory]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof job_bytes; i++)
        job_bytes[i] = (unsigned char)(i * 7);
    for (size_t i = 0; i < sizeof result_bytes; i++)
        result_bytes[i] = (unsigned char)(i * 13);
    if ((size_t)snprintf(dir, sizeof dir, "%s/brig-bench-audit-XXXXXX", parent) >= sizeof dir) {
        fprintf(stderr, "bench_audit: directory name too long: %s\n", parent);
        return 2;
    }
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench_audit: creating a directory in %s: %s\n", parent, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(flush_every); i++) {
        if (run(dir, jobs, flush_every[i], job_bytes, result_bytes) < 0)
            rc = 1;
    }
    if (rmdir(dir) < 0)
        fprintf(stderr, "bench_audit: removing %s: %s\n", dir, strerror(errno));
    return rc;
}
