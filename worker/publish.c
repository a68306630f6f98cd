#include "worker/publish.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"
#include "worker/kafka.h"
#include "worker/log.h"
#include "worker/metrics.h"

/* What is left of a dead letter's data when its topic refuses it whole:
 * within any sane broker's limit (Kafka's default is 1 MiB). */
#define DEAD_LETTER_CUT_BYTES (512u << 10)

struct publisher {
    rd_kafka_t *producer;
    /* Made at start, so that their metadata and the idempotent producer's id
     * are fetched before the first answer (a fresh worker's first log chunk
     * otherwise reached its client 850 ms late). */
    rd_kafka_topic_t *handles[4];
    const char *worker_id;
    char *topic_logs, *topic_dlq, *topic_audit;
    publisher_audit_report audit_report;
    void *audit_ctx;
    /* Filled by the delivery report callback (main loop thread), handed
     * over by publisher_poll(). */
    struct task *delivered, **delivered_tail;
    /* Tasks with a message to produce again: a report callback must not
     * produce itself (a full queue would have it poll inside the poll). */
    struct task *redo, **redo_tail;
    pthread_t owner; /* the only thread that serves delivery reports */
    bool failed;
    bool abandoning; /* every report, failed or not, hands its task back */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

int publisher_new(const struct worker_config *config, const struct publisher_topics *topics,
                  struct publisher **out, char *err, size_t errlen)
{
    struct publisher *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic_logs = strdup(topics->logs)) || !(p->topic_dlq = strdup(topics->dlq)) ||
        (topics->audit && !(p->topic_audit = strdup(topics->audit)))) {
        snprintf(err, errlen, "creating the publisher: out of memory");
        publisher_free(p);
        return -1;
    }
    p->worker_id = config->worker_id;
    p->redo_tail = &p->redo;
    p->delivered_tail = &p->delivered;
    p->owner = pthread_self();
    p->producer = kafka_producer_new(config, on_delivery, p, err, errlen);
    if (!p->producer) {
        publisher_free(p);
        return -1;
    }
    const char *names[] = {topics->results, topics->logs, topics->dlq, topics->audit};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i])
            p->handles[i] = rd_kafka_topic_new(p->producer, names[i], NULL);
    *out = p;
    return 0;
}

void publisher_free(struct publisher *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(p->handles); i++)
        if (p->handles[i])
            rd_kafka_topic_destroy(p->handles[i]);
    if (p->producer)
        rd_kafka_destroy(p->producer);
    free(p->topic_logs);
    free(p->topic_dlq);
    free(p->topic_audit);
    free(p);
}

bool publisher_failed(const struct publisher *p)
{
    return p->failed;
}

static rd_kafka_resp_err_t produce_once(struct publisher *p, const char *topic, const void *key,
                                        size_t key_len, const void *value, size_t len, void *opaque)
{
    return rd_kafka_producev(
        p->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key ? key_len : 0),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

static bool too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* Main loop thread: produces a copy of value. A full local queue is waited
 * out while serving delivery reports (this is the thread that may), since
 * dropping an answer is never an option. */
static rd_kafka_resp_err_t produce_answer(struct publisher *p, const char *topic, const void *key,
                                          size_t key_len, const void *value, size_t len,
                                          struct task *task)
{
    for (;;) {
        rd_kafka_resp_err_t err = produce_once(p, topic, key, key_len, value, len, task);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (err)
                metrics_producer_error();
            /* A size refusal is the caller's to mend, and to tell. */
            if (err && !too_large(err))
                log_error(task->job_id[0] ? task->job_id : NULL, "producing to %s: %s", topic,
                          rd_kafka_err2str(err));
            return err;
        }
        rd_kafka_poll(p->producer, 10);
    }
}

/* A result the cluster refuses for its size is replaced by a short one that
 * says so, so that the job's sender still gets an answer. */
