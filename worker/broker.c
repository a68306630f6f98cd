#include "worker/broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

#include "worker/gate_wire.h"

struct embedded_broker {
    rd_kafka_t *handle; /* the mock cluster needs a client instance to live in */
    rd_kafka_mock_cluster_t *cluster;
    struct broker_gate *gate;
};

/* The gate parses these APIs: the mock must not offer later versions. */
static int pin_versions(rd_kafka_mock_cluster_t *cluster, char *err, size_t errlen)
{
    static const int16_t pins[][2] = {
        {KAFKA_API_PRODUCE, GATE_PRODUCE_MAX_VERSION},
        {KAFKA_API_OFFSET_COMMIT, GATE_OFFSET_COMMIT_MAX_VERSION},
        {KAFKA_API_METADATA, GATE_METADATA_MAX_VERSION},
        {KAFKA_API_FIND_COORDINATOR, GATE_FIND_COORDINATOR_MAX_VERSION},
    };
    for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
        rd_kafka_resp_err_t rc = rd_kafka_mock_set_apiversion(cluster, pins[i][0], 0, pins[i][1]);
        if (rc) {
            snprintf(err, errlen, "embedded broker: pinning API %d to versions 0-%d: %s",
                     pins[i][0], pins[i][1], rd_kafka_err2str(rc));
            return -1;
        }
    }
    return 0;
}

int embedded_broker_start(int n_brokers, const char *const *topics, size_t n_topics, int partitions,
                          const struct broker_gate_config *gate, struct embedded_broker **out,
                          char *err, size_t errlen)
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
    if (gate) {
        struct broker_gate_config config = *gate;
        config.limits = (struct gate_limits){
            .partition_bytes = MOCK_PARTITION_BYTES,
            .partition_sets = MOCK_PARTITION_SETS,
            .message_bytes = MOCK_PARTITION_BYTES / 2,
        };
        if (pin_versions(broker->cluster, err, errlen) < 0 ||
            broker_gate_start(&config, rd_kafka_mock_cluster_bootstraps(broker->cluster),
                              &broker->gate, err, errlen) < 0)
            goto fail;
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
    return broker->gate ? broker_gate_bootstraps(broker->gate)
                        : rd_kafka_mock_cluster_bootstraps(broker->cluster);
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
    broker_gate_stop(broker->gate);
    if (broker->cluster)
        rd_kafka_mock_cluster_destroy(broker->cluster);
    if (broker->handle)
        rd_kafka_destroy(broker->handle);
    free(broker);
}
