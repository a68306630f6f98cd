/* brig_read_runtimes: what the pool's workers announced on <prefix>.runtimes
 * (SCHEMA.md section 9), a compacted topic read as compaction would leave
 * it: each partition from its beginning to the end it had when the read
 * started (its high watermark, asked first), the last value of each key
 * kept, a tombstone (a null value) removing its key. Compaction leaves gaps
 * in the offsets, even below the high watermark, so the end of a partition
 * is also known from librdkafka's partition-EOF event. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "producer/brig.h"
#include "producer/kafka_setup.h"

#define POLL_MS 100

/* How far each assigned partition must be read. */
struct partition_goal {
    int32_t partition;
    int64_t end;  /* the high watermark when the read started */
    int64_t next; /* the offset after the last message read */
};

struct goals {
    struct partition_goal *items;
    size_t count;
};

static int set_goals(rd_kafka_t *consumer, const char *topic, const struct kafka_params *params,
                     struct goals *goals, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(consumer, &assigned);
    if (e) {
        snprintf(err, errlen, "reading the assignment of %s: %s", topic, rd_kafka_err2str(e));
        return -1;
    }
    int rc = -1;
    goals->items = calloc((size_t)assigned->cnt + 1, sizeof *goals->items);
    if (!goals->items) {
        snprintf(err, errlen, "reading %s: %s", topic, strerror(ENOMEM));
        goto out;
    }
    for (int i = 0; i < assigned->cnt; i++) {
        int64_t low, high;
        int32_t partition = assigned->elems[i].partition;
        e = rd_kafka_query_watermark_offsets(consumer, topic, partition, &low, &high,
                                             (int)params->timeout_ms);
        if (e) {
            snprintf(err, errlen, "asking where %s[%d] ends: %s", topic, (int)partition,
                     rd_kafka_err2str(e));
            goto out;
        }
        goals->items[goals->count++] = (struct partition_goal){partition, high, low};
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(assigned);
    return rc;
}

static bool every_goal_reached(const struct goals *goals)
{
    for (size_t i = 0; i < goals->count; i++) {
        if (goals->items[i].next < goals->items[i].end)
            return false;
    }
    return true;
}

/* A message, or the partition-EOF event, whose offset is where the
 * partition ends now. */
static void note_read(struct goals *goals, const rd_kafka_message_t *m)
{
    int64_t next = m->err ? m->offset : m->offset + 1;
    for (size_t i = 0; i < goals->count; i++) {
        if (goals->items[i].partition == m->partition && next > goals->items[i].next)
            goals->items[i].next = next;
    }
}

/* The worker whose record the key holds, or NULL. */
static struct brig_runtimes *find_worker(struct brig_runtimes_read *out, const void *key,
                                         size_t len)
{
    for (size_t i = 0; i < out->count; i++) {
        const char *id = out->workers[i].worker_id;
        if (strlen(id) == len && memcmp(id, key, len) == 0)
            return &out->workers[i];
    }
    return NULL;
}

/* One message: a record replaces its key's, a tombstone removes it. A record
 * whose key is not its worker id is not one a worker wrote: it is counted
 * with those that do not decode. */
static int take(struct brig_runtimes_read *out, const rd_kafka_message_t *m, char *err,
                size_t errlen)
{
    if (!m->key)
        return 0;
    struct brig_runtimes *known = find_worker(out, m->key, m->key_len);
    if (!m->payload) {
        if (known) {
            brig_runtimes_free(known);
            *known = out->workers[--out->count];
        }
        return 0;
    }
    struct brig_runtimes record;
    struct brig_error why;
    bool decoded = brig_runtimes_decode(m->payload, m->len, &record, &why) == 0;
    if (!decoded || strlen(record.worker_id) != m->key_len ||
        memcmp(record.worker_id, m->key, m->key_len) != 0) {
        if (out->undecodable++ == 0) {
            char what[256];
            if (decoded)
                snprintf(what, sizeof what, "worker_id: \"%s\" is not the record's key",
                         record.worker_id);
            else
                brig_error_format(&why, what, sizeof what);
            snprintf(out->undecodable_why, sizeof out->undecodable_why, "key %.*s, offset %lld: %s",
                     (int)(m->key_len < 64 ? m->key_len : 64), (const char *)m->key,
                     (long long)m->offset, what);
        }
        brig_runtimes_free(&record);
        return 0;
    }
    if (known) {
        brig_runtimes_free(known);
        *known = record;
        return 0;
    }
    struct brig_runtimes *grown = realloc(out->workers, (out->count + 1) * sizeof *grown);
    if (!grown) {
        brig_runtimes_free(&record);
        snprintf(err, errlen, "keeping a runtimes record: %s", strerror(ENOMEM));
        return -1;
    }
    out->workers = grown;
    out->workers[out->count++] = record;
    return 0;
}

static int compare_workers(const void *a, const void *b)
{
    return strcmp(((const struct brig_runtimes *)a)->worker_id,
                  ((const struct brig_runtimes *)b)->worker_id);
}

static int read_to_the_end(rd_kafka_t *consumer, const char *topic,
                           const struct kafka_params *params, struct brig_runtimes_read *out,
                           char *err, size_t errlen)
{
    size_t assigned;
    struct goals goals = {0};
    int rc = -1;
    if (kafka_assign(consumer, &topic, 1, BRIG_START_BEGINNING, params, &assigned, err, errlen) <
            0 ||
        set_goals(consumer, topic, params, &goals, err, errlen) < 0)
        goto out;
    int64_t deadline = monotonic_ms() + params->timeout_ms;
    while (!every_goal_reached(&goals)) {
        if (monotonic_ms() >= deadline) {
            snprintf(err, errlen, "reading %s to its end took longer than %u ms", topic,
                     params->timeout_ms);
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        rd_kafka_poll(consumer, 0); /* error callbacks */
        if (!m)
            continue;
        int taken = 0;
        if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            note_read(&goals, m);
        if (!m->err)
            taken = take(out, m, err, errlen);
        rd_kafka_message_destroy(m);
        if (taken < 0)
            goto out;
    }
    qsort(out->workers, out->count, sizeof *out->workers, compare_workers);
    rc = 0;
out:
    free(goals.items);
    return rc;
}

int brig_read_runtimes(const struct brig_client_config *config, struct brig_runtimes_read *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!config->brokers || !*config->brokers) {
        snprintf(err, errlen, "brokers: no Kafka bootstrap servers given");
        return -1;
    }
    char topic[BRIG_TOPIC_MAX + 2];
    if (snprintf(topic, sizeof topic, "%s.runtimes",
                 config->topic_prefix ? config->topic_prefix : "brig") > BRIG_TOPIC_MAX) {
        snprintf(err, errlen, "topic prefix: the runtimes topic name would be over %d bytes",
                 BRIG_TOPIC_MAX);
        return -1;
    }
    struct kafka_diag diag;
    kafka_diag_init(&diag);
    struct property_list kafka = {0};
    struct kafka_params params = {
        .brokers = config->brokers,
        .client_id = config->client_id ? config->client_id : "brig-client",
        .timeout_ms = config->timeout_ms ? config->timeout_ms : 10000,
        .diag = &diag,
        .properties = &kafka,
    };
    int rc = -1;
    rd_kafka_t *consumer = kafka_load_properties(config, &kafka, err, errlen) == 0
                               ? kafka_consumer_create(&params, true, err, errlen)
                               : NULL;
    if (consumer && kafka_check_reachable(consumer, &params, err, errlen) == 0)
        rc = read_to_the_end(consumer, topic, &params, out, err, errlen);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    kafka_diag_destroy(&diag);
    properties_free(&kafka);
    if (rc < 0)
        brig_runtimes_read_free(out);
    return rc;
}

void brig_runtimes_read_free(struct brig_runtimes_read *read)
{
    for (size_t i = 0; i < read->count; i++)
        brig_runtimes_free(&read->workers[i]);
    free(read->workers);
    memset(read, 0, sizeof *read);
}