static rd_kafka_resp_err_t produce_size_notice(struct publisher *p, struct task *task,
                                               const char *topic, size_t refused_len)
{
    char text[BRIG_ERROR_TEXT_MAX + 1];
    snprintf(text, sizeof(text),
             "the result (%zu bytes) was too large for the Kafka cluster: raise the topic's "
             "max.message.bytes or lower the job's output limits",
             refused_len);
    struct brig_result notice = {
        .id = task->job_id,
        .attempt = task->attempt_number > 0 ? (uint64_t)task->attempt_number : 1,
        .status = BRIG_STATUS_INTERNAL_ERROR,
        .worker_id = p->worker_id,
        .error = text,
    };
    struct brig_error err;
    log_warn(task->job_id,
             "the result (%zu bytes) is too large for %s: answering with a notice "
             "that says so",
             refused_len, topic);
    msgpack_sbuffer_clear(&task->result);
    if (brig_result_encode(&notice, &task->result, &err) < 0) {
        log_error(task->job_id, "encoding a size notice: %s: %s", err.field, err.reason);
        return RD_KAFKA_RESP_ERR__FAIL;
    }
    return produce_answer(p, topic, task->job_id, strlen(task->job_id), task->result.data,
                          task->result.size, task);
}

/* Replaces the task's dead letter, refused for its size, with one whose data
 * is cut shorter (SCHEMA.md section 8): its first DEAD_LETTER_CUT_BYTES, then
 * none. Its topic, partition and offset still find the original. Returns -1
 * when there is nothing left to cut. */
static int cut_dead_letter(struct publisher *p, struct task *task)
{
    struct brig_dead_letter letter;
    struct brig_error err;
    const char *job = task->job_id[0] ? task->job_id : NULL;
    if (brig_dead_letter_decode(task->dead_letter.data, task->dead_letter.size, &letter, &err) <
        0) {
        log_error(job, "reading back a dead letter: %s: %s", err.field, err.reason);
        return -1;
    }
    int rc = -1;
    size_t had = letter.data.len;
    msgpack_sbuffer cut;
    msgpack_sbuffer_init(&cut);
    if (had == 0) {
        log_error(job,
                  "the dead letter of %s[%llu]@%llu (%zu bytes, no data left) is too large for "
                  "%s: not produced; the audit store keeps the message",
                  letter.topic, (unsigned long long)letter.partition,
                  (unsigned long long)letter.offset, task->dead_letter.size, p->topic_dlq);
        goto out;
    }
    letter.data.len = had > DEAD_LETTER_CUT_BYTES ? DEAD_LETTER_CUT_BYTES : 0;
    letter.data_truncated = true;
    if (brig_dead_letter_encode(&letter, &cut, &err) < 0) {
        log_error(job, "encoding a shorter dead letter: %s: %s", err.field, err.reason);
        goto out;
    }
    log_warn(job,
             "the dead letter of %s[%llu]@%llu (%zu bytes) is too large for %s: producing it "
             "with %zu of its %zu bytes of data (data_truncated)",
             letter.topic, (unsigned long long)letter.partition, (unsigned long long)letter.offset,
             task->dead_letter.size, p->topic_dlq, letter.data.len, had);
    msgpack_sbuffer_destroy(&task->dead_letter);
    task->dead_letter = cut;
    msgpack_sbuffer_init(&cut);
    rc = 0;
out:
    msgpack_sbuffer_destroy(&cut);
    brig_dead_letter_free(&letter);
    return rc;
}

/* Produces the task's dead letter, cut shorter each time its size is refused
 * (cut first: the broker refused it already). A size refusal never stops the
 * worker nor comes back for ever: a letter refused even without its data is
 * left out, and too_large() returned. */
static rd_kafka_resp_err_t produce_dead_letter(struct publisher *p, struct task *task, bool cut)
{
    if (cut && cut_dead_letter(p, task) < 0)
        return RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    for (;;) {
        rd_kafka_resp_err_t rc =
            produce_answer(p, p->topic_dlq, task->key, task->key_len, task->dead_letter.data,
                           task->dead_letter.size, task);
        if (!too_large(rc) || cut_dead_letter(p, task) < 0)
            return rc;
    }
}

