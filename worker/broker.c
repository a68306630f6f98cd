#include "worker/broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

struct embedded_broker {
    rd_kafka_t *handle; /* the mock cluster needs a client instance to live in */
    rd_kafka_mock_cluster_t *cluster;
};

int embedded_broker_start(int n_brokers, const char *const *topics, size_t n_topics, int partitions,
                          struct embedded_broker **out, char *err, size_t errlen)
{
    struct embedded_broker *broker = calloc(1, sizeof(*broker));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256];

    if (!broker) {
        snprintf(err, errlen, "embedded broker: out of memory");
        goto fail;
    }
    /* The host handle never talks to anyone; keep its log quiet. */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    /* The mock brokers' sockets take their options from this handle: a
     * response written while the previous one is unacknowledged would
     * otherwise wait for the client's delayed ACK, 40 ms on Linux (seen on
     * the second of a pair of requests, e.g. the watermark offsets). */
    rd_kafka_conf_set(conf, "socket.nagle.disable", "true", NULL, 0);
    broker->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!broker->handle) {
        snprintf(err, errlen, "embedded broker: creating the host client: %s", kerr);
        goto fail;
    }
    conf = NULL;
    broker->cluster = rd_kafka_mock_cluster_new(broker->handle, n_brokers);
    if (!broker->cluster) {
        snprintf(err, errlen, "embedded broker: starting %d mock brokers failed", n_brokers);
        goto fail;
    }
    for (size_t i = 0; i < n_topics; i++) {
        rd_kafka_resp_err_t rc = rd_kafka_mock_topic_create(broker->cluster, topics[i], partitions,
                                                            n_brokers < 3 ? n_brokers : 3);
        if (rc) {
            snprintf(err, errlen, "embedded broker: creating topic %s: %s", topics[i],
                     rd_kafka_err2str(rc));
            goto fail;
        }
    }
    *out = broker;
    return 0;

fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    embedded_broker_stop(broker);
    return -1;
}

const char *embedded_broker_bootstraps(const struct embedded_broker *broker)
{
    return rd_kafka_mock_cluster_bootstraps(broker->cluster);
}

int embedded_broker_set_down(struct embedded_broker *broker, int32_t broker_id, bool down)
{
    rd_kafka_resp_err_t rc = down ? rd_kafka_mock_broker_set_down(broker->cluster, broker_id)
                                  : rd_kafka_mock_broker_set_up(broker->cluster, broker_id);
    return rc ? -1 : 0;
}

void embedded_broker_stop(struct embedded_broker *broker)
{
    if (!broker)
        return;
    if (broker->cluster)
        rd_kafka_mock_cluster_destroy(broker->cluster);
    if (broker->handle)
        rd_kafka_destroy(broker->handle);
    free(broker);
}
