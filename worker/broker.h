/* The embedded Kafka-protocol broker: librdkafka's mock cluster, run in the
 * worker's process when no --brokers are given, and by the test broker. It
 * keeps messages in memory only; production points --brokers at Kafka.
 * Clients reach it through a gate (broker_gate.h) that keeps producers from
 * making it delete jobs nobody read. */
#ifndef BRIG_WORKER_BROKER_H
#define BRIG_WORKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/broker_gate.h"

struct embedded_broker;

/* What the mock keeps of a partition (rdkafka_mock.c: not configurable). */
#define MOCK_PARTITION_BYTES (5u << 20)
#define MOCK_PARTITION_SETS 100000u

/* Starts n_brokers brokers on random loopback ports and creates each topic
 * with the given number of partitions. With a gate (its limits filled in
 * here), clients reach the brokers through it; without one (tests of how
 * workers see a cluster delete unread jobs), directly. */
int embedded_broker_start(int n_brokers, const char *const *topics, size_t n_topics, int partitions,
                          const struct broker_gate_config *gate, struct embedded_broker **out,
                          char *err, size_t errlen);

/* "127.0.0.1:port,..." for bootstrap.servers: the gate's, if any. */
const char *embedded_broker_bootstraps(const struct embedded_broker *broker);

/* Takes broker id (1..n, or -1 for all) down or back up: connections are
 * closed and refused while it is down; its data stays. */
int embedded_broker_set_down(struct embedded_broker *broker, int32_t broker_id, bool down);

void embedded_broker_stop(struct embedded_broker *broker);

#endif
