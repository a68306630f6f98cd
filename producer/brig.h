/* libbrig: submit jobs to brig workers through Kafka and get their results
 * and live logs back.
 *
 *   struct brig_client_config config = {.brokers = "kafka1:9092"};
 *   struct brig_client *client;
 *   char err[512], id[BRIG_ID_SIZE];
 *   if (brig_client_new(&config, &client, err, sizeof err) < 0) ...
 *   struct brig_job job = {.runtime = "python", .code = {"print(42)", 9}};
 *   brig_submit(client, &job, id, err, sizeof err);
 *   struct brig_result result;
 *   brig_wait(client, id, 60000, &result, err, sizeof err);
 *   ... result.status, result.stdout_data ...
 *   brig_result_free(&result);
 *   brig_client_free(client);
 *
 * A cell: a job of a session whose runtime has an interpreter (python,
 * javascript, typescript) runs in the session's live interpreter, so what one
 * cell defines the next one sees. Its result carries, besides stdout and
 * stderr (SCHEMA.md section 6.1, struct brig_result in schema/schema.h):
 *
 *   struct brig_job cell = {.runtime = "python", .session = "nb1",
 *                           .code = {"df.describe()", 13}};
 *   brig_submit(client, &cell, id, err, sizeof err);
 *   brig_wait(client, id, 60000, &result, err, sizeof err);
 *   for (size_t i = 0; i < result.output_count; i++) {
 *       const struct brig_output *out = &result.outputs[i];   // in order
 *       // out->kind: "display" (display(), a figure) or "result" (the
 *       // value of the last expression); skip kinds you do not know
 *       for (size_t j = 0; j < out->data_count; j++)
 *           ... out->data[j].path is the MIME type ("text/plain",
 *               "image/png"), out->data[j].content its bytes (raw, not
 *               base64; UTF-8 for text types) ...
 *   }
 *   result.outputs_truncated      outputs past 256 or 2 MiB were dropped
 *   result.exception_name         NULL, or "NameError" (status failed, no
 *                                 exit code), with exception_value and
 *                                 traceback[traceback_count]
 *   result.has_interpreter        the job ran as a cell; then
 *   result.interpreter_started    a fresh interpreter: the session's
 *                                 earlier variables are gone (its files not)
 *   result.execution_count        the cell's number in that interpreter
 *   result.state_lost             the interpreter ended during this cell
 *
 * Everything a result holds lives in its arena until brig_result_free().
 *
 * Jobs go to <prefix>.jobs, keyed by their session when they have one (so a
 * session's jobs stay in order on one partition), else by their id. Results
 * come back on the client's reply topic, <prefix>.results unless the config
 * names another one (e.g. "brig.results.<client-id>", so that many clients do
 * not read each other's results; with a real Kafka cluster that topic must
 * exist or auto-creation must be on). A client with a tenant signs what it
 * sends and reads its tenant's topics (config.tenant).
 *
 * One Kafka consumer per client, on a background thread, reads the reply topic
 * (and <prefix>.logs when a log callback is set) and hands each message to the
 * waiter registered for its job id; messages for other ids are skipped without
 * being decoded. By default it starts at the END of the topics: the end
 * offsets of every partition are fetched and assigned before brig_client_new()
 * returns, so a result produced after that (any result of a job submitted
 * later) is read, and nothing older is. Explicit offsets are used rather than
 * a consumer group with auto.offset.reset=latest because a group assignment
 * arrives asynchronously after a rebalance: "latest" would be resolved at some
 * unknown moment after the first submit, and a fast job's result could fall
 * before it. Partitions added to the topic after brig_client_new() are not
 * read.
 *
 * Thread safety: every function taking a client may be called from any
 * number of threads at once, except brig_client_free(), which must be the
 * last call. Many threads may wait at the same time, each for its own ids.
 * The log callback runs on the client's consumer thread: it must return
 * quickly and must not call brig_wait*() or brig_client_free().
 *
 * Errors: functions return 0 on success and -1 with a sentence in err (what
 * was being done and why). Waits return BRIG_TIMED_OUT when the time ran out.
 * An unreachable broker is reported by brig_client_new() within
 * config.timeout_ms. */
#ifndef BRIG_CLIENT_H
#define BRIG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

#define BRIG_TIMED_OUT 1

/* A job id with its NUL. */
#define BRIG_ID_SIZE (BRIG_ID_MAX + 1)

/* Where the client's consumer starts reading. */
enum brig_start {
    BRIG_START_END = 0,   /* results of jobs submitted from now on */
    BRIG_START_BEGINNING, /* everything still on the topics: to wait for jobs
                             submitted earlier, or by another process */
};

