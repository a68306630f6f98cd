#include "worker/kafka.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "worker/embedded.h"
#include "worker/log.h"
#include "common/common.h"

struct setting {
    const char *key, *value;
};

/* Every handle's, before its own. */
static const struct setting common_settings[] = {
    /* A request sent while an earlier one on the connection is unanswered
     * (a result behind its log chunks, anything behind a waiting fetch)
     * would wait for the broker's delayed ACK, up to 40 ms on Linux. */
    {"socket.nagle.disable", "true"},
};

static int set_each(rd_kafka_conf_t *conf, const struct setting *settings, size_t n, char *err,
                    size_t errlen)
{
    char why[256];
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, settings[i].key, settings[i].value, why, sizeof(why)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka setting %s=%s: %s", settings[i].key, settings[i].value,
                     why);
            return -1;
        }
    }
    return 0;
}

static int apply(rd_kafka_conf_t *conf, const struct setting *settings, size_t n,
                 const struct worker_config *config, char *err, size_t errlen)
{
    char why[256];
    if (set_each(conf, common_settings, ARRAY_SIZE(common_settings), err, errlen) < 0 ||
        set_each(conf, settings, n, err, errlen) < 0)
        return -1;
    /* The operator's properties come last, so they can tune anything. */
    for (size_t i = 0; i < config->properties.count; i++) {
        const struct property *p = &config->properties.items[i];
        if (rd_kafka_conf_set(conf, p->key, p->value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "-X %s=%s: %s", p->key, p->value, why);
            return -1;
        }
    }
    return 0;
}

/* librdkafka's own messages (syslog levels), in the worker's log format. */
static void log_from_librdkafka(const rd_kafka_t *rk, int level, const char *facility,
                                const char *message)
{
    enum log_level ours = level <= 3   ? LOG_LEVEL_ERROR
                          : level == 4 ? LOG_LEVEL_WARN
                          : level <= 6 ? LOG_LEVEL_INFO
                                       : LOG_LEVEL_DEBUG;
    log_message(ours, NULL, "%s %s: %s", rd_kafka_name(rk), facility, message);
}

