/* A client's life cycle and its consumer thread, which files each result
 * and log chunk under the job it belongs to. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/client_impl.h"
#include "producer/sign.h"
#include "producer/submit.h"
#include "schema/text.h"

#define DEFAULT_TIMEOUT_MS 5000u
/* A job is delivered within this long, or its submit fails: longer than
 * timeout_ms, since a broker that answered may be electing a leader. */
#define MIN_DELIVERY_TIMEOUT_MS 30000u

static int topic_name(char *buf, const char *prefix, const char *suffix, const char *what,
                      char *err, size_t errlen)
{
    char why[128];
    int n = suffix ? snprintf(buf, BRIG_TOPIC_MAX + 1, "%s.%s", prefix, suffix)
                   : snprintf(buf, BRIG_TOPIC_MAX + 1, "%s", prefix);
    if (n < 1 || n > BRIG_TOPIC_MAX) {
        snprintf(err, errlen, "%s: the topic name must be 1 to %d bytes", what, BRIG_TOPIC_MAX);
        return -1;
    }
    if (!check_topic(buf, (size_t)n, why, sizeof why)) {
        snprintf(err, errlen, "%s \"%s\": %s", what, buf, why);
        return -1;
    }
    return 0;
}

/* A tenant's results and logs have topics of their own. */
static int set_topics(struct brig_client *c, const struct brig_client_config *config, char *err,
                      size_t errlen)
{
    const char *prefix = config->topic_prefix ? config->topic_prefix : "brig";
    char results[BRIG_TOPIC_MAX + 8], logs[BRIG_TOPIC_MAX + 8];
    snprintf(results, sizeof results, "results%s%s", c->tenant[0] ? "." : "", c->tenant);
    snprintf(logs, sizeof logs, "logs%s%s", c->tenant[0] ? "." : "", c->tenant);
    if (topic_name(c->jobs_topic, prefix, "jobs", "topic prefix", err, errlen) < 0 ||
        topic_name(c->control_topic, prefix, "control", "topic prefix", err, errlen) < 0 ||
        topic_name(c->logs_topic, prefix, logs, "topic prefix", err, errlen) < 0)
        return -1;
    char own[BRIG_TOPIC_MAX + 1];
    if (topic_name(own, prefix, results, "topic prefix", err, errlen) < 0)
        return -1;
    if (!config->reply_topic) {
        c->reply_topic_is_default = true;
        snprintf(c->reply_topic, sizeof c->reply_topic, "%s", own);
        return 0;
    }
    if (topic_name(c->reply_topic, config->reply_topic, NULL, "reply topic", err, errlen) < 0)
        return -1;
    /* The workers would answer on the tenant's own topic instead, where this
     * client would not be reading (SCHEMA.md 14). */
    size_t len = strlen(own);
    if (c->tenant[0] && strcmp(c->reply_topic, own) != 0 &&
        (strncmp(c->reply_topic, own, len) != 0 || c->reply_topic[len] != '.')) {
        snprintf(err, errlen, "reply topic %s: tenant %s's results come on %s or a topic under it",
                 c->reply_topic, c->tenant, own);
        return -1;
    }
    return 0;
}

/* config's tenant and key, or the environment's: both or neither. */
static int set_signer(struct brig_client *c, const struct brig_client_config *config, char *err,
                      size_t errlen)
{
    const char *tenant = config->tenant ? config->tenant : getenv("BRIG_TENANT");
    const char *key = config->key_file ? config->key_file : getenv("BRIG_KEY");
    char why[192];
    bool has_tenant = tenant && *tenant, has_key = key && *key;
    if (!has_tenant && !has_key)
        return 0;
    if (!has_tenant || !has_key) {
        snprintf(err, errlen,
                 "%s: a tenant signs with its key, and a key signs for a tenant: give "
                 "both (tenant and key_file, $BRIG_TENANT and $BRIG_KEY)",
                 has_tenant ? "key_file" : "tenant");
        return -1;
    }
    if (!brig_tenant_name_ok(tenant, strlen(tenant), why, sizeof why)) {
        snprintf(err, errlen, "tenant \"%s\": %s", tenant, why);
        return -1;
    }
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    return sign_load_key(key, c->key, err, errlen);
}

/* Whether a message keyed key_len bytes at key may concern a watched job:
 * the cheap test that spares decoding other clients' messages. */
