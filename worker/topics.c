/* The worker's topics on a Kafka cluster. Missing ones are created through
 * the admin API with what brig needs of them; where the cluster refuses
 * (ACLs, a creation policy), the worker stops and says exactly which topics
 * and settings to create. Existing ones are checked: a message size limit
 * below brig's is a warning, since a result over it becomes a short
 * internal_error rather than a lost answer. */
#include "worker/topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/kafka.h"
#include "worker/log.h"

/* How long the cluster has to answer each admin request. */
#define ADMIN_TIMEOUT_MS 15000

/* Topics the worker writes whole results, jobs and dead letters to take
 * messages up to KAFKA_MESSAGE_MAX plus the record batch's overhead. */
#define TOPIC_MESSAGE_MAX "20971520"
#define TOPIC_MESSAGE_MAX_BYTES 20971520

struct admin {
    char last_error[KAFKA_ERROR_MAX]; /* what retrying does not cure */
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    rd_kafka_AdminOptions_t *options;
};

static void admin_free(struct admin *a)
{
    if (a->options)
        rd_kafka_AdminOptions_destroy(a->options);
    if (a->queue)
        rd_kafka_queue_destroy(a->queue);
    if (a->rk)
        rd_kafka_destroy(a->rk);
}

/* Waits for the result event of an admin request; NULL after the timeout. */
static rd_kafka_event_t *wait_result(struct admin *a, rd_kafka_event_type_t type)
{
    int64_t give_up = monotonic_ms() + ADMIN_TIMEOUT_MS + 5000;
    while (monotonic_ms() < give_up) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(a->queue, 500);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    return NULL;
}

/* The topics of the cluster and how many brokers it has; -1 with err when
 * the cluster did not answer in time, or refused this client (the reason
 * then says which: credentials, certificate). */
static int describe_cluster(struct admin *a, const char *brokers_given,
                            const struct topic_need *needs, size_t n, bool *exists, int *brokers,
                            char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t give_up = monotonic_ms() + ADMIN_TIMEOUT_MS;
    /* In short steps, so that a refusal ends the wait at once. */
    while (monotonic_ms() < give_up && !a->last_error[0]) {
        rc = rd_kafka_metadata(a->rk, 1, NULL, &md, 1000);
        if (rc != RD_KAFKA_RESP_ERR__TIMED_OUT && rc != RD_KAFKA_RESP_ERR__TRANSPORT)
            break;
        rd_kafka_poll(a->rk, 0); /* serves the error callback */
    }
    if (a->last_error[0] || rc) {
        snprintf(err, errlen,
                 "the Kafka cluster at %s %s: %s (check --brokers and the -X / --kafka-config "
                 "security properties: security.protocol, sasl.*, ssl.ca.location)",
                 brokers_given, a->last_error[0] ? "refused this worker" : "did not answer",
                 a->last_error[0] ? a->last_error : rd_kafka_err2str(rc));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    *brokers = md->broker_cnt;
    for (size_t i = 0; i < n; i++) {
        exists[i] = false;
        for (int t = 0; t < md->topic_cnt; t++)
            if (strcmp(md->topics[t].topic, needs[i].name) == 0 && md->topics[t].err == 0)
                exists[i] = true;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* What to create: partitions, replication and the topic's own settings. */
static void describe_need(const struct topic_need *need, int partitions, int replication, char *buf,
                          size_t len)
{
    int used = snprintf(buf, len, "%s (%d partitions, replication %d", need->name, partitions,
                        replication);
    for (size_t k = 0; need->configs[k][0] && used > 0 && (size_t)used < len; k++)
        used += snprintf(buf + used, len - (size_t)used, ", %s=%s", need->configs[k][0],
                         need->configs[k][1]);
    if (used > 0 && (size_t)used < len)
        snprintf(buf + used, len - (size_t)used, ")");
}

static int create_missing(struct admin *a, const struct topic_need *needs, size_t n,
                          const bool *exists, int partitions, int replication, char *err,
                          size_t errlen)
{
    rd_kafka_NewTopic_t *create[TOPICS_MAX];
    size_t n_create = 0;
    char why[256];
    for (size_t i = 0; i < n; i++) {
        if (exists[i])
            continue;
        int p = needs[i].partitions ? needs[i].partitions : partitions;
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(needs[i].name, p, replication, why, sizeof(why));
        if (!nt) {
            snprintf(err, errlen, "topic %s: %s", needs[i].name, why);
            rd_kafka_NewTopic_destroy_array(create, n_create);
            return -1;
        }
        for (size_t k = 0; needs[i].configs[k][0]; k++)
            rd_kafka_NewTopic_set_config(nt, needs[i].configs[k][0], needs[i].configs[k][1]);
        if (replication >= 3)
            rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", "2");
        create[n_create++] = nt;
    }
    if (n_create == 0)
        return 0;
    rd_kafka_CreateTopics(a->rk, create, n_create, a->options, a->queue);
    rd_kafka_NewTopic_destroy_array(create, n_create);
    rd_kafka_event_t *ev = wait_result(a, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    if (!ev) {
        snprintf(err, errlen, "creating topics: no answer from the cluster within %d s",
                 ADMIN_TIMEOUT_MS / 1000);
        return -1;
    }
    int rc = 0;
    size_t n_results;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n_results);
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "creating topics: %s", rd_kafka_event_error_string(ev));
        rc = -1;
    }
    for (size_t r = 0; rc == 0 && r < n_results; r++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[r]);
        const char *name = rd_kafka_topic_result_name(results[r]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            if (!e)
                log_info(NULL, "created topic %s", name);
            continue;
        }
        char wanted[512] = "";
        for (size_t i = 0; i < n; i++)
            if (strcmp(needs[i].name, name) == 0)
                describe_need(&needs[i], needs[i].partitions ? needs[i].partitions : partitions,
                              replication, wanted, sizeof(wanted));
        snprintf(err, errlen,
                 "topic %s is missing and the cluster refused to create it (%s: %s); create "
                 "it, or let this worker's principal create topics: %s",
                 name, rd_kafka_err2name(e), rd_kafka_topic_result_error_string(results[r]),
                 wanted);
        rc = -1;
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

/* Warns about an existing topic whose max.message.bytes is below brig's. */
static void check_message_sizes(struct admin *a, const struct topic_need *needs, size_t n,
                                const bool *existed)
{
    rd_kafka_ConfigResource_t *resources[TOPICS_MAX];
    size_t n_res = 0;
    for (size_t i = 0; i < n; i++)
        if (existed[i] && needs[i].large_messages)
            resources[n_res++] =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, needs[i].name);
    if (n_res == 0)
        return;
    rd_kafka_DescribeConfigs(a->rk, resources, n_res, a->options, a->queue);
    rd_kafka_ConfigResource_destroy_array(resources, n_res);
    rd_kafka_event_t *ev = wait_result(a, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
    if (!ev) {
        log_warn(NULL, "could not read the settings of the existing topics (no answer)");
        return;
    }
    size_t n_out;
    const rd_kafka_ConfigResource_t **out = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(ev), &n_out);
    for (size_t r = 0; r < n_out; r++) {
        size_t n_entries;
        const rd_kafka_ConfigEntry_t **entries =
            rd_kafka_ConfigResource_configs(out[r], &n_entries);
        for (size_t e = 0; e < n_entries; e++) {
            if (strcmp(rd_kafka_ConfigEntry_name(entries[e]), "max.message.bytes") != 0)
                continue;
            const char *value = rd_kafka_ConfigEntry_value(entries[e]);
            if (value && strtoll(value, NULL, 10) < KAFKA_MESSAGE_MAX)
                log_warn(NULL,
                         "topic %s takes messages of at most %s bytes; brig's jobs, results and "
                         "dead letters reach %d: larger ones are answered with a short "
                         "internal_error. Raise its max.message.bytes to %s",
                         rd_kafka_ConfigResource_name(out[r]), value, KAFKA_MESSAGE_MAX,
                         TOPIC_MESSAGE_MAX);
        }
    }
    rd_kafka_event_destroy(ev);
}

static int mock_has_all(const struct topic_need *needs, size_t n, const bool *exists, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!exists[i]) {
            snprintf(err, errlen,
                     "topic %s is missing, and this broker (librdkafka's mock cluster) cannot "
                     "create topics: start it with the topic",
                     needs[i].name);
            return -1;
        }
    }
    return 0;
}

