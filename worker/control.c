#include "worker/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/kafka.h"
#include "worker/log.h"

#define METADATA_TIMEOUT_MS 10000
/* Requests read per poll, so that a flood of them cannot hold the loop. */
#define POLL_BATCH 64
#define RETRY_PAUSE_US 200000

struct control_reader {
    rd_kafka_t *consumer;
};

/* A topic the worker has just created has no leaders for a moment, and a
 * leader may move while the worker starts: worth asking again. */
static bool retriable(rd_kafka_resp_err_t rc)
{
    switch (rc) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
        return true;
    default:
        return false;
    }
}

/* Every partition of topic, at the first offset of CONTROL_LOOKBACK_MS ago
 * (the end where none is that recent); parts NULL on failure. */
static rd_kafka_resp_err_t find_recent(rd_kafka_t *rk, const char *topic,
                                       rd_kafka_topic_partition_list_t **parts, const char **what)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t rc = rd_kafka_metadata(rk, 0, rkt, &md, METADATA_TIMEOUT_MS);
    *what = "reading the partitions of";
    *parts = NULL;
    if (!rc && md->topic_cnt != 1)
        rc = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    else if (!rc)
        rc = md->topics[0].err;
    if (!rc) {
        *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; i < md->topics[0].partition_cnt; i++)
            rd_kafka_topic_partition_list_add(*parts, topic, md->topics[0].partitions[i].id)
                ->offset = wall_clock_ms() - CONTROL_LOOKBACK_MS;
        *what = "finding the recent requests of";
        rc = rd_kafka_offsets_for_times(rk, *parts, METADATA_TIMEOUT_MS);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (rc && *parts) {
        rd_kafka_topic_partition_list_destroy(*parts);
        *parts = NULL;
    }
    return rc;
}

static int assign_recent(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
    int64_t deadline = monotonic_ms() + METADATA_TIMEOUT_MS;
    rd_kafka_topic_partition_list_t *parts;
    const char *what;
    rd_kafka_resp_err_t rc;
    while ((rc = find_recent(rk, topic, &parts, &what)) && retriable(rc) &&
           monotonic_ms() < deadline)
        usleep(RETRY_PAUSE_US);
    if (!rc) {
        for (int i = 0; i < parts->cnt; i++)
            if (parts->elems[i].offset < 0)
                parts->elems[i].offset = RD_KAFKA_OFFSET_END;
        what = "assigning the partitions of";
        rc = rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (rc) {
        snprintf(err, errlen, "%s %s: %s", what, topic, rd_kafka_err2str(rc));
        return -1;
    }
    return 0;
}

int control_reader_new(const struct worker_config *config, const char *topic,
                       struct control_reader **out, char *err, size_t errlen)
{
    struct control_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "creating the control reader: out of memory");
        return -1;
    }
    if (!(r->consumer = kafka_reader_new(config, err, errlen)) ||
        assign_recent(r->consumer, topic, err, errlen) < 0) {
        control_reader_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void control_reader_free(struct control_reader *r)
{
    if (!r)
        return;
    if (r->consumer) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    free(r);
}

void control_reader_poll(struct control_reader *r, control_request_fn fn, void *ctx)
{
    for (int n = 0; n < POLL_BATCH; n++) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->consumer, 0);
        if (!msg)
            return;
        struct brig_control request;
        struct brig_error derr;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(NULL, "control reader: %s", rd_kafka_message_errstr(msg));
        } else if (brig_control_decode(msg->payload, msg->len, &request, &derr) < 0) {
            log_warn(NULL, "a control message at %s[%d]@%lld is not one: %s: %s",
                     rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                     derr.field, derr.reason);
        } else {
            fn(ctx, &request, msg);
            brig_control_free(&request);
        }
        rd_kafka_message_destroy(msg);
    }
}