static bool key_watched(struct brig_client *c, const rd_kafka_message_t *m, bool for_result)
{
    if (!m->key)
        return true; /* cannot tell before decoding */
    pthread_mutex_lock(&c->lock);
    const struct watch *w = watch_find(&c->watches, m->key, m->key_len);
    bool wanted = w && (!for_result || (!w->has_result && !w->result_taken && !w->bad_result));
    pthread_mutex_unlock(&c->lock);
    return wanted;
}

static void take_result(struct brig_client *c, const rd_kafka_message_t *m)
{
    if (!key_watched(c, m, true))
        return;
    struct brig_result result;
    struct brig_error error;
    bool decoded = brig_result_decode(m->payload, m->len, &result, &error) == 0;

    pthread_mutex_lock(&c->lock);
    struct watch *w = NULL;
    if (decoded)
        w = watch_find(&c->watches, result.id, strlen(result.id));
    else if (m->key)
        w = watch_find(&c->watches, m->key, m->key_len);
    if (w && !w->has_result && !w->result_taken && !w->bad_result) {
        if (decoded) {
            w->result = result;
            w->has_result = true;
            memset(&result, 0, sizeof result);
        } else {
            char why[sizeof error.field + sizeof error.reason + 8];
            brig_error_format(&error, why, sizeof why);
            w->bad_result = strdup(why);
        }
        pthread_cond_broadcast(&c->arrived);
    }
    pthread_mutex_unlock(&c->lock);
    brig_result_free(&result);
}

/* Chunks ready for the log callback, which runs with the lock released. */
struct chunk_list {
    struct brig_log_chunk *items;
    size_t n, cap;
};

static void collect_chunk(void *ctx, struct brig_log_chunk *chunk)
{
    struct chunk_list *list = ctx;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        struct brig_log_chunk *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            brig_log_chunk_free(chunk);
            return;
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = *chunk;
}

static void take_log_chunk(struct brig_client *c, const rd_kafka_message_t *m)
{
    if (!key_watched(c, m, false))
        return;
    struct brig_log_chunk chunk;
    struct brig_error error;
    /* Logs are a convenience: a bad chunk is skipped, the result still
     * carries the whole output. */
    if (brig_log_chunk_decode(m->payload, m->len, &chunk, &error) < 0)
        return;
    struct chunk_list ready = {0};
    pthread_mutex_lock(&c->lock);
    struct watch *w = watch_find(&c->watches, chunk.id, strlen(chunk.id));
    if (w) {
        log_order_feed(&w->logs, &chunk, collect_chunk, &ready);
        if (w->result_taken && log_order_ended(&w->logs))
            watch_remove(&c->watches, w);
    } else {
        brig_log_chunk_free(&chunk);
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < ready.n; i++) {
        c->on_log(c->log_ctx, &ready.items[i]);
        brig_log_chunk_free(&ready.items[i]);
    }
    free(ready.items);
}

/* Errors that mean no result can ever come; the rest are transient and
 * retried by librdkafka. */
static void note_error(struct brig_client *c, const rd_kafka_message_t *m)
{
    if (m->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
        m->err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC &&
        m->err != RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED &&
        m->err != RD_KAFKA_RESP_ERR__FATAL)
        return;
    pthread_mutex_lock(&c->lock);
    snprintf(c->failure, sizeof c->failure, "reading %s: %s",
             m->rkt ? rd_kafka_topic_name(m->rkt) : c->reply_topic, rd_kafka_message_errstr(m));
    pthread_cond_broadcast(&c->arrived);
    pthread_mutex_unlock(&c->lock);
}

/* Sleeps until a message or an error arrives, or brig_client_free()
 * wakes it: a poll with a timeout would hold the free for its rest. */
static void *consume(void *arg)
{
    struct brig_client *c = arg;
    while (!atomic_load(&c->stopping)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->consumer, -1);
        if (!m)
            continue;
        if (m->err)
            note_error(c, m);
        else if (strcmp(rd_kafka_topic_name(m->rkt), c->reply_topic) == 0)
            take_result(c, m);
        else
            take_log_chunk(c, m);
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

static int init_sync(struct brig_client *c, char *err, size_t errlen)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Waits use deadlines on the monotonic clock, immune to clock changes. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&c->arrived, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0 || pthread_mutex_init(&c->lock, NULL) != 0) {
        snprintf(err, errlen, "initialising the client's locks: %s", strerror(rc ? rc : errno));
        return -1;
    }
    kafka_diag_init(&c->diag);
    if (watch_table_init(&c->watches) < 0) {
        snprintf(err, errlen, "allocating the client's job table: %s", strerror(ENOMEM));
        return -1;
    }
    return 0;
}

