/* brig_read_logs: one job's log chunks from the beginning of the logs
 * topic, with a consumer of its own, and what the other topics say of the
 * job, so that a reader is told when there is nothing to wait for: the job
 * is unknown, was sent without stream_logs, or ended without a stream.
 *
 * Two passes over the topics, each from its beginning. The first reads the
 * jobs topic until the job is found or every partition has ended: whether
 * the job exists, whether it asked for stream_logs, and where its result
 * goes. The second reads the logs and that results topic together; once
 * every partition has reached its end, the topics as they were at the start
 * have been seen, and what is known decides (see verdict()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/brig.h"
#include "producer/kafka_setup.h"
#include "producer/log_order.h"
#include "common/common.h"

#define POLL_MS 100
/* How long log chunks may trail their job's result: they travel on another
 * topic (SCHEMA.md §4). */
#define LOG_GRACE_MS 3000
/* verdict(): go on reading. */
#define READ_ON (-2)

/* What the topics have said of the job so far. */
struct trace {
    const char *id;
    brig_log_fn fn;
    void *ctx;
    const char *topics[3]; /* jobs, results, logs */
    bool job_seen;         /* on the jobs topic, decoded or not */
    bool job_decoded;
    bool stream_logs;
    char reply_topic[BRIG_TOPIC_MAX + 1]; /* the job's own, or "" */
    bool result_seen;
    uint64_t result_attempt;
    brig_status status;
    char error[BRIG_ERROR_TEXT_MAX + 1];
    bool chunk_seen;
    struct log_order order;
};

/* The partitions that reported their end at least once, as many as were
 * assigned once all have. */
struct ends {
    struct {
        char topic[BRIG_TOPIC_MAX + 1];
        int32_t partition;
    } * seen;
    size_t count, assigned;
};

static bool note_end(struct ends *ends, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < ends->count; i++) {
        if (ends->seen[i].partition == m->partition && strcmp(ends->seen[i].topic, topic) == 0)
            return ends->count == ends->assigned;
    }
    if (ends->count < ends->assigned) {
        snprintf(ends->seen[ends->count].topic, sizeof ends->seen[0].topic, "%s", topic);
        ends->seen[ends->count++].partition = m->partition;
    }
    return ends->count == ends->assigned;
}

