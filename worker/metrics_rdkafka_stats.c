/* Consumer lag and broker connections from librdkafka's statistics JSON
 * (https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md),
 * which the client computes anyway: no extra request to the cluster. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/metrics.h"

struct partition_lag {
    int32_t partition;
    int64_t lag; /* -1: unknown or not ours, forget it */
    struct stats_partition seen;
};

static int integer_field(json_t *object, const char *path, const char *key, int64_t *out, char *err,
                         size_t errlen)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_integer(value)) {
        snprintf(err, errlen, "librdkafka statistics: %s.%s: not an integer", path, key);
        return -1;
    }
    *out = json_integer_value(value);
    return 0;
}

static int read_partition(json_t *p, const char *path, struct partition_lag *out, char *err,
                          size_t errlen)
{
    int64_t number, lag, end, position, next_fetch, start, queued;
    if (!json_is_object(p)) {
        snprintf(err, errlen, "librdkafka statistics: %s: not an object", path);
        return -1;
    }
    json_t *desired = json_object_get(p, "desired");
    if (!json_is_boolean(desired)) {
        snprintf(err, errlen, "librdkafka statistics: %s.desired: not a boolean", path);
        return -1;
    }
    if (integer_field(p, path, "partition", &number, err, errlen) < 0 ||
        integer_field(p, path, "consumer_lag", &lag, err, errlen) < 0 ||
        integer_field(p, path, "hi_offset", &end, err, errlen) < 0 ||
        integer_field(p, path, "app_offset", &position, err, errlen) < 0 ||
        integer_field(p, path, "next_offset", &next_fetch, err, errlen) < 0 ||
        integer_field(p, path, "lo_offset", &start, err, errlen) < 0 ||
        integer_field(p, path, "fetchq_cnt", &queued, err, errlen) < 0)
        return -1;
    if (number < -1 || number > INT32_MAX) {
        snprintf(err, errlen, "librdkafka statistics: %s.partition: %lld is out of range", path,
                 (long long)number);
        return -1;
    }
    /* Offsets below 0 are librdkafka's "not known yet" markers. Before the
     * first message reaches the application, its position is where the
     * next fetch starts (0 lag on an idle, empty partition). */
    if (position < 0)
        position = next_fetch;
    if (lag < 0 && end >= 0 && position >= 0)
        lag = end > position ? end - position : 0;
    out->partition = (int32_t)number;
    out->lag = json_is_true(desired) ? lag : -1;
    out->seen = (struct stats_partition){.partition = (int32_t)number,
                                         .log_start = start,
                                         .next_fetch = next_fetch,
                                         .queued = queued};
    return 0;
}

/* Brokers in state UP, not counting the logical ones (the group coordinator
 * handle) that librdkafka lists beside the real connections. */
static int count_brokers_up(json_t *brokers, char *err, size_t errlen)
{
    const char *name;
    json_t *broker;
    int up = 0;
    if (!json_is_object(brokers)) {
        snprintf(err, errlen, "librdkafka statistics: brokers: not an object");
        return -1;
    }
    json_object_foreach(brokers, name, broker)
    {
        const char *state = json_string_value(json_object_get(broker, "state"));
        const char *source = json_string_value(json_object_get(broker, "source"));
        if (!state) {
            snprintf(err, errlen, "librdkafka statistics: brokers.%s.state: not a string", name);
            return -1;
        }
        if (strcmp(state, "UP") == 0 && !(source && strcmp(source, "logical") == 0))
            up++;
    }
    return up;
}

int metrics_update_from_rdkafka_stats(const char *json, size_t len, const char *topic,
                                      void (*on_partition)(void *, const struct stats_partition *),
                                      void *ctx, char *err, size_t errlen)
{
    struct partition_lag *lags = NULL;
    size_t n_lags = 0;
    int up = -1;
    json_error_t parse_error;
    json_t *root = json_loadb(json, len, 0, &parse_error);
    if (!root) {
        snprintf(err, errlen, "librdkafka statistics: line %d: %s", parse_error.line,
                 parse_error.text);
        return -1;
    }
    if ((up = count_brokers_up(json_object_get(root, "brokers"), err, errlen)) < 0)
        goto out;

    json_t *topics = json_object_get(root, "topics");
    if (!json_is_object(topics)) {
        snprintf(err, errlen, "librdkafka statistics: topics: not an object");
        up = -1;
        goto out;
    }
    /* Absent until the consumer has the topic's metadata. */
    json_t *partitions = json_object_get(json_object_get(topics, topic), "partitions");
    if (partitions) {
        if (!json_is_object(partitions)) {
            snprintf(err, errlen, "librdkafka statistics: topics.%s.partitions: not an object",
                     topic);
            up = -1;
            goto out;
        }
        /* Everything is read before anything is recorded, so a bad document
         * changes nothing. */
        lags = calloc(json_object_size(partitions) + 1, sizeof(*lags));
        if (!lags) {
            snprintf(err, errlen, "librdkafka statistics: out of memory");
            up = -1;
            goto out;
        }
        const char *key;
        json_t *p;
        json_object_foreach(partitions, key, p)
        {
            char path[512];
            snprintf(path, sizeof(path), "topics.%s.partitions.%s", topic, key);
            if (read_partition(p, path, &lags[n_lags], err, errlen) < 0) {
                up = -1;
                goto out;
            }
            n_lags++;
        }
    }

    for (size_t i = 0; i < n_lags; i++) {
        if (lags[i].partition < 0) /* the unassigned-partition queue */
            continue;
        if (lags[i].lag >= 0)
            metrics_set_lag(lags[i].partition, lags[i].lag);
        else
            metrics_forget_lag(lags[i].partition);
        if (lags[i].lag >= 0 && on_partition)
            on_partition(ctx, &lags[i].seen);
    }
    metrics_set_kafka_brokers_up((unsigned)up);

out:
    free(lags);
    json_decref(root);
    return up;
}
