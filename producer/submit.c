/* Publishing jobs: check and encode everything first, watch the ids, then
 * produce and wait for every delivery report. */
#include "producer/submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "producer/client_impl.h"
#include "producer/sign.h"
#include "common/units.h"

/* Deliveries of one call, counted down by the delivery reports (which run in
 * whichever thread polls the producer) under the client's lock. */
struct delivery {
    pthread_mutex_t *lock;
    size_t pending;
};

struct outgoing {
    const char *topic; /* NULL: the jobs topic */
    msgpack_sbuffer value;
    char id[BRIG_ID_SIZE];
    char key[BRIG_ID_SIZE];
    bool watched;
    struct delivery *delivery;
    rd_kafka_resp_err_t err;
};

void submit_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct outgoing *out = msg->_private;
    pthread_mutex_lock(out->delivery->lock);
    out->err = msg->err;
    out->delivery->pending--;
    pthread_mutex_unlock(out->delivery->lock);
}

/* Sessions keep their jobs on one partition, in order; other jobs spread by
 * id. */
static void set_key(struct outgoing *out, const char *session)
{
    snprintf(out->key, sizeof out->key, "%s", session && *session ? session : out->id);
}

/* The reply topic a job goes out with: the client's when the job names
 * none. A job that names another topic keeps it, and is not watched: its
 * result goes to whoever reads that topic. */
static const char *reply_topic_for(const struct brig_client *c, const char *asked, bool *watched)
{
    if (asked && *asked) {
        *watched = strcmp(asked, c->reply_topic) == 0;
        return asked;
    }
    *watched = true;
    return c->reply_topic_is_default ? NULL : c->reply_topic;
}

/* A job the broker would not keep is refused before it is sent. */
static int check_size(const struct brig_client *c, size_t len, const char *what, char *err,
                      size_t errlen)
{
    if (!c->message_max || len <= c->message_max)
        return 0;
    char size[32], max[32];
    units_format_size(len, size, sizeof size);
    units_format_size(c->message_max, max, sizeof max);
    snprintf(err, errlen,
             "%sthe job is %s, and the embedded broker at %s keeps messages of at most %s (it "
             "deletes older ones past a few MiB a partition): send larger jobs through a Kafka "
             "cluster (--brokers)",
             what, size, c->brokers, max);
    return -1;
}

static int prepare_job(const struct brig_client *c, const struct brig_job *job, const char *what,
                       struct outgoing *out, char *err, size_t errlen)
{
    struct brig_job copy = *job;
    struct brig_error error;
    char generated[BRIG_ID_SIZE];
    if (!copy.id) {
        brig_new_id(generated);
        copy.id = generated;
    }
    copy.reply_topic = reply_topic_for(c, job->reply_topic, &out->watched);
    out->watched = out->watched && c->consumer;
    if (brig_job_encode(&copy, &out->value, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "%sinvalid job: %s", what, why);
        return -1;
    }
    if (check_size(c, out->value.size, what, err, errlen) < 0)
        return -1;
    snprintf(out->id, sizeof out->id, "%s", copy.id);
    set_key(out, copy.session);
    return 0;
}

static void forget_all(struct brig_client *c, struct outgoing *outs, size_t n, bool failed_only)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        struct watch *w = watch_find(&c->watches, outs[i].id, strlen(outs[i].id));
        if (w && outs[i].watched && (!failed_only || outs[i].err))
            watch_remove(&c->watches, w);
    }
    pthread_mutex_unlock(&c->lock);
}

/* The message with its tenant's signature in its headers (SCHEMA.md 14),
 * made for the topic, key and bytes it goes out with. */
static rd_kafka_resp_err_t produce_signed(struct brig_client *c, struct outgoing *out,
                                          const char *topic)
{
    struct sign_headers h = {0};
    char why[256];
    if (sign_message(c->key, c->tenant, topic, out->key, strlen(out->key), out->value.data,
                     out->value.size, wall_clock_ms(), &h, why, sizeof why) < 0)
        return RD_KAFKA_RESP_ERR__FAIL;
    return rd_kafka_producev(
        c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(out->key, strlen(out->key)),
        RD_KAFKA_V_VALUE(out->value.data, out->value.size),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADER(BRIG_HEADER_TENANT, h.tenant, (ssize_t)strlen(h.tenant)),
        RD_KAFKA_V_HEADER(BRIG_HEADER_TS, h.ts, (ssize_t)strlen(h.ts)),
        RD_KAFKA_V_HEADER(BRIG_HEADER_SIG, h.sig, (ssize_t)strlen(h.sig)), RD_KAFKA_V_OPAQUE(out),
        RD_KAFKA_V_END);
}

static int produce_one(struct brig_client *c, struct outgoing *out)
{
    const char *topic = out->topic ? out->topic : c->jobs_topic;
    for (;;) {
        rd_kafka_resp_err_t e =
            c->tenant[0] ? produce_signed(c, out, topic)
                         : rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic),
                                             RD_KAFKA_V_KEY(out->key, strlen(out->key)),
                                             RD_KAFKA_V_VALUE(out->value.data, out->value.size),
                                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                             RD_KAFKA_V_OPAQUE(out), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e;
        rd_kafka_poll(c->producer, 10);
    }
}

