/* The gate in front of the embedded broker (librdkafka's mock cluster).
 *
 * The mock keeps about 5 MiB of each partition and deletes the oldest
 * messages, read or not, to append more (gate_ledger.h). A producer, brig's
 * or any other, talks to the gate's ports instead; the gate relays every
 * request and response as bytes, except that it
 *   - answers a Produce to the jobs topic itself when the partition cannot
 *     keep the set without deleting jobs the group has not committed past:
 *     NOT_ENOUGH_REPLICAS, which every Kafka client retries (it waits until
 *     workers read the backlog, or its delivery times out and it says so),
 *     or MESSAGE_TOO_LARGE past half a partition, which the mock cannot keep
 *     at all (gate_ledger.h);
 *   - reads the group's OffsetCommits and the Produce answers, to know what
 *     is unread;
 *   - rewrites the brokers' ports in Metadata and FindCoordinator answers to
 *     its own, so that clients never reach the mock directly.
 * It pins the mock to the API versions it parses (gate_wire.h). One thread
 * serves every connection with epoll. */
#ifndef BRIG_WORKER_BROKER_GATE_H
#define BRIG_WORKER_BROKER_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/gate_ledger.h"

struct broker_gate_config {
    const char *topic; /* the jobs topic */
    const char *group; /* the workers' group, whose commits free it */
    struct gate_limits limits;
};

struct broker_gate;

/* Listens on a loopback port for each of the mock's brokers (upstream, its
 * "127.0.0.1:port,..." in broker order) and starts serving. */
int broker_gate_start(const struct broker_gate_config *config, const char *upstream,
                      struct broker_gate **out, char *err, size_t errlen);

/* The gate's "127.0.0.1:port,...", in the same order. */
const char *broker_gate_bootstraps(const struct broker_gate *gate);

/* Stops the thread and closes every connection. NULL is a no-op. */
void broker_gate_stop(struct broker_gate *gate);

#endif
