/* The gate's handling of each request and answer (broker_gate.h): which it
 * relays, which it answers itself, and what it learns from them. */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/gate_impl.h"
#include "worker/log.h"

/* The client's answers that the gate made, once nothing forwarded is ahead
 * of them. */
int gate_flush_replies(struct conn *c)
{
    while (c->head && c->head->reply) {
        struct pending *p = c->head;
        if (!c->client.closed && gate_buf_append(&c->client.out, p->reply, p->reply_len) < 0)
            return -1;
        c->head = p->next;
        if (!c->head)
            c->tail = &c->head;
        gate_pending_free(p);
    }
    return 0;
}

static struct pending *push(struct conn *c, const struct gate_request_header *h)
{
    struct pending *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->correlation_id = h->correlation_id;
    p->api_key = h->api_key;
    p->version = h->version;
    *c->tail = p;
    c->tail = &p->next;
    return p;
}

static bool is(const char *name, size_t len, const char *want)
{
    return name && strlen(want) == len && memcmp(name, want, len) == 0;
}

static void log_refusal(struct broker_gate *gate, int32_t partition, enum gate_verdict verdict,
                        size_t bytes)
{
    int64_t now = monotonic_ms();
    if (verdict == GATE_FULL && partition >= 0 && (size_t)partition < gate->n_logged) {
        if (now - gate->logged_ms[partition] < REFUSAL_LOG_MS)
            return;
        gate->logged_ms[partition] = now;
    }
    size_t held, sets;
    gate_ledger_held(gate->ledger, partition, &held, &sets);
    if (verdict == GATE_TOO_LARGE)
        log_warn(NULL,
                 "embedded broker: refused a %zu-byte message set for %s[%d]: over the %zu bytes "
                 "a job may have",
                 bytes, gate->topic, partition, gate->config.limits.message_bytes);
    else
        log_warn(NULL,
                 "embedded broker: %s[%d] holds %zu bytes in %zu set(s) no worker has read, all "
                 "it keeps without deleting jobs: its producers wait (their retries are refused "
                 "until workers read it; logged once in %d s)",
                 gate->topic, partition, held, sets, REFUSAL_LOG_MS / 1000);
}

/* A Produce: forwarded with its jobs-topic sets counted in flight, or
 * answered here when one of them cannot be kept. */
static int on_produce(struct conn *c, const uint8_t *frame, size_t len,
                      const struct gate_request_header *h)
{
    struct broker_gate *gate = c->gate;
    struct gate_entries entries;
    int16_t acks;
    if (gate_parse_produce(frame, len, h, &acks, &entries) < 0)
        return -1;
    size_t n_jobs = 0, admitted = 0;
    bool refused = false;
    for (size_t i = 0; i < entries.n; i++)
        if (is(entries.v[i].topic, entries.v[i].topic_len, gate->topic))
            n_jobs++;
    struct gate_entry *sets = n_jobs ? calloc(n_jobs, sizeof(*sets)) : NULL;
    if (n_jobs && !sets) {
        gate_entries_free(&entries);
        return -1;
    }
    for (size_t i = 0; i < entries.n && !refused; i++) {
        struct gate_entry *e = &entries.v[i];
        if (!is(e->topic, e->topic_len, gate->topic))
            continue;
        enum gate_verdict v = gate_ledger_admit(gate->ledger, e->partition, e->records_len);
        if (v == GATE_PASS) {
            sets[admitted++] = *e;
            continue;
        }
        refused = true;
        log_refusal(gate, e->partition, v, e->records_len);
        e->error =
            v == GATE_TOO_LARGE ? KAFKA_ERR_MESSAGE_TOO_LARGE : KAFKA_ERR_NOT_ENOUGH_REPLICAS;
    }
    if (!refused) {
        gate_entries_free(&entries);
        if (acks == 0 && n_jobs) {
            /* No answer would ever say whether the sets were kept. */
            for (size_t i = 0; i < admitted; i++)
                gate_ledger_settle(gate->ledger, sets[i].partition, sets[i].records_len, -1, 0);
            free(sets);
            log_warn(NULL,
                     "embedded broker: closed a producer's connection: it sends jobs to %s "
                     "with acks=0, so it could never learn that one was not kept",
                     gate->topic);
            return -1;
        }
        struct pending *p = push(c, h);
        if (!p) {
            free(sets);
            return -1;
        }
        p->sets = sets;
        p->n_sets = admitted;
        p->unanswered = acks == 0;
        return gate_buf_append(&c->broker.out, frame - 4, len + 4);
    }
    /* Refused whole: the sets admitted before the refusal are not sent,
     * and every other entry is told to retry. */
    for (size_t i = 0; i < admitted; i++)
        gate_ledger_settle(gate->ledger, sets[i].partition, sets[i].records_len, -1, 0);
    free(sets);
    for (size_t i = 0; i < entries.n; i++)
        if (!entries.v[i].error)
            entries.v[i].error = KAFKA_ERR_NOT_ENOUGH_REPLICAS;
    struct pending *p = acks == 0 ? NULL : push(c, h);
    int rc = -1;
    if (p && (p->reply = gate_produce_refusal(h, &entries, &p->reply_len))) {
        p->reply_len += 4;
        rc = gate_flush_replies(c);
    }
    gate_entries_free(&entries);
    return acks == 0 ? -1 : rc;
}

