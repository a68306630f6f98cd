/* The topics a worker needs on a Kafka cluster, created when missing. */
#ifndef BRIG_WORKER_TOPICS_H
#define BRIG_WORKER_TOPICS_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/config.h"

/* Topics per call: a worker's own, or a batch of its tenants' (tenants.c). */
#define TOPICS_MAX 64
/* Partitions of the topics a worker creates on a cluster without
 * --partitions: the most workers (or slots' worth of sessions) a topic
 * spreads over. */
#define TOPIC_PARTITIONS_DEFAULT 12

struct topic_need {
    const char *name;
    int partitions; /* 0: --partitions, else TOPIC_PARTITIONS_DEFAULT */
    /* Settings of a created topic, {NULL} last. */
    const char *const (*configs)[2];
    /* Carries messages up to KAFKA_MESSAGE_MAX: an existing topic that takes
     * less is reported. */
    bool large_messages;
};

/* {"max.message.bytes", ...}, {NULL}: for the topics of jobs, results and
 * dead letters. */
extern const char *const topic_large_messages[][2];

/* Creates the missing topics of needs (replication min(brokers, 3), and
 * min.insync.replicas 2 with 3 replicas) and checks the existing ones.
 * Returns 0, or -1 with a sentence in err: the cluster did not answer, or it
 * refused to create a topic, and then which topics and settings to make. */
int topics_prepare(const struct worker_config *config, const struct topic_need *needs, size_t n,
                   char *err, size_t errlen);

#endif
