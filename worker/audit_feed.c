#include "worker/audit_feed.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/audit_outbox.h"
#include "worker/log.h"
#include "worker/metrics.h"

/* Records under way at once: bounds the producer's memory when the outbox is
 * long (a first start on an old store, a topic that was out of reach). */
#define MAX_IN_FLIGHT 512
/* While records are not delivered, the log says so at most this often. */
#define FAILURE_LOG_MS 60000
/* How often the outbox is counted for brig_audit_records_unpublished. */
#define COUNT_MS 5000

struct seq_list {
    int64_t *items;
    size_t count, cap;
};

struct audit_feed {
    struct audit_outbox *outbox;
    struct publisher *publisher;
    char *topic;
    int64_t cursor; /* the last seq produced by this process */
    unsigned in_flight;
    struct seq_list delivered;   /* to take off the outbox */
    struct seq_list too_large;   /* to produce again without their BLOBs */
    int64_t failed_from;         /* the lowest seq whose delivery failed; INT64_MAX: none */
    bool failing;                /* since the last delivery */
    int64_t next_failure_log_ms; /* monotonic */
    int64_t next_count_ms;
};

static int seq_push(struct seq_list *l, int64_t seq)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int64_t *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = seq;
    return 0;
}

static void failure(struct audit_feed *f, int64_t seq, const char *why)
{
    metrics_audit_publish_error();
    int64_t now = monotonic_ms();
    if (!f->failing || now >= f->next_failure_log_ms) {
        log_error(NULL,
                  "audit record %lld was not delivered to %s (%s); it stays in the audit store's "
                  "outbox and is produced again, and the worker runs on",
                  (long long)seq, f->topic, why);
        f->next_failure_log_ms = now + FAILURE_LOG_MS;
    }
    f->failing = true;
}

static bool refused_for_size(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

static void on_report(void *ctx, int64_t seq, rd_kafka_resp_err_t err)
{
    struct audit_feed *f = ctx;
    f->in_flight--;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (f->failing)
            log_info(NULL, "audit records reach %s again", f->topic);
        f->failing = false;
        if (seq_push(&f->delivered, seq) < 0)
            log_error(NULL, "audit record %lld: out of memory; it is published again",
                      (long long)seq);
        return;
    }
    if (refused_for_size(err) && seq_push(&f->too_large, seq) == 0)
        return;
    failure(f, seq, rd_kafka_err2str(err));
    if (seq < f->failed_from)
        f->failed_from = seq;
}

int audit_feed_new(struct audit_store *store, struct publisher *publisher, const char *topic,
                   struct audit_feed **out, char *err, size_t errlen)
{
    struct audit_feed *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f || !(f->topic = strdup(topic))) {
        free(f);
        snprintf(err, errlen, "the audit feed: out of memory");
        return -1;
    }
    f->failed_from = INT64_MAX;
    f->publisher = publisher;
    if (audit_outbox_open(store, &f->outbox, err, errlen) < 0) {
        free(f->topic);
        free(f);
        return -1;
    }
    int64_t queued = 0;
    if (audit_outbox_count(f->outbox, &queued, err, errlen) == 0 && queued > 0)
        log_info(NULL, "%lld audit record(s) committed before this start wait for %s",
                 (long long)queued, topic);
    publisher_on_audit(publisher, on_report, f);
    *out = f;
    return 0;
}

static void take_delivered(struct audit_feed *f)
{
    char err[512];
    for (size_t i = 0; i < f->delivered.count; i++)
        if (audit_outbox_remove(f->outbox, f->delivered.items[i], err, sizeof err) < 0)
            log_error(NULL, "%s (it is published again)", err);
    f->delivered.count = 0;
}

/* Whether the producer took the record; too large a one goes to too_large. */
static int produce(struct audit_feed *f, const struct audit_outbox_record *r)
{
    rd_kafka_resp_err_t err =
        publisher_produce_audit(f->publisher, r->key, r->value, r->len, r->seq);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        f->in_flight++;
        return 1;
    }
    if (refused_for_size(err) && seq_push(&f->too_large, r->seq) == 0)
        return 1;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        failure(f, r->seq, rd_kafka_err2str(err));
    return 0;
}

static int produce_next(void *ctx, const struct audit_outbox_record *r)
{
    struct audit_feed *f = ctx;
    if (!produce(f, r))
        return 1;
    f->cursor = r->seq;
    return 0;
}

struct small {
    struct audit_feed *feed;
    int64_t seq;
    bool done; /* produced, or no longer queued */
};

static int produce_small(void *ctx, const struct audit_outbox_record *r)
{
    struct small *s = ctx;
    /* Delivered meanwhile (an earlier copy): the next entry came instead. */
    s->done = r->seq != s->seq || produce(s->feed, r);
    return 1;
}

/* Records the topic refused for their size, again without their BLOBs. */
static void produce_too_large(struct audit_feed *f)
{
    struct seq_list again = f->too_large;
    char err[512];
    f->too_large = (struct seq_list){0};
    for (size_t i = 0; i < again.count; i++) {
        struct small s = {.feed = f, .seq = again.items[i], .done = true};
        if (audit_outbox_read(f->outbox, s.seq - 1, 1, false, produce_small, &s, err, sizeof err) <
            0)
            log_error(NULL, "%s", err);
        else if (s.done)
            continue;
        /* Out of memory: produced whole again, refused again, and back here. */
        if (seq_push(&f->too_large, s.seq) < 0 && s.seq < f->failed_from)
            f->failed_from = s.seq;
    }
    free(again.items);
}

void audit_feed_pump(struct audit_feed *f)
{
    char err[512];
    take_delivered(f);
    if (f->failed_from != INT64_MAX) {
        /* What was delivered since is off the outbox already; what is still
         * under way may arrive twice, which a reader ignores (store, seq). */
        if (f->failed_from <= f->cursor)
            f->cursor = f->failed_from - 1;
        f->failed_from = INT64_MAX;
    }
    produce_too_large(f);
    if (f->in_flight < MAX_IN_FLIGHT &&
        audit_outbox_read(f->outbox, f->cursor, MAX_IN_FLIGHT - f->in_flight, true, produce_next, f,
                          err, sizeof err) < 0)
        log_error(NULL, "%s", err);
    int64_t now = monotonic_ms();
    if (now >= f->next_count_ms) {
        int64_t queued;
        f->next_count_ms = now + COUNT_MS;
        if (audit_outbox_count(f->outbox, &queued, err, sizeof err) == 0)
            metrics_audit_unpublished(queued);
        else
            log_error(NULL, "%s", err);
    }
}

void audit_feed_free(struct audit_feed *f)
{
    if (!f)
        return;
    take_delivered(f);
    publisher_on_audit(f->publisher, NULL, NULL);
    audit_outbox_close(f->outbox);
    free(f->delivered.items);
    free(f->too_large.items);
    free(f->topic);
    free(f);
}