/* A log chunk of a watched job, delivered per (attempt, stream) in seq
 * order, each (attempt, stream, seq) once. Chunks of an attempt older than
 * the newest one seen are dropped: when a job is retried, its output starts
 * again with the new attempt number. The chunk is valid during the call. */
typedef void (*brig_log_fn)(void *ctx, const struct brig_log_chunk *chunk);

struct brig_client_config {
    const char *brokers;      /* bootstrap servers; required (see brig_discover_brokers) */
    const char *topic_prefix; /* NULL = "brig" */
    const char *reply_topic;  /* NULL = <prefix>.results */
    const char *client_id;    /* Kafka client.id; NULL = "brig-client" */
    unsigned timeout_ms;      /* to reach the broker, and to deliver a job; 0 = 10000 */
    enum brig_start start;
    /* Ids watched from the start, before any message is read: needed with
     * BRIG_START_BEGINNING, since a result read before its id is watched is
     * skipped. */
    const char *const *watch_ids;
    size_t n_watch_ids;
    brig_log_fn on_log; /* NULL: the logs topic is not read */
    void *log_ctx;
    bool submit_only; /* no consumer at all: submits only, every wait fails */
    /* Kafka client properties (security, tuning), applied after brig's own:
     * those of the file kafka_config (librdkafka properties, "key=value" a
     * line; NULL: $BRIG_KAFKA_CONFIG, or none), then kafka_properties
     * ("key=value" strings, NULL-terminated; NULL: none), which win. */
    const char *kafka_config;
    const char *const *kafka_properties;
    /* The largest job the broker keeps safely; 0 = BRIG_JOB_MAX_BYTES. A
     * larger job is refused before it is sent (brig_discover_message_max). */
    uint64_t message_max_bytes;
    /* Signing, for workers started with --tenants (SCHEMA.md section 14):
     * the tenant's name and the PEM file of its Ed25519 private key (brig
     * keygen). NULL: $BRIG_TENANT and $BRIG_KEY; "": none. Every job and
     * cancel is then signed, the reply topic defaults to
     * <prefix>.results.<tenant> and live output comes from
     * <prefix>.logs.<tenant>. */
    const char *tenant;
    const char *key_file;
};

struct brig_client;

/* Connects (checking that the broker answers within timeout_ms), positions
 * the consumer, and starts its thread. */
int brig_client_new(const struct brig_client_config *config, struct brig_client **out, char *err,
                    size_t errlen);

/* Stops the consumer thread and releases everything, including results
 * received and never waited for. NULL is a no-op. */
void brig_client_free(struct brig_client *client);

/* With on_log given: NULL, or why the client reads no live output (its
 * principal may not read the logs topic); results still carry the output. */
const char *brig_client_logs_unavailable(const struct brig_client *client);

/* The topic the client's results come back on. */
const char *brig_client_reply_topic(const struct brig_client *client);

/* Bootstrap servers for a client: given (when not NULL or empty), else
 * $BRIG_BROKERS, else the address an embedded broker of a brig-worker on this
 * host published in its state directory. */
int brig_discover_brokers(const char *given, char *buf, size_t len, char *err, size_t errlen);

/* The largest message the broker found by brig_discover_brokers(given)
 * keeps safely: for the embedded broker of a brig-worker on this host, what
 * its state file says (it deletes older messages past a few MiB a
 * partition); 0 (no limit beyond the schema's) for a broker given or in
 * $BRIG_BROKERS. */
uint64_t brig_discover_message_max(const char *given);

/* Asks the workers to cancel job id (SCHEMA.md section 8a) and returns once
 * the broker has the request: a waiting job is answered `cancelled` unrun, a
 * running one is stopped and answered `cancelled`; a job already answered,
 * or unknown, is left as it is. by: who asks, for the audit (NULL: not
 * said). The answer comes as the job's result. */
int brig_cancel(struct brig_client *client, const char *id, const char *by, char *err,
                size_t errlen);

/* A fresh random job id (24 hex digits). */
void brig_new_id(char id[BRIG_ID_SIZE]);

/* Publishes a job and returns once the broker has it. job->id NULL gets a
 * fresh id; job->reply_topic NULL gets the client's reply topic. The job is
 * validated as a worker would (err names the field). Its id goes into id and
 * is watched: its result is kept until brig_wait*() or brig_forget() takes
 * it. A job that names another reply topic is published but not watched:
 * its result goes to whoever reads that topic, and waiting for it here
 * would time out. */
int brig_submit(struct brig_client *client, const struct brig_job *job, char id[BRIG_ID_SIZE],
                char *err, size_t errlen);

