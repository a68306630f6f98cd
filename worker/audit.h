/* The audit store: an SQLite database, one per worker process, that records
 * every consumed Kafka message, every job, every attempt at running it and its
 * result, so that any past run can be inspected (brig audit ls / show) and
 * replayed (brig replay). The schema is documented in worker/AUDIT.md.
 *
 * The store takes plain fields and the raw msgpack bytes of jobs and results,
 * never the wire-format structs, so that it does not change when they do.
 *
 * Not thread-safe, by design: the worker's main loop thread owns the store and
 * is the only one to call the write side. The read side (audit_list,
 * audit_show) opens its own read-only connection and may run in another
 * process while a worker writes.
 *
 * Writes go into an open transaction (a batch) that is committed by
 * audit_flush(), by audit_tick() once the batch is older than its time limit,
 * or by the write that fills it. Until then they are invisible to readers and
 * lost if the process dies, so the worker flushes before it stores Kafka
 * offsets: an offset moves only past records that are committed.
 *
 * Durability: the database runs in WAL mode with synchronous=NORMAL. A commit
 * appends to the WAL without an fsync, so a committed batch survives the
 * process crashing (it is in the page cache) but an operating-system crash or
 * power loss can lose the batches committed since the last checkpoint (the
 * database stays consistent; they are simply rolled back). Kafka offsets
 * stored for those jobs are not rolled back with them.
 *
 * Every function that can fail returns -1 and writes a sentence into err that
 * says what was being done and, for SQLite errors, sqlite3_errmsg(). Bad
 * arguments are reported naming the field. */
#ifndef BRIG_WORKER_AUDIT_H
#define BRIG_WORKER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/status.h"

struct audit_store;

/* Opens (creating it 0600 when missing) the database at path, whose directory
 * must exist, and brings its schema up to date. Refuses a database made by a
 * newer brig and one that another process has open for writing. Every attempt
 * left 'running' by an earlier process is marked 'abandoned'
 * (audit_abandoned_count() says how many). worker_id goes into every attempt. */
int audit_open(const char *path, const char *worker_id, struct audit_store **out, char *err,
               size_t errlen);

/* Commits the open batch, then closes and frees the store (always, even when
 * the commit fails and -1 is returned). NULL is a no-op. */
int audit_close(struct audit_store *store, char *err, size_t errlen);

/* Attempts that audit_open() found 'running' and marked 'abandoned'. */
uint64_t audit_abandoned_count(const struct audit_store *store);

/* Batch limits: commit once a batch holds max_statements writes or is
 * max_ms old (0: after every write). Defaults: AUDIT_BATCH_STATEMENTS,
 * AUDIT_BATCH_MS. */
#define AUDIT_BATCH_STATEMENTS 512
#define AUDIT_BATCH_MS 100
void audit_set_batch_limits(struct audit_store *store, unsigned max_statements, unsigned max_ms);

/* Commits the open batch, if any. */
int audit_flush(struct audit_store *store, char *err, size_t errlen);

/* Commits the open batch if it is older than the time limit: the main loop
 * calls it when it is idle, since the limit is otherwise checked only on
 * writes. */
int audit_tick(struct audit_store *store, char *err, size_t errlen);

/* One consumed Kafka message, valid or not. */
struct audit_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL = no key */
    size_t key_len;
    int64_t received_ms; /* wall clock, ms since the epoch */
    const void *payload; /* the raw message value; its SHA-256 is stored with it */
    size_t payload_len;
    const char *job_id; /* the job id it carried, when it could be decoded; else NULL */
    const char *tenant; /* whose signature it carried (SCHEMA.md 14); NULL: none checked */
};

int audit_record_message(struct audit_store *store, const struct audit_message *msg,
                         int64_t *message_id, char *err, size_t errlen);

/* Records a job once: a job id seen again (a redelivery) keeps its first row.
 * message_id: the message that carried it (0 = none); the job's created_ms is
 * when that message was received, else now. tenant (NULL without tenants),
 * runtime (NULL for an argv job), session, replay_of: NULL when absent. raw:
 * the job's msgpack bytes. */
