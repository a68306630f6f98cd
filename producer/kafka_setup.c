#include "producer/kafka_setup.h"
#include "common/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRY_PAUSE_US 100000
/* Room for the record batch framing around one message. */
#define MESSAGE_OVERHEAD_BYTES 65536u

int kafka_load_properties(const struct brig_client_config *config, struct property_list *list,
                          char *err, size_t errlen)
{
    struct property_list overrides = {0};
    for (size_t i = 0; config->kafka_properties && config->kafka_properties[i]; i++) {
        if (properties_add(&overrides, config->kafka_properties[i], err, errlen) < 0) {
            properties_free(&overrides);
            return -1;
        }
    }
    int rc = properties_load(list, config->kafka_config, &overrides, err, errlen);
    properties_free(&overrides);
    return rc;
}

void kafka_diag_init(struct kafka_diag *diag)
{
    pthread_mutex_init(&diag->lock, NULL);
    diag->last_error[0] = '\0';
}

void kafka_diag_destroy(struct kafka_diag *diag)
{
    pthread_mutex_destroy(&diag->lock);
}

static void remember_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    struct kafka_diag *diag = opaque;
    pthread_mutex_lock(&diag->lock);
    snprintf(diag->last_error, sizeof diag->last_error, "%s", reason);
    /* No retry cures these: say so now rather than after the timeout. */
    if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL ||
        code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
        diag->refused = true;
    pthread_mutex_unlock(&diag->lock);
}

static bool refused(struct kafka_diag *diag)
{
    pthread_mutex_lock(&diag->lock);
    bool r = diag->refused;
    pthread_mutex_unlock(&diag->lock);
    return r;
}

static void discard_log(const rd_kafka_t *rk, int level, const char *facility, const char *line)
{
    (void)rk;
    (void)level;
    (void)facility;
    (void)line;
}

struct setting {
    const char *key, *value;
};

/* Every handle's, before its own. */
static const struct setting common_settings[] = {
    /* A request sent while an earlier one on the connection is unanswered
     * (a job behind a waiting fetch, the second of a pair of offset
     * queries) would wait for the broker's delayed ACK, up to 40 ms. */
    {"socket.nagle.disable", "true"},
};

static int set_each(rd_kafka_conf_t *conf, const struct setting *settings, size_t n, char *err,
                    size_t errlen)
{
    char why[512];
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, settings[i].key, settings[i].value, why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "Kafka setting %s=%s: %s", settings[i].key, settings[i].value,
                     why);
            return -1;
        }
    }
    return 0;
}