static int assign(rd_kafka_t *consumer, const char *const *topics, size_t n,
                  const struct kafka_params *params, struct ends *ends, char *err, size_t errlen)
{
    free(ends->seen);
    memset(ends, 0, sizeof *ends);
    if (kafka_assign(consumer, topics, n, BRIG_START_BEGINNING, params, &ends->assigned, err,
                     errlen) < 0)
        return -1;
    if (!(ends->seen = calloc(ends->assigned, sizeof *ends->seen))) {
        snprintf(err, errlen, "allocating the partition table: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static bool key_is(const rd_kafka_message_t *m, const char *id)
{
    size_t len = strlen(id);
    return !m->key || (m->key_len == len && memcmp(m->key, id, len) == 0);
}

/* A job message: the job's, whatever its key (a session's jobs are keyed
 * by the session), when the id it starts with is ours. */
static void take_job(struct trace *t, const rd_kafka_message_t *m)
{
    char id[BRIG_ID_SIZE], reply_topic[BRIG_TOPIC_MAX + 1];
    struct brig_job job;
    struct brig_error error;
    if (!brig_job_peek_reply(m->payload, m->len, id, sizeof id, reply_topic, sizeof reply_topic) ||
        strcmp(id, t->id) != 0)
        return;
    t->job_seen = true;
    snprintf(t->reply_topic, sizeof t->reply_topic, "%s", reply_topic);
    /* One that does not decode is answered with a rejected result. */
    if (brig_job_decode(m->payload, m->len, &job, &error) == 0) {
        t->job_decoded = true;
        t->stream_logs = job.stream_logs;
        brig_job_free(&job);
    }
}

static void take_result(struct trace *t, const rd_kafka_message_t *m)
{
    struct brig_result result;
    struct brig_error error;
    if (!key_is(m, t->id) || brig_result_decode(m->payload, m->len, &result, &error) < 0)
        return;
    if (strcmp(result.id, t->id) == 0 && (!t->result_seen || result.attempt > t->result_attempt)) {
        t->result_seen = true;
        t->result_attempt = result.attempt;
        t->status = result.status;
        snprintf(t->error, sizeof t->error, "%s", result.error ? result.error : "");
    }
    brig_result_free(&result);
}

static void pass_on(void *ctx, struct brig_log_chunk *chunk)
{
    const struct trace *t = ctx;
    t->fn(t->ctx, chunk);
    brig_log_chunk_free(chunk);
}

static void take_chunk(struct trace *t, const rd_kafka_message_t *m)
{
    struct brig_log_chunk chunk;
    struct brig_error error;
    if (!key_is(m, t->id) || brig_log_chunk_decode(m->payload, m->len, &chunk, &error) < 0)
        return;
    if (strcmp(chunk.id, t->id) != 0) {
        brig_log_chunk_free(&chunk);
        return;
    }
    t->chunk_seen = true;
    log_order_feed(&t->order, &chunk, pass_on, t);
}

/* Once the topics as they were have been read: 0 when the chunks are all
 * out, BRIG_LOGS_UNKNOWN_JOB or BRIG_LOGS_NOT_STREAMED with err saying why,
 * or READ_ON. *grace_end is when chunks may no longer trail a result. */
static int verdict(struct trace *t, bool follow, int64_t *grace_end, char *err, size_t errlen)
{
    const char *results = t->reply_topic[0] ? t->reply_topic : t->topics[1];
    if (log_order_ended(&t->order))
        return 0;
    if (!t->job_seen && !t->result_seen && !t->chunk_seen) {
        snprintf(err, errlen, "no job %s on %s, %s or %s: check the id and the topic prefix", t->id,
                 t->topics[0], results, t->topics[2]);
        return BRIG_LOGS_UNKNOWN_JOB;
    }
    if (t->job_decoded && !t->stream_logs) {
        snprintf(err, errlen,
                 "job %s was submitted without stream_logs, so it has no log chunks; its "
                 "result carries its output",
                 t->id);
        return BRIG_LOGS_NOT_STREAMED;
    }
    if (!t->result_seen)
        return follow ? READ_ON : 0;
    if (!t->chunk_seen && t->status == BRIG_STATUS_REJECTED) {
        snprintf(err, errlen, "job %s was rejected and never ran: %s", t->id,
                 t->error[0] ? t->error : "no reason given");
        return BRIG_LOGS_NOT_STREAMED;
    }
    if (follow && *grace_end == 0)
        *grace_end = monotonic_ms() + LOG_GRACE_MS;
    if (follow && monotonic_ms() < *grace_end)
        return READ_ON;
    if (t->chunk_seen)
        return 0;
    snprintf(err, errlen,
             "job %s ended (%s) without log chunks on %s: it was submitted without stream_logs, "
             "or they are no longer kept; its result carries its output",
             t->id, brig_status_name(t->status), t->topics[2]);
    return BRIG_LOGS_NOT_STREAMED;
}

/* The first pass: the jobs topic, until the job or the end. */
static int find_job(rd_kafka_t *consumer, const struct kafka_params *params, struct trace *t,
                    struct ends *ends, int64_t deadline, char *err, size_t errlen)
{
    if (assign(consumer, &t->topics[0], 1, params, ends, err, errlen) < 0)
        return -1;
    bool at_end = ends->assigned == 0;
    while (!at_end && !t->job_seen) {
        if (monotonic_ms() >= deadline) {
            snprintf(err, errlen, "looking for job %s on %s took longer than the timeout", t->id,
                     t->topics[0]);
            return BRIG_TIMED_OUT;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        rd_kafka_poll(consumer, 0); /* error callbacks */
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            at_end = note_end(ends, m);
        else if (!m->err)
            take_job(t, m);
        rd_kafka_message_destroy(m);
    }
    return 0;
}

/* The second pass: the logs and the job's results topic. */
static int read_chunks(rd_kafka_t *consumer, const struct kafka_params *params, struct trace *t,
                       struct ends *ends, bool follow, int64_t deadline, int64_t timeout_ms,
                       char *err, size_t errlen)
{
    const char *topics[2] = {t->reply_topic[0] ? t->reply_topic : t->topics[1], t->topics[2]};
    int64_t grace_end = 0;
    if (assign(consumer, topics, 2, params, ends, err, errlen) < 0)
        return -1;
    bool at_end = ends->assigned == 0;
    for (;;) {
        int rc = at_end ? verdict(t, follow, &grace_end, err, errlen) : READ_ON;
        if (rc != READ_ON)
            return rc;
        if (monotonic_ms() >= deadline) {
            snprintf(err, errlen, "the logs of job %s did not end within %lld ms", t->id,
                     (long long)timeout_ms);
            return BRIG_TIMED_OUT;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        rd_kafka_poll(consumer, 0); /* error callbacks */
        if (!m)
            continue;
        /* The first pass's topic may still have a message or an end in
         * flight: it counts for nothing here. */
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        bool results = strcmp(topic, topics[0]) == 0, logs = strcmp(topic, topics[1]) == 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && (results || logs))
            at_end = note_end(ends, m) || at_end;
        else if (!m->err && results)
            take_result(t, m);
        else if (!m->err && logs)
            take_chunk(t, m);
        rd_kafka_message_destroy(m);
    }
}

/* <prefix>.jobs, .results (where a job that names no reply topic is
 * answered) and .logs. */
static int topic_names(const struct brig_client_config *config, char names[3][BRIG_TOPIC_MAX + 2],
                       char *err, size_t errlen)
{
    const char *prefix = config->topic_prefix ? config->topic_prefix : "brig";
    const char *suffixes[3] = {"jobs", "results", "logs"};
    for (int i = 0; i < 3; i++) {
        if (snprintf(names[i], BRIG_TOPIC_MAX + 2, "%s.%s", prefix, suffixes[i]) > BRIG_TOPIC_MAX) {
            snprintf(err, errlen, "topic prefix: the %s topic name would be over %d bytes",
                     suffixes[i], BRIG_TOPIC_MAX);
            return -1;
        }
    }
    return 0;
}

int brig_read_logs(const struct brig_client_config *config, const char *id, bool follow,
                   int64_t timeout_ms, brig_log_fn fn, void *ctx, char *err, size_t errlen)
{
    if (!config->brokers || !*config->brokers) {
        snprintf(err, errlen, "brokers: no Kafka bootstrap servers given");
        return -1;
    }
    if (!id || !*id || strlen(id) > BRIG_ID_MAX) {
        snprintf(err, errlen, "id: \"%s\" is not a job id", id ? id : "");
        return -1;
    }
    char names[3][BRIG_TOPIC_MAX + 2];
    if (topic_names(config, names, err, errlen) < 0)
        return -1;
    struct trace t = {.id = id, .fn = fn, .ctx = ctx, .topics = {names[0], names[1], names[2]}};
    struct ends ends = {0};
    struct kafka_diag diag;
    kafka_diag_init(&diag);
    struct property_list kafka = {0};
    struct kafka_params params = {
        .brokers = config->brokers,
        .client_id = config->client_id ? config->client_id : "brig-client",
        .timeout_ms = config->timeout_ms ? config->timeout_ms : 5000,
        .diag = &diag,
        .properties = &kafka,
    };
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : monotonic_ms() + timeout_ms;
    int rc = -1;
    rd_kafka_t *consumer = kafka_load_properties(config, &kafka, err, errlen) == 0
                               ? kafka_consumer_create(&params, true, err, errlen)
                               : NULL;
    if (consumer && kafka_check_reachable(consumer, &params, err, errlen) == 0) {
        rc = find_job(consumer, &params, &t, &ends, deadline, err, errlen);
        if (rc == 0)
            rc = read_chunks(consumer, &params, &t, &ends, follow, deadline, timeout_ms, err,
                             errlen);
    }
    /* What is held past a gap is shown when no more will come. */
    if (rc == 0 && !follow)
        log_order_flush(&t.order, pass_on, &t);
    free(ends.seen);
    log_order_free(&t.order);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    kafka_diag_destroy(&diag);
    properties_free(&kafka);
    return rc;
}
