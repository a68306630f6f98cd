/* The worker's two Kafka clients, configured for at-least-once processing:
 * a consumer that never stores an offset by itself, and an idempotent
 * producer for results, logs and dead letters. */
#ifndef BRIG_WORKER_KAFKA_H
#define BRIG_WORKER_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "worker/config.h"

/* The largest message the producer sends to a Kafka cluster: results carry
 * up to 2 x 8 MiB of output (schema/bounds.h), and a cluster's topics need
 * max.message.bytes to match (docker/ checks its compose file against it). */
#define KAFKA_MESSAGE_MAX 16842752

/* rebalance_cb, stats_cb and opaque go into the consumer's configuration;
 * stats_cb gets librdkafka's statistics JSON every 5 s (-X
 * statistics.interval.ms=... changes that), from rd_kafka_consumer_poll(). */
rd_kafka_t *kafka_consumer_new(const struct worker_config *config,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               int (*stats_cb)(rd_kafka_t *, char *, size_t, void *), void *opaque,
                               char *err, size_t errlen);

/* dr_cb receives every delivery report, from rd_kafka_poll() on the
 * producer. */
rd_kafka_t *kafka_producer_new(const struct worker_config *config,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen);

/* Destroys rk, waiting at most timeout_ms: librdkafka 2.0.2's destroy can
 * wait for ever for its own thread (seen after the subscribed topic was
 * deleted). Past the bound the handle is left to the process's exit, and
 * false is returned. */
bool kafka_destroy_bounded(rd_kafka_t *rk, int flags, int timeout_ms);

#define KAFKA_ERROR_MAX 512

/* A consumer outside the worker's group, given its partitions by hand, that
 * commits nothing (control.c). */
rd_kafka_t *kafka_reader_new(const struct worker_config *config, char *err, size_t errlen);

/* A short-lived client for admin requests (topics.c). last_error (of
 * KAFKA_ERROR_MAX bytes) receives, from the client's poll, the last error
 * that retrying does not cure: credentials, certificates, authorization. */
rd_kafka_t *kafka_admin_new(const struct worker_config *config, char *last_error, char *err,
                            size_t errlen);

#endif