/* Watches every id, produces every job and waits for every report. */
static int publish(struct brig_client *c, struct outgoing *outs, size_t n, char *err, size_t errlen)
{
    struct delivery delivery = {.lock = &c->lock, .pending = n};
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        outs[i].delivery = &delivery;
        if (outs[i].watched && !watch_add(&c->watches, outs[i].id)) {
            pthread_mutex_unlock(&c->lock);
            forget_all(c, outs, i, false);
            snprintf(err, errlen, "watching job %s: %s", outs[i].id, strerror(ENOMEM));
            return -1;
        }
    }
    pthread_mutex_unlock(&c->lock);

    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = produce_one(c, &outs[i]);
        if (e) {
            pthread_mutex_lock(&c->lock);
            outs[i].err = e;
            delivery.pending--;
            pthread_mutex_unlock(&c->lock);
        }
    }
    for (;;) {
        pthread_mutex_lock(&c->lock);
        size_t pending = delivery.pending;
        pthread_mutex_unlock(&c->lock);
        if (pending == 0)
            break;
        rd_kafka_poll(c->producer, 50);
    }

    size_t failed = 0, first = 0;
    for (size_t i = n; i-- > 0;) {
        if (outs[i].err) {
            failed++;
            first = i;
        }
    }
    if (failed == 0)
        return 0;
    forget_all(c, outs, n, true);
    if (n == 1)
        snprintf(err, errlen, "publishing %s %s to %s at %s: %s",
                 outs[0].topic ? "the request about job" : "job", outs[0].id,
                 outs[0].topic ? outs[0].topic : c->jobs_topic, c->brokers,
                 rd_kafka_err2str(outs[0].err));
    else
        snprintf(err, errlen,
                 "%zu of %zu jobs were not delivered to %s at %s (the others were); the first, "
                 "job %s (#%zu): %s",
                 failed, n, c->jobs_topic, c->brokers, outs[first].id, first + 1,
                 rd_kafka_err2str(outs[first].err));
    return -1;
}

static struct outgoing *outgoing_new(size_t n, char *err, size_t errlen)
{
    struct outgoing *outs = calloc(n ? n : 1, sizeof *outs);
    if (!outs) {
        snprintf(err, errlen, "allocating %zu jobs: %s", n, strerror(errno));
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        msgpack_sbuffer_init(&outs[i].value);
    return outs;
}

static void outgoing_free(struct outgoing *outs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        msgpack_sbuffer_destroy(&outs[i].value);
    free(outs);
}

int brig_submit_batch(struct brig_client *c, const struct brig_job *jobs, size_t n,
                      char (*ids)[BRIG_ID_SIZE], char *err, size_t errlen)
{
    struct outgoing *outs = outgoing_new(n, err, errlen);
    int rc = -1;
    if (!outs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "job #%zu: ", i + 1);
        if (prepare_job(c, &jobs[i], n > 1 ? what : "", &outs[i], err, errlen) < 0)
            goto out;
    }
    rc = publish(c, outs, n, err, errlen);
    for (size_t i = 0; i < n; i++)
        memcpy(ids[i], outs[i].id, sizeof ids[i]);
out:
    outgoing_free(outs, n);
    return rc;
}

int brig_submit(struct brig_client *c, const struct brig_job *job, char id[BRIG_ID_SIZE], char *err,
                size_t errlen)
{
    return brig_submit_batch(c, job, 1, (char(*)[BRIG_ID_SIZE])id, err, errlen);
}

int brig_submit_raw(struct brig_client *c, const void *msgpack, size_t len, char id[BRIG_ID_SIZE],
                    char *err, size_t errlen)
{
    struct brig_job job;
    struct brig_error error;
    if (brig_job_decode(msgpack, len, &job, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "invalid job: %s", why);
        return -1;
    }
    struct outgoing *out = outgoing_new(1, err, errlen);
    int rc = -1;
    if (!out)
        goto out;
    /* The bytes go out unchanged: a job without a reply topic is answered
     * on the default topic, which this client may not be reading. */
    out->watched =
        job.reply_topic ? strcmp(job.reply_topic, c->reply_topic) == 0 : c->reply_topic_is_default;
    if (check_size(c, len, "", err, errlen) < 0)
        goto out;
    if (msgpack_sbuffer_write(&out->value, msgpack, len) != 0) {
        snprintf(err, errlen, "copying the job: %s", strerror(ENOMEM));
        goto out;
    }
    snprintf(out->id, sizeof out->id, "%s", job.id);
    set_key(out, job.session);
    rc = publish(c, out, 1, err, errlen);
    memcpy(id, out->id, BRIG_ID_SIZE);
out:
    if (out)
        outgoing_free(out, 1);
    brig_job_free(&job);
    return rc;
}

int brig_cancel(struct brig_client *c, const char *id, const char *by, char *err, size_t errlen)
{
    struct brig_control request = {
        .op = BRIG_CONTROL_CANCEL, .id = id, .by = by, .ts_ms = (uint64_t)wall_clock_ms()};
    struct brig_error error;
    struct outgoing *out = outgoing_new(1, err, errlen);
    int rc = -1;
    if (!out)
        return -1;
    out->topic = c->control_topic;
    if (brig_control_encode(&request, &out->value, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "invalid cancel: %s", why);
        goto out;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->key, sizeof out->key, "%s", id);
    rc = publish(c, out, 1, err, errlen);
out:
    outgoing_free(out, 1);
    return rc;
}