int publish_answer(struct publisher *p, struct task *task)
{
    rd_kafka_resp_err_t rc;
    task->stage = TASK_PUBLISHED;
    task->undelivered = 0;
    if (task->dead_letter.size > 0) {
        rc = produce_dead_letter(p, task, false);
        if (rc && !too_large(rc))
            goto failed;
        if (!rc)
            task->undelivered++;
    }
    if (task->result.size > 0) {
        rc = produce_answer(p, task->reply_topic, task->job_id, strlen(task->job_id),
                            task->result.data, task->result.size, task);
        if (too_large(rc))
            rc = produce_size_notice(p, task, task->reply_topic, task->result.size);
        if (rc)
            goto failed;
        task->undelivered++;
    }
    return 0;

failed:
    /* An answer that cannot even be queued (a fatal producer, an unknown
     * topic name) would be lost: stop, so that the job runs elsewhere. */
    p->failed = true;
    return -1;
}

enum redo {
    REDO_DEAD_LETTER = 1,
    REDO_RESULT = 2,
    REDO_SIZE_NOTICE = 4,     /* the result, refused for its size */
    REDO_DEAD_LETTER_CUT = 8, /* the dead letter, refused for its size */
};

/* Which of the task's messages msg is: librdkafka has its own copy. */
static enum redo message_of(const struct task *task, const rd_kafka_message_t *msg)
{
    if (msg->len == task->dead_letter.size &&
        memcmp(msg->payload, task->dead_letter.data, msg->len) == 0)
        return too_large(msg->err) ? REDO_DEAD_LETTER_CUT : REDO_DEAD_LETTER;
    return too_large(msg->err) ? REDO_SIZE_NOTICE : REDO_RESULT;
}

/* Whether the producer failed for good; says so once. */
static bool fatal(struct publisher *p, rd_kafka_t *rk)
{
    char reason[512];
    if (!rd_kafka_fatal_error(rk, reason, sizeof(reason)))
        return false;
    if (!p->failed)
        log_error(NULL, "FATAL: the Kafka producer failed for good: %s", reason);
    p->failed = true;
    return true;
}

