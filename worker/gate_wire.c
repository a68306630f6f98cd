#include "worker/gate_wire.h"

#include <stdlib.h>
#include <string.h>

/* A cursor over untrusted bytes: a read past the end sets bad and yields
 * zeros, so that a parser checks once, at its end. */
struct cursor {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *at = c->p;
    c->p += n;
    c->left -= n;
    return at;
}

static uint64_t read_be(struct cursor *c, size_t n)
{
    const uint8_t *at = take(c, n);
    uint64_t v = 0;
    for (size_t i = 0; at && i < n; i++)
        v = v << 8 | at[i];
    return v;
}

static int16_t i16(struct cursor *c)
{
    return (int16_t)read_be(c, 2);
}
static int32_t i32(struct cursor *c)
{
    return (int32_t)read_be(c, 4);
}
static int64_t i64(struct cursor *c)
{
    return (int64_t)read_be(c, 8);
}

/* A (nullable) string; NULL with *len 0 when null. */
static const char *string(struct cursor *c, size_t *len)
{
    int16_t n = i16(c);
    *len = n > 0 ? (size_t)n : 0;
    if (n < 0)
        return NULL;
    return (const char *)take(c, (size_t)n);
}

/* (Nullable) bytes; NULL with *len 0 when null. */
static const uint8_t *bytes(struct cursor *c, size_t *len)
{
    int32_t n = i32(c);
    *len = n > 0 ? (size_t)n : 0;
    if (n < 0)
        return NULL;
    return take(c, (size_t)n);
}

/* An array's count, bounded by what the remaining bytes can hold at
 * min_size bytes an element, so that a hostile count allocates nothing. */
static size_t count(struct cursor *c, size_t min_size)
{
    int32_t n = i32(c);
    if (n < 0)
        return 0;
    if ((size_t)n > c->left / min_size) {
        c->bad = true;
        return 0;
    }
    return (size_t)n;
}

void gate_entries_free(struct gate_entries *entries)
{
    free(entries->v);
    entries->v = NULL;
    entries->n = 0;
}

/* What one partition entry of a message holds after its index. */
typedef void (*read_entry)(struct cursor *c, struct gate_entry *e, int16_t version);

/* The topics array that ends most of these messages: each topic's
 * partition entries, read by entry (at least min_entry bytes each). */
static int walk_topics(struct cursor *c, size_t min_entry, read_entry entry, int16_t version,
                       struct gate_entries *out)
{
    size_t cap = 0;
    *out = (struct gate_entries){0};
    for (size_t t = count(c, 6); t > 0 && !c->bad; t--) {
        size_t topic_len;
        const char *topic = string(c, &topic_len);
        for (size_t p = count(c, min_entry); p > 0 && !c->bad; p--) {
            if (out->n == cap) {
                cap = cap ? cap * 2 : 8;
                struct gate_entry *v = realloc(out->v, cap * sizeof(*v));
                if (!v) {
                    c->bad = true;
                    break;
                }
                out->v = v;
            }
            struct gate_entry *e = &out->v[out->n++];
            *e = (struct gate_entry){.topic = topic, .topic_len = topic_len, .partition = i32(c)};
            entry(c, e, version);
        }
    }
    if (c->bad) {
        gate_entries_free(out);
        return -1;
    }
    return 0;
}

int gate_parse_request_header(const uint8_t *frame, size_t len, struct gate_request_header *out)
{
    struct cursor c = {frame, len, false};
    out->api_key = i16(&c);
    out->version = i16(&c);
    out->correlation_id = i32(&c);
    size_t client_len;
    string(&c, &client_len);
    out->body = len - c.left;
    return c.bad ? -1 : 0;
}

/* Where the record count of a v2 record batch is: after its base offset,
 * length, leader epoch, magic, CRC, attributes, last offset delta, two
 * timestamps, producer id and epoch, and base sequence. */
#define BATCH_MAGIC_AT 16
#define BATCH_RECORD_COUNT_AT 57

static int32_t record_count(const uint8_t *records, size_t len)
{
    if (len < BATCH_RECORD_COUNT_AT + 4 || records[BATCH_MAGIC_AT] != 2)
        return 0;
    struct cursor c = {records + BATCH_RECORD_COUNT_AT, 4, false};
    return i32(&c);
}

static void produce_entry(struct cursor *c, struct gate_entry *e, int16_t version)
{
    (void)version;
    const uint8_t *records = bytes(c, &e->records_len);
    e->record_count = records ? record_count(records, e->records_len) : 0;
}

int gate_parse_produce(const uint8_t *frame, size_t len, const struct gate_request_header *h,
                       int16_t *acks, struct gate_entries *out)
{
    struct cursor c = {frame + h->body, len - h->body, false};
    size_t skip;
    if (h->version >= 3)
        string(&c, &skip); /* transactional id */
    *acks = i16(&c);
    i32(&c); /* timeout */
    return walk_topics(&c, 8, produce_entry, h->version, out);
}

/* A growing frame for the refusal: 4-byte size first. */
struct writer {
    uint8_t *data;
    size_t len, cap;
};

