/* brig_read_logs: one job's log chunks from the beginning of the logs
 * topic, with a consumer of its own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/brig.h"
#include "producer/kafka_setup.h"
#include "producer/log_order.h"

#define POLL_MS 100

struct log_reader {
    brig_log_fn fn;
    void *ctx;
};

static void pass_on(void *ctx, struct brig_log_chunk *chunk)
{
    const struct log_reader *reader = ctx;
    reader->fn(reader->ctx, chunk);
    brig_log_chunk_free(chunk);
}

static void feed(struct log_order *order, const rd_kafka_message_t *m, const char *id,
                 struct log_reader *reader)
{
    size_t id_len = strlen(id);
    if (m->key && (m->key_len != id_len || memcmp(m->key, id, id_len) != 0))
        return;
    struct brig_log_chunk chunk;
    struct brig_error error;
    if (brig_log_chunk_decode(m->payload, m->len, &chunk, &error) < 0)
        return;
    if (strcmp(chunk.id, id) != 0) {
        brig_log_chunk_free(&chunk);
        return;
    }
    log_order_feed(order, &chunk, pass_on, reader);
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
    char topic[BRIG_TOPIC_MAX + 2];
    const char *topics[1] = {topic};
    if ((size_t)snprintf(topic, sizeof topic, "%s.logs",
                         config->topic_prefix ? config->topic_prefix : "brig") > BRIG_TOPIC_MAX) {
        snprintf(err, errlen, "topic prefix: the logs topic name would be over %d bytes",
                 BRIG_TOPIC_MAX);
        return -1;
    }
    struct kafka_diag diag;
    kafka_diag_init(&diag);
    struct kafka_params params = {
        .brokers = config->brokers,
        .client_id = config->client_id ? config->client_id : "brig-client",
        .timeout_ms = config->timeout_ms ? config->timeout_ms : 5000,
        .diag = &diag,
    };
    struct log_order order = {0};
    struct log_reader reader = {fn, ctx};
    size_t n_partitions = 0, at_end = 0;
    bool *ended_partition = NULL;
    int rc = -1;
    rd_kafka_t *consumer = kafka_consumer_create(&params, !follow, err, errlen);
    if (!consumer || kafka_check_reachable(consumer, &params, err, errlen) < 0 ||
        kafka_assign(consumer, topics, 1, BRIG_START_BEGINNING, &params, &n_partitions, err,
                     errlen) < 0)
        goto out;
    /* Kafka numbers partitions from 0; an end report for any other number
     * is ignored below. */
    ended_partition = calloc(n_partitions, sizeof *ended_partition);
    if (!ended_partition) {
        snprintf(err, errlen, "allocating the partition table: %s", strerror(errno));
        goto out;
    }
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : kafka_now_ms() + timeout_ms;
    for (;;) {
        if (follow && log_order_ended(&order)) {
            rc = 0;
            break;
        }
        if (!follow && at_end == n_partitions) {
            log_order_flush(&order, pass_on, &reader);
            rc = 0;
            break;
        }
        if (kafka_now_ms() >= deadline) {
            snprintf(err, errlen, "the logs of job %s did not end within %lld ms", id,
                     (long long)timeout_ms);
            rc = BRIG_TIMED_OUT;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        rd_kafka_poll(consumer, 0); /* error callbacks */
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && (size_t)m->partition < n_partitions &&
                !ended_partition[m->partition]) {
                ended_partition[m->partition] = true;
                at_end++;
            }
        } else if (!m->err) {
            feed(&order, m, id, &reader);
        }
        rd_kafka_message_destroy(m);
    }
out:
    free(ended_partition);
    log_order_free(&order);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    kafka_diag_destroy(&diag);
    return rc;
}