static rd_kafka_t *create(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what, char *err,
                          size_t errlen)
{
    char why[512];
    rd_kafka_conf_set_log_cb(conf, log_from_librdkafka);
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        snprintf(err, errlen, "creating the Kafka %s: %s", what, why);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

rd_kafka_t *kafka_consumer_new(const struct worker_config *config,
                               void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                                                    rd_kafka_topic_partition_list_t *, void *),
                               int (*stats_cb)(rd_kafka_t *, char *, size_t, void *), void *opaque,
                               char *err, size_t errlen)
{
    const struct setting settings[] = {
        {"bootstrap.servers", config->brokers},
        {"group.id", config->group},
        {"client.id", config->worker_id},
        /* Offsets are stored by hand once a job's result is delivered and
         * audited; auto-commit then only commits what was stored. */
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"auto.offset.reset", "earliest"},
        /* Consumer lag and broker connections for the metrics and /readyz:
         * librdkafka computes them anyway; no request to the cluster. */
        {"statistics.interval.ms", "5000"},
        /* Kafka answers a waiting fetch as soon as data arrives, so the
         * wait only bounds idle fetches; the embedded mock broker holds a
         * fetch for the whole wait, so with it the wait is kept short.
         * Measured with sh -c true at 100 jobs/s, c=2: 5 ms gave p50 9.5 ms;
         * 1 ms gives 7.5 ms, for about 5 % more of a core while idle (the
         * consumer and the broker wake every 1 ms). */
        {"fetch.wait.max.ms", config->embedded_broker ? "1" : "500"},
        /* Partitions move only when they must: a member joining or leaving
         * takes or gives up only its share, so the others' running jobs and
         * sessions stay where they are (KIP-429). */
        {"partition.assignment.strategy", "cooperative-sticky"},
        /* Partitions added to the jobs topic are consumed within seconds
         * (librdkafka's default looks every 5 minutes). */
        {"topic.metadata.refresh.interval.ms", "10000"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply(conf, settings, ARRAY_SIZE(settings), config, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = create(RD_KAFKA_CONSUMER, conf, "consumer", err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_t *kafka_reader_new(const struct worker_config *config, char *err, size_t errlen)
{
    char group[300];
    /* A group id is required of a consumer, even one that never joins. */
    snprintf(group, sizeof(group), "%s-reader-%s", config->group, config->worker_id);
    const struct setting settings[] = {
        {"bootstrap.servers", config->brokers},
        {"group.id", group},
        {"client.id", config->worker_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"fetch.wait.max.ms", config->embedded_broker ? "1" : "500"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply(conf, settings, ARRAY_SIZE(settings), config, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = create(RD_KAFKA_CONSUMER, conf, "control reader", err, errlen);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* The admin client's last error that no retry will cure (credentials,
 * certificates), for the sentence that tells the operator what to fix. */
static void remember_fatal_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    char *last = opaque;
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL ||
        err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
        err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
        snprintf(last, KAFKA_ERROR_MAX, "%s", reason);
}

rd_kafka_t *kafka_admin_new(const struct worker_config *config, char *last_error, char *err,
                            size_t errlen)
{
    const struct setting settings[] = {
        {"bootstrap.servers", config->brokers},
        {"client.id", config->worker_id},
        {"log_level", "3"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply(conf, settings, ARRAY_SIZE(settings), config, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    last_error[0] = '\0';
    rd_kafka_conf_set_error_cb(conf, remember_fatal_error);
    rd_kafka_conf_set_opaque(conf, last_error);
    return create(RD_KAFKA_PRODUCER, conf, "admin client", err, errlen);
}

rd_kafka_t *kafka_producer_new(const struct worker_config *config,
                               void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               void *opaque, char *err, size_t errlen)
{
    char message_max[32];
    /* The embedded broker keeps less (embedded.h): a larger result becomes
     * the short notice that says so rather than a message the broker
     * deletes unread. */
    snprintf(message_max, sizeof(message_max), "%u",
             config->embedded_broker ? EMBEDDED_MESSAGE_MAX : KAFKA_MESSAGE_MAX);
    const struct setting settings[] = {
        {"bootstrap.servers", config->brokers},
        {"client.id", config->worker_id},
        {"enable.idempotence", "true"},
        /* A result leaves as soon as it is ready; under load librdkafka
         * still batches what queues up while a request is in flight.
         * Measured (100 jobs/s, c=2): 1 ms of linger cost 0.9 ms of p50 and
         * bought no throughput (3000 at once: 356 jobs/s with it, 386 without). */
        {"linger.ms", "0"},
        {"message.max.bytes", message_max},
        /* Transient broker trouble is retried for this long before a
         * delivery fails; the worker then retries the result itself. */
        {"message.timeout.ms", "60000"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply(conf, settings, ARRAY_SIZE(settings), config, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return create(RD_KAFKA_PRODUCER, conf, "producer", err, errlen);
}

struct destroy_call {
    rd_kafka_t *rk;
    int flags;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done, abandoned;
};

static void destroy_call_free(struct destroy_call *call)
{
    pthread_mutex_destroy(&call->lock);
    pthread_cond_destroy(&call->done_cond);
    free(call);
}

static void *destroy_thread(void *arg)
{
    struct destroy_call *call = arg;
    rd_kafka_destroy_flags(call->rk, call->flags);
    pthread_mutex_lock(&call->lock);
    call->done = true;
    bool abandoned = call->abandoned;
    pthread_cond_signal(&call->done_cond);
    pthread_mutex_unlock(&call->lock);
    if (abandoned)
        destroy_call_free(call);
    return NULL;
}

bool kafka_destroy_bounded(rd_kafka_t *rk, int flags, int timeout_ms)
{
    struct destroy_call *call = calloc(1, sizeof(*call));
    pthread_t thread;
    if (!call) {
        rd_kafka_destroy_flags(rk, flags);
        return true;
    }
    *call = (struct destroy_call){.rk = rk, .flags = flags};
    pthread_mutex_init(&call->lock, NULL);
    pthread_cond_init(&call->done_cond, NULL);
    if (pthread_create(&thread, NULL, destroy_thread, call) != 0) {
        destroy_call_free(call);
        rd_kafka_destroy_flags(rk, flags);
        return true;
    }
    pthread_detach(thread);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&call->lock);
    while (!call->done && pthread_cond_timedwait(&call->done_cond, &call->lock, &until) == 0)
        ;
    bool done = call->done;
    call->abandoned = !done;
    pthread_mutex_unlock(&call->lock);
    if (done)
        destroy_call_free(call);
    return done;
}