static void put(struct writer *w, uint64_t v, size_t n)
{
    if (!w->data)
        return;
    if (w->len + n > w->cap) {
        size_t grown = (w->len + n) * 2;
        uint8_t *data = realloc(w->data, grown);
        if (!data) {
            free(w->data);
            w->data = NULL;
            return;
        }
        w->data = data;
        w->cap = grown;
    }
    for (size_t i = 0; i < n; i++)
        w->data[w->len + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    w->len += n;
}

static void put_string(struct writer *w, const char *s, size_t len)
{
    put(w, len, 2);
    for (size_t i = 0; i < len && w->data; i++)
        put(w, (uint8_t)s[i], 1);
}

/* Entries of one topic are consecutive, as the request had them. */
static size_t topic_run(const struct gate_entries *entries, size_t from)
{
    size_t to = from + 1;
    while (to < entries->n && entries->v[to].topic == entries->v[from].topic)
        to++;
    return to - from;
}

uint8_t *gate_produce_refusal(const struct gate_request_header *h,
                              const struct gate_entries *entries, size_t *len)
{
    struct writer w = {.data = malloc(256), .cap = 256};
    size_t topics = 0;
    for (size_t i = 0; i < entries->n; i += topic_run(entries, i))
        topics++;
    put(&w, 0, 4); /* the size, set below */
    put(&w, (uint32_t)h->correlation_id, 4);
    put(&w, topics, 4);
    for (size_t i = 0; i < entries->n;) {
        size_t run = topic_run(entries, i);
        put_string(&w, entries->v[i].topic, entries->v[i].topic_len);
        put(&w, run, 4);
        for (size_t k = i; k < i + run; k++) {
            put(&w, (uint32_t)entries->v[k].partition, 4);
            put(&w, (uint16_t)entries->v[k].error, 2);
            put(&w, (uint64_t)-1, 8); /* base offset */
            if (h->version >= 2)
                put(&w, (uint64_t)-1, 8); /* log append time */
            if (h->version >= 5)
                put(&w, (uint64_t)-1, 8); /* log start offset */
        }
        i += run;
    }
    if (h->version >= 1)
        put(&w, 0, 4); /* throttle time */
    if (!w.data)
        return NULL;
    *len = w.len - 4;
    for (size_t i = 0; i < 4; i++)
        w.data[i] = (uint8_t)(*len >> (8 * (3 - i)));
    return w.data;
}

static void produce_answer_entry(struct cursor *c, struct gate_entry *e, int16_t version)
{
    e->error = i16(c);
    e->offset = i64(c);
    if (version >= 2)
        i64(c); /* log append time */
    if (version >= 5)
        i64(c); /* log start offset */
}

int gate_parse_produce_response(const uint8_t *frame, size_t len, int16_t version,
                                struct gate_entries *out)
{
    struct cursor c = {frame, len, false};
    i32(&c); /* correlation id */
    return walk_topics(&c, 14, produce_answer_entry, version, out);
}

static void commit_entry(struct cursor *c, struct gate_entry *e, int16_t version)
{
    size_t skip;
    e->offset = i64(c);
    if (version >= 6)
        i32(c); /* leader epoch */
    if (version == 1)
        i64(c);       /* timestamp */
    string(c, &skip); /* metadata */
}

int gate_parse_offset_commit(const uint8_t *frame, size_t len, const struct gate_request_header *h,
                             const char **group, size_t *group_len, struct gate_entries *out)
{
    struct cursor c = {frame + h->body, len - h->body, false};
    size_t skip;
    *group = string(&c, group_len);
    if (h->version >= 1) {
        i32(&c); /* generation */
        string(&c, &skip);
    }
    if (h->version >= 7)
        string(&c, &skip); /* group instance id */
    if (h->version >= 2 && h->version <= 4)
        i64(&c); /* retention */
    return walk_topics(&c, 14, commit_entry, h->version, out);
}

static void commit_answer_entry(struct cursor *c, struct gate_entry *e, int16_t version)
{
    (void)version;
    e->error = i16(c);
}

int gate_parse_offset_commit_response(const uint8_t *frame, size_t len, int16_t version,
                                      struct gate_entries *out)
{
    struct cursor c = {frame, len, false};
    i32(&c); /* correlation id */
    if (version >= 3)
        i32(&c); /* throttle time */
    return walk_topics(&c, 6, commit_answer_entry, version, out);
}

static void rewrite_port(struct cursor *c, int32_t (*map)(int32_t, void *), void *ctx)
{
    uint8_t *at = (uint8_t *)c->p;
    int32_t port = (int32_t)read_be(c, 4);
    if (c->bad)
        return;
    uint32_t mapped = (uint32_t)map(port, ctx);
    for (size_t i = 0; i < 4; i++)
        at[i] = (uint8_t)(mapped >> (8 * (3 - i)));
}

int gate_rewrite_ports(uint8_t *frame, size_t len, int16_t api_key, int16_t version,
                       int32_t (*map)(int32_t port, void *ctx), void *ctx)
{
    struct cursor c = {frame, len, false};
    size_t skip;
    i32(&c); /* correlation id */
    if (api_key == KAFKA_API_METADATA) {
        for (size_t b = count(&c, 10); b > 0 && !c.bad; b--) {
            i32(&c); /* node id */
            string(&c, &skip);
            rewrite_port(&c, map, ctx);
            if (version >= 1)
                string(&c, &skip); /* rack */
        }
    } else if (api_key == KAFKA_API_FIND_COORDINATOR) {
        if (version >= 1)
            i32(&c); /* throttle time */
        i16(&c);     /* error */
        if (version >= 1)
            string(&c, &skip); /* error message */
        i32(&c);               /* node id */
        string(&c, &skip);
        rewrite_port(&c, map, ctx);
    }
    return c.bad ? -1 : 0;
}
