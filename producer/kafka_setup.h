/* The client's Kafka handles: their settings, the reachability check, and
 * the consumer's positioning at the start or end of its topics. */
#ifndef BRIG_PRODUCER_KAFKA_SETUP_H
#define BRIG_PRODUCER_KAFKA_SETUP_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/properties.h"
#include "producer/brig.h"

/* The last error librdkafka reported on a handle ("127.0.0.1:1/bootstrap:
 * Connect to ipv4#127.0.0.1:1 failed: Connection refused"), to explain a
 * failure better than a bare timeout. librdkafka's own log lines are not
 * printed: a client library must not write to the application's stderr. */
struct kafka_diag {
    pthread_mutex_t lock;
    char last_error[512];
    bool refused; /* the cluster refused the client: credentials, certificate */
};

void kafka_diag_init(struct kafka_diag *diag);
void kafka_diag_destroy(struct kafka_diag *diag);

struct kafka_params {
    const char *brokers;
    const char *client_id;
    unsigned timeout_ms; /* to reach the broker and to position a consumer */
    struct kafka_diag *diag;
    const struct property_list *properties; /* the caller's, applied last */
    /* The broker answers an empty fetch only once its whole wait is over,
     * even when a message arrives meanwhile: see kafka_holds_fetches(). */
    bool holds_fetches;
};

/* The properties a client config asks for (its file, then its strings) into
 * list; -1 with err naming the file line or the string. */
int kafka_load_properties(const struct brig_client_config *config, struct property_list *list,
                          char *err, size_t errlen);

/* An idempotent producer whose deliveries fail after delivery_timeout_ms;
 * dr_cb gets each delivery report from rd_kafka_poll(). */
rd_kafka_t *kafka_producer_create(const struct kafka_params *params, unsigned delivery_timeout_ms,
                                  void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  char *err, size_t errlen);

/* A consumer that commits nothing and is only ever given partitions by
 * kafka_assign(); partition_eof: report reaching the end of a partition. */
rd_kafka_t *kafka_consumer_create(const struct kafka_params *params, bool partition_eof, char *err,
                                  size_t errlen);

/* A consumer's fetch.wait.max.ms when the broker holds fetches: 200 fetches a
 * second from an idle client, on the machine's own broker. */
#define KAFKA_HELD_FETCH_WAIT_MS 5

/* Whether rk, connected, talks to librdkafka's mock cluster (the worker's
 * embedded broker), which holds every empty fetch for fetch.wait.max.ms
 * where Kafka answers as soon as data arrives. */
bool kafka_holds_fetches(rd_kafka_t *rk);

/* Whether this client's principal may use topic: false only when the
 * cluster says it is not authorized (Kafka ACLs). */
bool kafka_topic_authorized(rd_kafka_t *rk, const char *topic, const struct kafka_params *params);

/* Fails, saying why, when no broker answers within params->timeout_ms. */
int kafka_check_reachable(rd_kafka_t *rk, const struct kafka_params *params, char *err,
                          size_t errlen);

/* Appends every partition of topic to list (offsets unset), waiting for the
 * topic up to params->timeout_ms. */
int kafka_partitions(rd_kafka_t *rk, const char *topic, const struct kafka_params *params,
                     rd_kafka_topic_partition_list_t *list, char *err, size_t errlen);

/* Assigns every partition of the topics to consumer, at the offset where
 * start says (BRIG_START_END: each partition's current end, fetched now).
 * A topic that does not exist is waited for until the timeout (a broker that
 * auto-creates topics creates it on the first request). *n_partitions gets
 * how many were assigned. */
int kafka_assign(rd_kafka_t *consumer, const char *const *topics, size_t n_topics,
                 enum brig_start start, const struct kafka_params *params, size_t *n_partitions,
                 char *err, size_t errlen);

#endif