const char *const topic_large_messages[][2] = {{"max.message.bytes", TOPIC_MESSAGE_MAX}, {0}};

int topics_prepare(const struct worker_config *config, const struct topic_need *needs, size_t n,
                   char *err, size_t errlen)
{
    struct admin a = {0};
    bool exists[TOPICS_MAX];
    int brokers, rc = -1;
    if (n > TOPICS_MAX) {
        snprintf(err, errlen, "topics_prepare: %zu topics, at most %d", n, TOPICS_MAX);
        return -1;
    }
    if (!(a.rk = kafka_admin_new(config, a.last_error, err, errlen)))
        return -1;
    a.queue = rd_kafka_queue_new(a.rk);
    a.options = rd_kafka_AdminOptions_new(a.rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(a.options, ADMIN_TIMEOUT_MS, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(a.options, ADMIN_TIMEOUT_MS, NULL, 0);
    if (describe_cluster(&a, config->brokers, needs, n, exists, &brokers, err, errlen) == 0) {
        int replication = brokers < 3 ? brokers : 3;
        int partitions = config->partitions ? config->partitions : TOPIC_PARTITIONS_DEFAULT;
        /* librdkafka's mock cluster (another worker's embedded broker, the
         * test broker) answers neither DescribeConfigs nor CreateTopics:
         * its topics are made with it. */
        char *id = rd_kafka_clusterid(a.rk, ADMIN_TIMEOUT_MS);
        bool mock = id && strncmp(id, "mockCluster", 11) == 0;
        if (id)
            rd_kafka_mem_free(a.rk, id);
        if (!mock)
            check_message_sizes(&a, needs, n, exists);
        rc = mock ? mock_has_all(needs, n, exists, err, errlen)
                  : create_missing(&a, needs, n, exists, partitions, replication, err, errlen);
    }
    admin_free(&a);
    return rc;
}