int audit_record_job(struct audit_store *store, const char *job_id, int64_t message_id,
                     const char *tenant, const char *runtime, const char *session,
                     const char *replay_of, const void *raw, size_t raw_len, char *err,
                     size_t errlen);

/* Whose job id is: 1 with its tenant in tenant ("" for none), 0 when the
 * store has no such job, -1 on error. It sees the open batch too. */
int audit_job_tenant(struct audit_store *store, const char *job_id, char *tenant, size_t len,
                     char *err, size_t errlen);

/* Starts attempt number (previous attempts of the job + 1), state 'running',
 * for a job already recorded. runtime_name (NULL for an argv job),
 * runtime_version, policy_hash: NULL = unknown. image_digest: the root
 * image's digest, NULL when the job runs on the host's tree. */
int audit_attempt_begin(struct audit_store *store, const char *job_id, int64_t started_ms,
                        const char *runtime_name, const char *runtime_version,
                        const char *policy_hash, const char *image_digest, int64_t *attempt_id,
                        int64_t *attempt_number, char *err, size_t errlen);

struct audit_outcome {
    int64_t finished_ms;
    brig_status status;
    int exit_code; /* -1 when the program did not exit by itself */
    int signal;    /* 0 when it was not killed by a signal */
    uint64_t wall_us;
    uint64_t cpu_us;
    uint64_t peak_memory_bytes;
    const char *error;           /* NULL, or what went wrong (setup errors, internal errors) */
    const char *runtime_version; /* learnt during the run; NULL keeps audit_attempt_begin's */
    const char *state_before;    /* a session job's workspace state hash before it ran; or NULL */
    const char *state_after;     /* and after */
};

/* Ends a running attempt as 'finished' with its outcome and the msgpack bytes
 * of the result that was published (NULL = none). */
int audit_attempt_end(struct audit_store *store, int64_t attempt_id,
                      const struct audit_outcome *outcome, const void *result, size_t result_len,
                      char *err, size_t errlen);

/* The msgpack bytes of the result of the job's latest finished attempt, in
 * *result (malloc'd, the caller frees; NULL when that attempt stored none) and
 * the attempt's id in *attempt_id (may be NULL). Returns 1 when there is one,
 * 0 when the job has no finished attempt, -1 on error. It sees the open batch
 * too. A redelivered job with a final result is answered from here instead of
 * being run again. */
int audit_final_result(struct audit_store *store, const char *job_id, void **result,
                       size_t *result_len, int64_t *attempt_id, char *err, size_t errlen);

/* Records that a delivery of job_id (the message message_id, 0 = unknown)
 * was answered without running: with the result of attempt answered_with,
 * taken from the store (the job was already answered) or from an attempt
 * still in flight when it arrived. */
int audit_record_redelivery(struct audit_store *store, const char *job_id, int64_t message_id,
                            int64_t answered_with, int64_t ts_ms, char *err, size_t errlen);

/* Records offsets first..last of topic's partition, which the cluster
 * deleted before this worker read them: jobs that never ran. */
int audit_record_skipped(struct audit_store *store, const char *topic, int32_t partition,
                         int64_t first_offset, int64_t last_offset, int64_t detected_ms, char *err,
                         size_t errlen);

/* A cancel request for job_id that this worker acted on: the job was
 * "waiting" (answered cancelled unrun), "running" (stopped), or "not yet
 * arrived" (answered cancelled unrun when it came). tenant: whose signature
 * the request carried (NULL without tenants). by: who asked, NULL when not
 * said. */
int audit_record_cancel(struct audit_store *store, const char *job_id, const char *tenant,
                        const char *by, int64_t requested_ms, int64_t received_ms,
                        const char *state, char *err, size_t errlen);

/* A message that was refused, now: reason says why, field names the
 * offending field (NULL when it is not about one field). */
int audit_record_dead_letter(struct audit_store *store, int64_t message_id, const char *reason,
                             const char *field, char *err, size_t errlen);