static bool is_audit(const struct publisher *p, const rd_kafka_message_t *msg)
{
    return p->topic_audit && strcmp(rd_kafka_topic_name(msg->rkt), p->topic_audit) == 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct publisher *p = opaque;
    struct task *task = msg->_private;

    /* Tasks and the delivered list belong to the main loop's thread. */
    assert(pthread_equal(pthread_self(), p->owner));
    if (is_audit(p, msg)) {
        if (msg->err && !p->abandoning)
            fatal(p, rk);
        if (p->audit_report && !p->abandoning)
            p->audit_report(p->audit_ctx, (int64_t)(intptr_t)msg->_private, msg->err);
        return;
    }
    if (msg->err && !p->abandoning) {
        metrics_producer_error();
        if (fatal(p, rk))
            return;
        if (!task)
            return; /* a lost log chunk: the result still carries the output */
        /* librdkafka already retried for message.timeout.ms; an answer is
         * never dropped, so it is produced again once the poll returns (one
         * refused for its size is mended first, which says so). */
        if (!too_large(msg->err))
            log_warn(task->job_id[0] ? task->job_id : NULL,
                     "delivery to %s failed (%s); producing it again",
                     rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
        if (!task->redo)
            task_append(&p->redo_tail, task);
        task->redo |= message_of(task, msg);
        return;
    }
    if (task && --task->undelivered == 0)
        task_append(&p->delivered_tail, task);
}

/* Produces again what failed to arrive, outside the report callback. */
static void produce_again(struct publisher *p)
{
    struct task *task;
    while ((task = p->redo)) {
        p->redo = task->next;
        if (!p->redo)
            p->redo_tail = &p->redo;
        task->next = NULL;
        unsigned redo = task->redo;
        task->redo = 0;
        rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (redo & (REDO_DEAD_LETTER | REDO_DEAD_LETTER_CUT)) {
            rc = produce_dead_letter(p, task, redo & REDO_DEAD_LETTER_CUT);
            /* Left out: it will not be reported. */
            if (too_large(rc)) {
                rc = RD_KAFKA_RESP_ERR_NO_ERROR;
                if (--task->undelivered == 0)
                    task_append(&p->delivered_tail, task);
            }
        }
        if (!rc && (redo & REDO_SIZE_NOTICE))
            rc = produce_size_notice(p, task, task->reply_topic, task->result.size);
        else if (!rc && (redo & REDO_RESULT))
            rc = produce_answer(p, task->reply_topic, task->job_id, strlen(task->job_id),
                                task->result.data, task->result.size, task);
        if (rc)
            p->failed = true;
    }
}

void publisher_poll(struct publisher *p, int timeout_ms, struct task ***delivered)
{
    rd_kafka_poll(p->producer, timeout_ms);
    produce_again(p);
    if (p->delivered) {
        **delivered = p->delivered;
        *delivered = p->delivered_tail;
        p->delivered = NULL;
        p->delivered_tail = &p->delivered;
    }
}

void publisher_abandon(struct publisher *p, struct task ***abandoned)
{
    p->abandoning = true;
    rd_kafka_purge(p->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    /* Purged messages report back through the poll, not all at once. */
    for (int i = 0; i < 20 && rd_kafka_outq_len(p->producer) > 0; i++)
        publisher_poll(p, 50, abandoned);
}

void publisher_flush(struct publisher *p, int timeout_ms, struct task ***delivered)
{
    int64_t give_up = monotonic_ms() + timeout_ms;
    do
        publisher_poll(p, 100, delivered);
    while (rd_kafka_outq_len(p->producer) > 0 && monotonic_ms() < give_up);
}

void publisher_on_audit(struct publisher *p, publisher_audit_report report, void *ctx)
{
    p->audit_report = report;
    p->audit_ctx = ctx;
}

rd_kafka_resp_err_t publisher_produce_audit(struct publisher *p, const char *key, const void *value,
                                            size_t len, int64_t seq)
{
    if (!p->topic_audit)
        return RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    return produce_once(p, p->topic_audit, key, strlen(key), value, len, (void *)(intptr_t)seq);
}

/* Any thread. Waits for room instead of polling: only the main loop serves
 * delivery reports. */
static void produce_log(struct publisher *p, const char *topic, const char *job_id,
                        const void *value, size_t len)
{
    int64_t give_up = monotonic_ms() + LOG_QUEUE_WAIT_MS;
    for (;;) {
        rd_kafka_resp_err_t err = produce_once(p, topic, job_id, strlen(job_id), value, len, NULL);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || monotonic_ms() >= give_up) {
            metrics_log_chunk_dropped();
            log_warn(job_id, "a log chunk was dropped: producing to %s: %s", topic,
                     rd_kafka_err2str(err));
            return;
        }
        struct timespec pause = {.tv_nsec = 5 * 1000000};
        while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
            ;
    }
}

void publish_log_chunk(struct publisher *p, struct log_origin *origin, enum brig_stream stream,
                       const char *data, size_t len, bool eos)
{
    do {
        size_t n = len < BRIG_LOG_DATA_MAX_BYTES ? len : BRIG_LOG_DATA_MAX_BYTES;
        struct brig_log_chunk chunk = {
            .id = origin->job_id,
            .attempt = origin->attempt,
            .stream = stream,
            .seq = origin->seq[stream]++,
            .data = {.data = (char *)(data ? data : ""), .len = n},
            .ts_ms = (uint64_t)wall_clock_ms(),
            .eos = eos && n == len,
        };
        msgpack_sbuffer buf;
        struct brig_error err;
        msgpack_sbuffer_init(&buf);
        if (brig_log_chunk_encode(&chunk, &buf, &err) == 0)
            produce_log(p, origin->topic ? origin->topic : p->topic_logs, origin->job_id, buf.data,
                        buf.size);
        else
            log_error(origin->job_id, "encoding a log chunk: %s: %s", err.field, err.reason);
        msgpack_sbuffer_destroy(&buf);
        if (data)
            data += n;
        len -= n;
    } while (len > 0);
}