static rd_kafka_t *create(rd_kafka_type_t type, const struct kafka_params *params,
                          const struct setting *settings, size_t n, rd_kafka_conf_t *conf,
                          char *err, size_t errlen)
{
    char why[512];
    if (set_each(conf, common_settings, ARRAY_SIZE(common_settings), err, errlen) < 0 ||
        set_each(conf, settings, n, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; params->properties && i < params->properties->count; i++) {
        const struct property *p = &params->properties->items[i];
        if (rd_kafka_conf_set(conf, p->key, p->value, why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "Kafka property %s=%s: %s", p->key, p->value, why);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_error_cb(conf, remember_error);
    rd_kafka_conf_set_log_cb(conf, discard_log);
    rd_kafka_conf_set_opaque(conf, params->diag);
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "creating the Kafka %s: %s",
                 type == RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *kafka_producer_create(const struct kafka_params *params, unsigned delivery_timeout_ms,
                                  void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                                  char *err, size_t errlen)
{
    char timeout[32], connect[32], max_bytes[32];
    snprintf(timeout, sizeof timeout, "%u", delivery_timeout_ms);
    /* A job may be up to BRIG_JOB_MAX_BYTES; librdkafka's own default is
     * 1 MB. The topic (max.message.bytes) must allow as much. */
    snprintf(max_bytes, sizeof max_bytes, "%u", BRIG_JOB_MAX_BYTES + MESSAGE_OVERHEAD_BYTES);
    snprintf(connect, sizeof connect, "%u", params->timeout_ms);
    const struct setting settings[] = {
        {"bootstrap.servers", params->brokers},
        {"client.id", params->client_id},
        /* A retried send must not run a job twice. */
        {"enable.idempotence", "true"},
        /* Batch submissions share requests; a single job waits 2 ms at most. */
        {"linger.ms", "2"},
        {"message.timeout.ms", timeout},
        {"message.max.bytes", max_bytes},
        {"socket.connection.setup.timeout.ms", connect},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    return create(RD_KAFKA_PRODUCER, params, settings, ARRAY_SIZE(settings), conf, err, errlen);
}

rd_kafka_t *kafka_consumer_create(const struct kafka_params *params, bool partition_eof, char *err,
                                  size_t errlen)
{
    char group[32 + BRIG_ID_SIZE], connect[32], id[BRIG_ID_SIZE], held_wait[16];
    /* The group only names the consumer: partitions are assigned by hand and
     * no offset is ever committed, so clients never share or store state. */
    brig_new_id(id);
    snprintf(group, sizeof group, "brig-client-%s", id);
    snprintf(connect, sizeof connect, "%u", params->timeout_ms);
    snprintf(held_wait, sizeof held_wait, "%d", KAFKA_HELD_FETCH_WAIT_MS);
    const struct setting settings[] = {
        {"bootstrap.servers", params->brokers},
        {"client.id", params->client_id},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", partition_eof ? "true" : "false"},
        /* A client's own reply topic is created on first use where the
         * cluster allows it. */
        {"allow.auto.create.topics", "true"},
        /* Results are awaited by people and agents: Kafka answers a waiting
         * fetch when one arrives, but the mock broker holds it for the whole
         * wait, half of it on average after each result. */
        {"fetch.wait.max.ms", params->holds_fetches ? held_wait : "50"},
        {"socket.connection.setup.timeout.ms", connect},
    };
    return create(RD_KAFKA_CONSUMER, params, settings, ARRAY_SIZE(settings), rd_kafka_conf_new(),
                  err, errlen);
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - monotonic_ms();
    return left > 0 ? (int)left : 0;
}

int kafka_check_reachable(rd_kafka_t *rk, const struct kafka_params *params, char *err,
                          size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rc = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t deadline = monotonic_ms() + params->timeout_ms;
    /* In short steps, serving the error callback (it has the reason in
     * words), so that a refusal ends the wait at once. */
    do {
        rc = rd_kafka_metadata(rk, 0, NULL, &md, 250);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            return 0;
        }
        rd_kafka_poll(rk, 0);
    } while (!refused(params->diag) && monotonic_ms() < deadline);
    pthread_mutex_lock(&params->diag->lock);
    if (params->diag->refused)
        snprintf(err, errlen,
                 "the Kafka broker at %s refused this client: %s (check the security properties: "
                 "--kafka-config, -X)",
                 params->brokers, params->diag->last_error);
    else
        snprintf(err, errlen, "cannot reach the Kafka broker at %s within %u ms: %s",
                 params->brokers, params->timeout_ms,
                 params->diag->last_error[0] ? params->diag->last_error : rd_kafka_err2str(rc));
    pthread_mutex_unlock(&params->diag->lock);
    return -1;
}

bool kafka_holds_fetches(rd_kafka_t *rk)
{
    /* The mock cluster's id, from the metadata the connection check read. */
    char *id = rd_kafka_clusterid(rk, 0);
    bool mock = id && strncmp(id, "mockCluster", strlen("mockCluster")) == 0;
    if (id)
        rd_kafka_mem_free(rk, id);
    return mock;
}

bool kafka_topic_authorized(rd_kafka_t *rk, const char *topic, const struct kafka_params *params)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    bool authorized = true;
    if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, (int)params->timeout_ms) == 0) {
        authorized = !(md->topic_cnt == 1 &&
                       md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return authorized;
}

/* Appends every partition of topic to list (offsets unset), waiting for the
 * topic until deadline. */
static int list_partitions(rd_kafka_t *rk, const char *topic, int64_t deadline,
                           rd_kafka_topic_partition_list_t *list, char *err, size_t errlen)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int rc = -1;
    const char *why = "no partitions";
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, remaining_ms(deadline) + 1);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt > 0) {
            for (int i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(list, topic, md->topics[0].partitions[i].id);
            rd_kafka_metadata_destroy(md);
            rc = 0;
            break;
        }
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err)
            e = md->topics[0].err;
        why = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? "it does not exist (create it, or let "
                                                             "the cluster auto-create topics)"
              : e                                          ? rd_kafka_err2str(e)
                                                           : "no partitions";
        if (md)
            rd_kafka_metadata_destroy(md);
        /* Waiting does not grant access: a topic this principal may not
         * read is said at once (a hand-assigned consumer would retry it in
         * silence for ever). */
        if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            why = "this client's principal may not use it (Kafka ACLs): give it its own reply "
                  "topic (--reply-topic) that the ACLs allow";
            break;
        }
        if (remaining_ms(deadline) == 0)
            break;
        usleep(RETRY_PAUSE_US);
    }
    rd_kafka_topic_destroy(rkt);
    if (rc < 0)
        snprintf(err, errlen, "reading the partitions of topic %s: %s", topic, why);
    return rc;
}

int kafka_partitions(rd_kafka_t *rk, const char *topic, const struct kafka_params *params,
                     rd_kafka_topic_partition_list_t *list, char *err, size_t errlen)
{
    return list_partitions(rk, topic, monotonic_ms() + params->timeout_ms, list, err, errlen);
}

/* Appends every partition of topic to list, at the offset start says. */
static int add_topic(rd_kafka_t *rk, const char *topic, enum brig_start start, int64_t deadline,
                     rd_kafka_topic_partition_list_t *list, char *err, size_t errlen)
{
    if (list_partitions(rk, topic, deadline, list, err, errlen) < 0)
        return -1;
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        if (strcmp(tp->topic, topic) != 0)
            continue;
        if (start == BRIG_START_BEGINNING) {
            tp->offset = RD_KAFKA_OFFSET_BEGINNING;
            continue;
        }
        /* The end is fetched now rather than left to the logical END offset,
         * which is resolved whenever the first fetch happens: later than a
         * result that may already be on its way. */
        int64_t low, high;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_query_watermark_offsets(rk, topic, tp->partition, &low, &high,
                                                     remaining_ms(deadline) + 1)) &&
               remaining_ms(deadline) > 0)
            usleep(RETRY_PAUSE_US);
        if (e) {
            snprintf(err, errlen, "reading the end offset of %s [%" PRId32 "]: %s", topic,
                     tp->partition, rd_kafka_err2str(e));
            return -1;
        }
        tp->offset = high;
    }
    return 0;
}

int kafka_assign(rd_kafka_t *consumer, const char *const *topics, size_t n_topics,
                 enum brig_start start, const struct kafka_params *params, size_t *n_partitions,
                 char *err, size_t errlen)
{
    int64_t deadline = monotonic_ms() + params->timeout_ms;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    int rc = -1;
    for (size_t i = 0; i < n_topics; i++) {
        if (add_topic(consumer, topics[i], start, deadline, list, err, errlen) < 0)
            goto out;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(consumer, list);
    if (e) {
        snprintf(err, errlen, "assigning the partitions of %s: %s", topics[0], rd_kafka_err2str(e));
        goto out;
    }
    *n_partitions = (size_t)list->cnt;
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(list);
    return rc;
}