/* An OffsetCommit: the group's commits to the jobs topic are kept until
 * the answer says which held. */
static int on_offset_commit(struct conn *c, const uint8_t *frame, size_t len,
                            const struct gate_request_header *h, struct pending *p)
{
    struct broker_gate *gate = c->gate;
    struct gate_entries entries;
    const char *group;
    size_t group_len;
    if (gate_parse_offset_commit(frame, len, h, &group, &group_len, &entries) < 0)
        return -1;
    if (is(group, group_len, gate->group)) {
        size_t kept = 0;
        for (size_t i = 0; i < entries.n; i++)
            if (is(entries.v[i].topic, entries.v[i].topic_len, gate->topic))
                entries.v[kept++] = entries.v[i];
        p->commits = entries.v;
        p->n_commits = kept;
        for (size_t i = 0; i < kept; i++)
            p->commits[i].topic = NULL; /* it pointed into the frame */
        return 0;
    }
    gate_entries_free(&entries);
    return 0;
}

int gate_on_request(struct conn *c, const uint8_t *frame, size_t len)
{
    struct gate_request_header h;
    if (gate_parse_request_header(frame, len, &h) < 0)
        return -1;
    if (h.api_key == KAFKA_API_PRODUCE && h.version <= GATE_PRODUCE_MAX_VERSION)
        return on_produce(c, frame, len, &h);
    struct pending *p = push(c, &h);
    if (!p)
        return -1;
    if (h.api_key == KAFKA_API_OFFSET_COMMIT && h.version <= GATE_OFFSET_COMMIT_MAX_VERSION &&
        on_offset_commit(c, frame, len, &h, p) < 0)
        return -1;
    return gate_buf_append(&c->broker.out, frame - 4, len + 4);
}

static void settle_produce(struct broker_gate *gate, const struct pending *p,
                           const struct gate_entries *answer)
{
    for (size_t i = 0; i < p->n_sets; i++) {
        const struct gate_entry *set = &p->sets[i];
        int64_t base = -1;
        for (size_t k = 0; k < answer->n; k++) {
            const struct gate_entry *a = &answer->v[k];
            if (a->partition == set->partition && !a->error &&
                is(a->topic, a->topic_len, gate->topic))
                base = a->offset;
        }
        gate_ledger_settle(gate->ledger, set->partition, set->records_len, base,
                           base >= 0 ? set->record_count : 0);
    }
}

static void settle_commits(struct broker_gate *gate, const struct pending *p,
                           const struct gate_entries *answer)
{
    for (size_t i = 0; i < p->n_commits; i++)
        for (size_t k = 0; k < answer->n; k++)
            if (answer->v[k].partition == p->commits[i].partition && !answer->v[k].error &&
                is(answer->v[k].topic, answer->v[k].topic_len, gate->topic))
                gate_ledger_commit(gate->ledger, p->commits[i].partition, p->commits[i].offset);
}

/* An answer from the broker: it belongs to the oldest forwarded request. */
int gate_on_response(struct conn *c, uint8_t *frame, size_t len)
{
    struct broker_gate *gate = c->gate;
    struct pending *p = c->head;
    if (len < 4 || !p || p->reply || (int32_t)gate_load_be32(frame) != p->correlation_id) {
        log_error(NULL, "embedded broker gate: an answer from the broker matches no request; "
                        "connection closed");
        return -1;
    }
    struct gate_entries answer = {0};
    int rc = 0;
    if (p->api_key == KAFKA_API_PRODUCE && p->n_sets) {
        if (gate_parse_produce_response(frame, len, p->version, &answer) < 0)
            return -1; /* conn_end orphans the sets */
        settle_produce(gate, p, &answer);
        p->n_sets = 0;
    } else if (p->api_key == KAFKA_API_OFFSET_COMMIT && p->n_commits) {
        if (gate_parse_offset_commit_response(frame, len, p->version, &answer) == 0)
            settle_commits(gate, p, &answer);
    } else if ((p->api_key == KAFKA_API_METADATA && p->version <= GATE_METADATA_MAX_VERSION) ||
               (p->api_key == KAFKA_API_FIND_COORDINATOR &&
                p->version <= GATE_FIND_COORDINATOR_MAX_VERSION)) {
        rc = gate_rewrite_ports(frame, len, p->api_key, p->version, gate_port_of, gate);
    }
    gate_entries_free(&answer);
    bool unanswered = p->unanswered;
    c->head = p->next;
    if (!c->head)
        c->tail = &c->head;
    gate_pending_free(p);
    if (rc < 0)
        return -1;
    if (!c->client.closed && !unanswered && gate_buf_append(&c->client.out, frame - 4, len + 4) < 0)
        return -1;
    return gate_flush_replies(c);
}
