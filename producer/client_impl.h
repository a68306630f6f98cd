/* The inside of a brig_client, shared by client.c (life cycle and consumer
 * thread), submit.c and wait.c. */
#ifndef BRIG_PRODUCER_CLIENT_IMPL_H
#define BRIG_PRODUCER_CLIENT_IMPL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "producer/brig.h"
#include "schema/signature.h"
#include "producer/kafka_setup.h"
#include "producer/watch_table.h"

struct brig_client {
    rd_kafka_t *producer;
    rd_kafka_t *consumer;
    char brokers[1024];
    char jobs_topic[BRIG_TOPIC_MAX + 1];
    char control_topic[BRIG_TOPIC_MAX + 1];
    char reply_topic[BRIG_TOPIC_MAX + 1];
    char logs_topic[BRIG_TOPIC_MAX + 1];
    bool reply_topic_is_default;      /* jobs then leave reply_topic out */
    char tenant[BRIG_TENANT_MAX + 1]; /* "" = messages go unsigned */
    uint8_t key[BRIG_ED25519_KEY_BYTES];
    uint64_t message_max; /* the largest job sent; 0 = the schema's bound */
    brig_log_fn on_log;
    char logs_unavailable[BRIG_TOPIC_MAX + 128]; /* why live output is off; "" = it is not */
    void *log_ctx;
    struct kafka_diag diag;
    struct property_list kafka; /* the caller's Kafka properties */

    /* Guards watches, failure and every delivery count. */
    pthread_mutex_t lock;
    pthread_cond_t arrived; /* a result arrived, or the consumer failed */
    struct watch_table watches;
    char failure[512]; /* the consumer stopped for good: every wait fails with this */

    pthread_t thread;
    bool thread_started;
    atomic_bool stopping;
};

#endif
