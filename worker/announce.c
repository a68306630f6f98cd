#include "worker/announce.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"
#include "worker/kafka.h"
#include "worker/log.h"
#include "worker/worker.h"

/* The one delivery report of an announcement. */
struct delivery {
    bool reported;
    rd_kafka_resp_err_t err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct delivery *delivery = opaque;
    (void)rk;
    delivery->reported = true;
    delivery->err = msg->err;
}

/* Produces value (NULL: a tombstone) keyed by the worker id, and waits for
 * the broker's word. */
static int produce(const struct worker_config *config, const char *topic, const void *value,
                   size_t len, char *err, size_t errlen)
{
    struct delivery delivery = {0};
    char why[512];
    rd_kafka_t *producer = kafka_producer_new(config, on_delivery, &delivery, why, sizeof(why));
    if (!producer) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    int rc = -1;
    rd_kafka_resp_err_t queued =
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY((void *)config->worker_id, strlen(config->worker_id)),
                          RD_KAFKA_V_VALUE((void *)value, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (queued) {
        snprintf(err, errlen, "producing to %s: %s", topic, rd_kafka_err2str(queued));
        goto out;
    }
    rd_kafka_flush(producer, ANNOUNCE_TIMEOUT_MS);
    if (!delivery.reported)
        snprintf(err, errlen, "producing to %s: no word from the broker within %d ms", topic,
                 ANNOUNCE_TIMEOUT_MS);
    else if (delivery.err)
        snprintf(err, errlen, "producing to %s: %s", topic, rd_kafka_err2str(delivery.err));
    else
        rc = 0;
out:
    /* What is still queued is dropped: an announcement is not worth a wait. */
    rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(producer);
    return rc;
}

/* Produces the record of table's runtimes (their versions are asked of
 * runtime_version(), which has them cached since the worker's start; their
 * images were opened before). */
static int announce_runtimes(const struct worker_config *config, const char *topic,
                             struct jail_context *jail, struct runtime_table *table,
                             uint64_t started_ms, char *err, size_t errlen)
{
    struct brig_runtime_entry *entries = calloc(table->count, sizeof(*entries));
    char(*versions)[BRIG_RUNTIME_VERSION_MAX + 1] = calloc(table->count, sizeof(*versions));
    msgpack_sbuffer record;
    msgpack_sbuffer_init(&record);
    int rc = -1;
    if (!entries || !versions) {
        snprintf(err, errlen, "announcing the runtimes: out of memory");
        goto out;
    }
    for (size_t i = 0; i < table->count; i++) {
        struct runtime *rt = &table->runtimes[i];
        char why[512];
        size_t aliases = 0;
        while (rt->aliases[aliases])
            aliases++;
        entries[i] = (struct brig_runtime_entry){
            .name = rt->name,
            .aliases = (const char *const *)rt->aliases,
            .alias_count = aliases,
            .warm = rt->warm != NULL,
            /* The digest, not the path: it names the same tree on every host,
             * whatever each calls the file, and is what the audit store
             * records of the attempts that ran on it. */
            .image = rt->image ? jail_image_digest(rt->image) : NULL,
        };
        /* A runtime whose version command fails is still listed, without a
         * version: its jobs get a setup_error that says why. */
        if (runtime_version(jail, rt, versions[i], sizeof(versions[i]), why, sizeof(why)) == 0)
            entries[i].version = versions[i];
    }
    struct brig_runtimes announced = {
        .worker_id = config->worker_id,
        .started_ms = started_ms,
        .runtimes = entries,
        .runtime_count = table->count,
    };
    struct brig_error encode_err;
    if (brig_runtimes_encode(&announced, &record, &encode_err) < 0) {
        snprintf(err, errlen, "encoding the runtimes record: %s: %s", encode_err.field,
                 encode_err.reason);
        goto out;
    }
    rc = produce(config, topic, record.data, record.size, err, errlen);
out:
    msgpack_sbuffer_destroy(&record);
    free(versions);
    free(entries);
    return rc;
}

static int announce_withdraw(const struct worker_config *config, const char *topic, char *err,
                             size_t errlen)
{
    return produce(config, topic, NULL, 0, err, errlen);
}

void worker_announce(struct worker *w)
{
    char err[512];
    if (announce_runtimes(w->config, w->topic_runtimes, w->jail, w->runtimes,
                          (uint64_t)w->started_ms, err, sizeof(err)) < 0) {
        log_warn(NULL, "announcing the runtimes on %s: %s", w->topic_runtimes, err);
        return;
    }
    w->announced = true;
    log_info(NULL, "announced %zu runtime(s) on %s", w->runtimes->count, w->topic_runtimes);
}

void worker_withdraw(struct worker *w)
{
    char err[512];
    if (w->announced && announce_withdraw(w->config, w->topic_runtimes, err, sizeof(err)) < 0)
        log_warn(NULL, "withdrawing the runtimes from %s: %s", w->topic_runtimes, err);
    w->announced = false;
}
