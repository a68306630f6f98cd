#include <stdio.h>
#include <string.h>
#include <time.h>

#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/worker.h"

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Produces a copy of value; a full local queue is waited out, since dropping
 * an answer is never an option. opaque reaches the delivery report. */
static rd_kafka_resp_err_t produce(struct worker *w, const char *topic, const char *key,
                                   const void *value, size_t len, void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return err;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            metrics_producer_error();
            log_error(key, "producing to %s: %s", topic, rd_kafka_err2str(err));
            return err;
        }
        rd_kafka_poll(w->producer, 10);
    }
}

static bool too_large(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* A result the cluster refuses for its size is replaced by a short one that
 * says so, so that the job's sender still gets an answer. */
static rd_kafka_resp_err_t produce_size_notice(struct worker *w, struct task *task,
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
        .worker_id = w->config->worker_id,
        .error = text,
    };
    msgpack_sbuffer buf;
    struct brig_error err;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__FAIL;
    msgpack_sbuffer_init(&buf);
    if (brig_result_encode(&notice, &buf, &err) == 0)
        rc = produce(w, topic, task->job_id, buf.data, buf.size, task);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

int publish_task(struct worker *w, struct task *task)
{
    rd_kafka_resp_err_t rc;
    if (task->dead_letter.size > 0) {
        rc = produce(w, w->topic_dlq, task->job_id[0] ? task->job_id : NULL, task->dead_letter.data,
                     task->dead_letter.size, task);
        if (rc)
            return -1;
        task->undelivered++;
    }
    if (task->result.size > 0) {
        rc =
            produce(w, task->reply_topic, task->job_id, task->result.data, task->result.size, task);
        if (too_large(rc))
            rc = produce_size_notice(w, task, task->reply_topic, task->result.size);
        if (rc)
            return -1;
        task->undelivered++;
    }
    return 0;
}

void publish_log_chunk(struct worker *w, struct task *task, enum brig_stream stream,
                       const char *data, size_t len, bool eos)
{
    /* Large reads go out as several chunks, each within the schema's bound. */
    do {
        size_t n = len < BRIG_LOG_DATA_MAX_BYTES ? len : BRIG_LOG_DATA_MAX_BYTES;
        struct brig_log_chunk chunk = {
            .id = task->job.id,
            .attempt = (uint64_t)task->attempt_number,
            .stream = stream,
            .seq = task->log_seq[stream]++,
            .data = {.data = (char *)(data ? data : ""), .len = n},
            .ts_ms = (uint64_t)now_ms(),
            .eos = eos && n == len,
        };
        msgpack_sbuffer buf;
        struct brig_error err;
        msgpack_sbuffer_init(&buf);
        if (brig_log_chunk_encode(&chunk, &buf, &err) == 0)
            produce(w, w->topic_logs, task->job.id, buf.data, buf.size, NULL);
        else
            log_error(task->job.id, "encoding a log chunk: %s: %s", err.field, err.reason);
        msgpack_sbuffer_destroy(&buf);
        data += n;
        len -= n;
    } while (len > 0);
}

void publish_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct worker *w = opaque;
    struct task *task = msg->_private;
    char reason[512];

    if (msg->err) {
        metrics_producer_error();
        if (rd_kafka_fatal_error(rk, reason, sizeof(reason))) {
            log_error(NULL, "FATAL: the Kafka producer failed for good: %s", reason);
            w->fatal = true;
            return;
        }
        if (!task)
            return; /* a lost log chunk: the result still carries the output */
        if (too_large(msg->err) && task->result.size == msg->len) {
            if (produce_size_notice(w, task, rd_kafka_topic_name(msg->rkt), msg->len))
                w->fatal = true;
            return;
        }
        /* librdkafka already retried for message.timeout.ms; an answer is
         * never dropped, so try again. */
        log_warn(task->job_id, "delivery to %s failed (%s); retrying",
                 rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
        char key[BRIG_ID_MAX + 1] = "";
        if (msg->key_len < sizeof(key))
            memcpy(key, msg->key, msg->key_len);
        if (produce(w, rd_kafka_topic_name(msg->rkt), key[0] ? key : NULL, msg->payload, msg->len,
                    task) < 0)
            w->fatal = true;
        return;
    }
    if (task && --task->undelivered == 0) {
        task->next = w->delivered;
        w->delivered = task;
    }
}