/* The same with a job already encoded: the bytes are published as they are,
 * once they decode. It is watched when its result comes to this client's
 * reply topic (a job without reply_topic is answered on <prefix>.results). */
int brig_submit_raw(struct brig_client *client, const void *msgpack, size_t len,
                    char id[BRIG_ID_SIZE], char *err, size_t errlen);

/* Publishes n jobs. Every job is checked and encoded before the first is
 * published, so a bad job (err names its index and field) submits nothing.
 * Returns once the broker has them all; if some could not be delivered,
 * returns -1 saying which (Kafka may have taken the others). ids[i] receives
 * the id of jobs[i]. */
int brig_submit_batch(struct brig_client *client, const struct brig_job *jobs, size_t n,
                      char (*ids)[BRIG_ID_SIZE], char *err, size_t errlen);

/* Watches a job id, so that its result is kept when it arrives. Submitting
 * watches the job; call this for a job submitted elsewhere, before its
 * result can arrive. */
int brig_watch(struct brig_client *client, const char *id, char *err, size_t errlen);

/* Stops watching a job and drops its result and log state. Log chunks the
 * consumer thread already took may still reach the callback just after. */
void brig_forget(struct brig_client *client, const char *id);

/* Waits up to timeout_ms (< 0: forever) for the result of job id, watching it
 * if it is not yet. On 0, *out holds the first result that arrived (free it
 * with brig_result_free) and the job is no longer watched for results; with
 * a log callback, its chunks are still delivered until both streams of the
 * result's attempt end or brig_forget() is called. */
int brig_wait(struct brig_client *client, const char *id, int64_t timeout_ms,
              struct brig_result *out, char *err, size_t errlen);

/* Waits for the results of n jobs at once. results[i] is filled for every job
 * whose result came (its id non-NULL) and zeroed for the others. Returns 0
 * when all came, BRIG_TIMED_OUT when some did not, -1 on error (then no
 * result is returned). */
int brig_wait_many(struct brig_client *client, const char *const *ids, size_t n, int64_t timeout_ms,
                   struct brig_result *results, char *err, size_t errlen);

/* What brig_read_logs() returns besides 0 and -1. */
enum brig_logs_outcome {
    BRIG_LOGS_TIMED_OUT = BRIG_TIMED_OUT,
    /* Neither the job, nor a result, nor a log chunk with its id is on the
     * topics: a wrong id or prefix, or a job older than their retention. */
    BRIG_LOGS_UNKNOWN_JOB,
    /* The job has no log stream and never will: it was submitted without
     * stream_logs, was rejected, or ended without a chunk on the topic. Its
     * result carries its output. */
    BRIG_LOGS_NOT_STREAMED,
};

/* Reads the log chunks of one job from the beginning of <prefix>.logs, with
 * its own consumer, calling fn for each (ordered and deduplicated as for
 * brig_log_fn). It reads <prefix>.jobs first, from its beginning until the
 * job is found, and the job's results topic with the logs, to tell the
 * outcomes above apart. Without follow it stops at the end of the topics as
 * they were when the call started; with follow it reads on until both
 * streams of the job's latest attempt have ended, or until the job's result
 * is in and no chunk came within a few seconds of it. Only config's
 * brokers, topic_prefix, client_id and timeout_ms are used. Returns 0 (also,
 * without follow, for a known job with no chunk yet), -1, or an
 * enum brig_logs_outcome with err saying what it means for this job. */
int brig_read_logs(const struct brig_client_config *config, const char *id, bool follow,
                   int64_t timeout_ms, brig_log_fn fn, void *ctx, char *err, size_t errlen);

/* What the pool's workers announced on <prefix>.runtimes (SCHEMA.md
 * section 9): the last record of each worker whose last word was not a
 * tombstone, sorted by worker id. A record that does not decode (or whose
 * key is not its worker id) is skipped and counted, the first one's key,
 * offset and error kept in undecodable_why. */
struct brig_runtimes_read {
    struct brig_runtimes *workers;
    size_t count;
    size_t undecodable;
    char undecodable_why[320];
};

/* Reads <prefix>.runtimes from its beginning to the end it had when the call
 * started, with a consumer of its own. Only config's brokers, topic_prefix,
 * client_id and timeout_ms (the whole read's, default 10 s) are used.
 * Returns 0 with out filled (free it with brig_runtimes_read_free), or -1. */
int brig_read_runtimes(const struct brig_client_config *config, struct brig_runtimes_read *out,
                       char *err, size_t errlen);
void brig_runtimes_read_free(struct brig_runtimes_read *read);

#endif