int brig_client_new(const struct brig_client_config *config, struct brig_client **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!config->brokers || !*config->brokers) {
        snprintf(err, errlen, "brokers: no Kafka bootstrap servers given");
        return -1;
    }
    struct brig_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "allocating a client: %s", strerror(errno));
        return -1;
    }
    atomic_init(&c->stopping, false);
    if (init_sync(c, err, errlen) < 0) {
        free(c);
        return -1;
    }
    c->on_log = config->on_log;
    c->log_ctx = config->log_ctx;
    c->message_max = config->message_max_bytes;
    snprintf(c->brokers, sizeof c->brokers, "%s", config->brokers);
    struct kafka_params params = {
        .brokers = c->brokers,
        .client_id = config->client_id ? config->client_id : "brig-client",
        .timeout_ms = config->timeout_ms ? config->timeout_ms : DEFAULT_TIMEOUT_MS,
        .diag = &c->diag,
        .properties = &c->kafka,
    };
    unsigned delivery_ms =
        params.timeout_ms > MIN_DELIVERY_TIMEOUT_MS ? params.timeout_ms : MIN_DELIVERY_TIMEOUT_MS;
    const char *topics[2] = {c->reply_topic, c->logs_topic};
    size_t n_partitions;
    if (set_signer(c, config, err, errlen) < 0 || set_topics(c, config, err, errlen) < 0 ||
        kafka_load_properties(config, &c->kafka, err, errlen) < 0 ||
        !(c->producer =
              kafka_producer_create(&params, delivery_ms, submit_delivery_report, err, errlen)) ||
        kafka_check_reachable(c->producer, &params, err, errlen) < 0)
        goto fail;
    if (config->submit_only) {
        *out = c;
        return 0;
    }
    params.holds_fetches = kafka_holds_fetches(c->producer);
    if (!(c->consumer = kafka_consumer_create(&params, false, err, errlen)))
        goto fail;
    /* The consumer thread's poll serves the error callbacks too. */
    rd_kafka_poll_set_consumer(c->consumer);
    for (size_t i = 0; i < config->n_watch_ids; i++) {
        if (brig_watch(c, config->watch_ids[i], err, errlen) < 0)
            goto fail;
    }
    /* Live output is a convenience the result does without: a principal the
     * ACLs keep off the shared logs topic still runs jobs. */
    if (c->on_log && !kafka_topic_authorized(c->consumer, c->logs_topic, &params)) {
        snprintf(c->logs_unavailable, sizeof c->logs_unavailable,
                 "this client may not read %s (Kafka ACLs)", c->logs_topic);
        c->on_log = NULL;
    }
    if (kafka_assign(c->consumer, topics, c->on_log ? 2 : 1, config->start, &params, &n_partitions,
                     err, errlen) < 0)
        goto fail;
    int rc = pthread_create(&c->thread, NULL, consume, c);
    if (rc != 0) {
        snprintf(err, errlen, "starting the client's consumer thread: %s", strerror(rc));
        goto fail;
    }
    c->thread_started = true;
    *out = c;
    return 0;
fail:
    brig_client_free(c);
    return -1;
}

void brig_client_free(struct brig_client *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    if (c->thread_started) {
        /* A wake-up that comes before the poll is kept for it. */
        rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(c->consumer);
        rd_kafka_queue_yield(queue);
        rd_kafka_queue_destroy(queue);
        pthread_join(c->thread, NULL);
    }
    if (c->consumer) {
        rd_kafka_consumer_close(c->consumer);
        rd_kafka_destroy(c->consumer);
    }
    if (c->producer)
        rd_kafka_destroy(c->producer);
    watch_table_free(&c->watches);
    kafka_diag_destroy(&c->diag);
    properties_free(&c->kafka);
    OPENSSL_cleanse(c->key, sizeof c->key);
    pthread_cond_destroy(&c->arrived);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *brig_client_logs_unavailable(const struct brig_client *client)
{
    return client->logs_unavailable[0] ? client->logs_unavailable : NULL;
}

const char *brig_client_reply_topic(const struct brig_client *client)
{
    return client->reply_topic;
}
