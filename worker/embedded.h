/* The embedded broker as brig-worker uses it when no --brokers are given.
 *
 * The first worker of a state directory starts one (librdkafka's mock
 * cluster, in its own process: in memory only) and publishes its address in
 * <state>/broker; later workers of that state directory join it, as they
 * would any Kafka cluster, so that a second worker adds capacity instead of
 * a second, separate broker. The owner holds an exclusive lock on
 * <state>/broker.lock for its lifetime, so a stale file never misleads (a
 * killed owner's lock is gone with it) and a joiner notices that its broker
 * went away.
 *
 * The mock cluster keeps only about 5 MiB per partition and deletes older
 * messages, read or not, past that (rdkafka_mock.c, not configurable). On
 * the jobs topic its gate (broker_gate.h) makes producers wait instead, and
 * refuses sets over half a partition, which the mock cannot keep at all.
 * So the state file says the largest message it takes, EMBEDDED_MESSAGE_MAX:
 * brig's clients refuse larger jobs before producing, and the worker caps its
 * own messages there (a larger result becomes the short internal_error that
 * says so). */
#ifndef BRIG_WORKER_EMBEDDED_H
#define BRIG_WORKER_EMBEDDED_H

#include <stdbool.h>
#include <stddef.h>

/* A value this size, with its key and its record batch's framing, is a set
 * of at most half of what the mock keeps of a partition (broker.h). */
#define EMBEDDED_MESSAGE_MAX ((5u << 19) - (4u << 10))

struct embedded_broker_link;

/* Starts the embedded broker (creating the topics with partitions each; the
 * first is the jobs topic, which group's commits free: broker_gate.h) or
 * joins the one this state directory's owner runs. */
int embedded_broker_open(const char *state_dir, const char *const *topics, size_t n_topics,
                         int partitions, const char *group, struct embedded_broker_link **out,
                         char *err, size_t errlen);
/* "127.0.0.1:port,..." */
const char *embedded_broker_address(const struct embedded_broker_link *link);
/* Whether this process runs the broker (else it joined). */
bool embedded_broker_owned(const struct embedded_broker_link *link);
/* For a joiner: false, with a sentence in why, once the owner has stopped. */
bool embedded_broker_alive(struct embedded_broker_link *link, char *why, size_t whylen);
/* The owner removes the state file and stops the broker; a joiner only lets
 * go. NULL is a no-op. */
void embedded_broker_close(struct embedded_broker_link *link);

#endif
