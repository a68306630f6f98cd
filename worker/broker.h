/* The embedded Kafka-protocol broker: librdkafka's mock cluster, run in the
 * worker's process when no --brokers are given, and by the test broker. It
 * keeps messages in memory only; production points --brokers at Kafka. */
#ifndef BRIG_WORKER_BROKER_H
#define BRIG_WORKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct embedded_broker;

/* Starts n_brokers brokers on random loopback ports and creates each topic
 * with the given number of partitions. */
int embedded_broker_start(int n_brokers, const char *const *topics, size_t n_topics, int partitions,
                          struct embedded_broker **out, char *err, size_t errlen);

/* "127.0.0.1:port,..." for bootstrap.servers. */
const char *embedded_broker_bootstraps(const struct embedded_broker *broker);

/* Takes broker id (1..n, or -1 for all) down or back up: connections are
 * closed and refused while it is down; its data stays. */
int embedded_broker_set_down(struct embedded_broker *broker, int32_t broker_id, bool down);

void embedded_broker_stop(struct embedded_broker *broker);

#endif