/* A network connection a job's egress proxy allowed or refused. */
struct audit_connection {
    const char *job_id;
    const char *host;
    uint16_t port;
    bool allowed;
    const char *reason; /* the rule that decided, NULL = none */
    int64_t ts_ms;
};

int audit_record_connection(struct audit_store *store, const struct audit_connection *conn,
                            char *err, size_t errlen);

/* ---- Read side, for the brig audit CLI. Each call opens db_path read-only,
 * reads one consistent snapshot and closes it. */

struct audit_filter {
    int64_t since_ms;    /* jobs recorded at or after this time; 0 = any */
    const char *status;  /* status wire name of the job's latest attempt; NULL = any */
    const char *runtime; /* NULL = any */
    const char *tenant;  /* NULL = any */
    unsigned limit;      /* 0 = no limit */
};

/* A job with its latest attempt. Strings are NULL when absent and valid only
 * during the callback. */
struct audit_list_row {
    const char *job_id;
    int64_t created_ms;
    const char *runtime;
    const char *session;
    const char *replay_of;
    int64_t attempts;   /* how many */
    const char *state;  /* of the latest attempt; NULL when the job has none */
    const char *status; /* of the latest attempt; NULL when not finished */
    int exit_code;      /* -1 when none */
    int signal;         /* 0 when none */
    int64_t wall_us;    /* -1 when none */
    const char *worker_id;
    const char *tenant; /* NULL without tenants */
};

/* Returns nonzero to stop the listing. */
typedef int (*audit_list_fn)(void *ctx, const struct audit_list_row *row);

/* Calls fn for the jobs that pass filter (NULL = all), newest first. */
int audit_list(const char *db_path, const struct audit_filter *filter, audit_list_fn fn, void *ctx,
               char *err, size_t errlen);

/* Calls fn for the jobs of session, in the order the worker received them
 * (then by offset on the session's partition). */
int audit_list_session(const char *db_path, const char *session, audit_list_fn fn, void *ctx,
                       char *err, size_t errlen);

/* Every field of one attempt. Integers are -1 when not recorded (signal: 0);
 * strings NULL. */
struct audit_attempt_record {
    int64_t id;
    int64_t number;
    char *worker_id;
    char *state; /* running, finished or abandoned */
    int64_t started_ms;
    int64_t finished_ms;
    char *status;
    int exit_code;
    int signal;
    int64_t wall_us;
    int64_t cpu_us;
    int64_t peak_memory_bytes;
    char *runtime_name;
    char *runtime_version;
    char *policy_hash;
    char *kernel;
    char *error;
    void *result; /* msgpack bytes */
    size_t result_len;
    char *state_before; /* a session job's workspace state hashes */
    char *state_after;
    char *image_digest; /* the root image it ran on; NULL: the host's tree */
};

/* A delivery of the job answered without running (audit_record_redelivery). */
struct audit_redelivery_record {
    int64_t message_id;    /* -1 when unknown */
    int64_t answered_with; /* the attempt whose result was sent */
    char *worker_id;
    int64_t ts_ms;
};

struct audit_job_record {
    char *job_id;
    char *tenant; /* NULL without tenants */
    char *runtime;
    char *session;
    char *replay_of;
    int64_t created_ms;
    void *raw; /* the job's msgpack bytes */
    size_t raw_len;
    /* the message that carried it; message_id -1 and the rest unset when none */
    int64_t message_id;
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t received_ms;
    struct audit_attempt_record *attempts; /* in attempt order */
    size_t n_attempts;
    struct audit_redelivery_record *redeliveries; /* in the order they were answered */
    size_t n_redeliveries;
};

/* Returns 1 with *out filled (free with audit_job_record_free), 0 when the
 * job is not in the store, -1 on error. */
int audit_show(const char *db_path, const char *job_id, struct audit_job_record **out, char *err,
               size_t errlen);
void audit_job_record_free(struct audit_job_record *job);

#endif
