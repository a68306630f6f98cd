#include "worker/gate_ledger.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

/* Partitions beyond this many are not the jobs topic's (the embedded broker
 * makes a handful): the broker refuses sets for them, so none is counted. */
#define PARTITIONS_MAX 65536

/* An orphan's last offset until an append bounds it. */
#define UNBOUNDED INT64_MAX

struct span {
    int64_t first, last;
    size_t bytes;
};

struct partition {
    int64_t committed, end; /* end: past the last offset appended */
    struct span *spans;     /* unread, ascending */
    size_t n, cap;
    size_t bytes; /* of spans */
    size_t flying_bytes, flying_sets;
};

struct gate_ledger {
    struct gate_limits limits;
    struct partition *parts;
    size_t n_parts;
};

struct gate_ledger *gate_ledger_new(const struct gate_limits *limits)
{
    struct gate_ledger *ledger = calloc(1, sizeof(*ledger));
    if (ledger)
        ledger->limits = *limits;
    return ledger;
}

void gate_ledger_free(struct gate_ledger *ledger)
{
    if (!ledger)
        return;
    for (size_t i = 0; i < ledger->n_parts; i++)
        free(ledger->parts[i].spans);
    free(ledger->parts);
    free(ledger);
}

/* The partition's record, made on first use; NULL when out of range or out
 * of memory (then nothing is counted, and a set is admitted on its size). */
static struct partition *part(struct gate_ledger *ledger, int32_t partition)
{
    if (partition < 0 || partition >= PARTITIONS_MAX)
        return NULL;
    if ((size_t)partition >= ledger->n_parts) {
        size_t n = (size_t)partition + 1;
        struct partition *parts = realloc(ledger->parts, n * sizeof(*parts));
        if (!parts)
            return NULL;
        for (size_t i = ledger->n_parts; i < n; i++)
            parts[i] = (struct partition){.committed = -1};
        ledger->parts = parts;
        ledger->n_parts = n;
    }
    return &ledger->parts[partition];
}

static const struct partition *part_const(const struct gate_ledger *ledger, int32_t partition)
{
    return partition >= 0 && (size_t)partition < ledger->n_parts ? &ledger->parts[partition] : NULL;
}

enum gate_verdict gate_ledger_admit(struct gate_ledger *ledger, int32_t partition, size_t bytes)
{
    if (bytes > ledger->limits.message_bytes)
        return GATE_TOO_LARGE;
    struct partition *p = part(ledger, partition);
    if (!p)
        return GATE_PASS;
    size_t held = p->bytes + p->flying_bytes, sets = p->n + p->flying_sets;
    bool fits =
        held + bytes <= ledger->limits.partition_bytes && sets + 1 <= ledger->limits.partition_sets;
    if (sets > 0 && !fits)
        return GATE_FULL;
    p->flying_bytes += bytes;
    p->flying_sets++;
    return GATE_PASS;
}

static void land(struct partition *p, size_t bytes)
{
    assert(p->flying_sets > 0 && p->flying_bytes >= bytes);
    p->flying_sets--;
    p->flying_bytes -= bytes;
}

static int insert(struct partition *p, struct span span)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct span *spans = realloc(p->spans, cap * sizeof(*spans));
        if (!spans)
            return -1;
        p->spans = spans;
        p->cap = cap;
    }
    size_t at = p->n;
    while (at > 0 && p->spans[at - 1].first > span.first) {
        p->spans[at] = p->spans[at - 1];
        at--;
    }
    p->spans[at] = span;
    p->n++;
    p->bytes += span.bytes;
    return 0;
}

/* Drops the spans the group committed past, and orphans an append proved
 * were never written before it. */
static void prune(struct partition *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct span s = p->spans[i];
        if (s.last < s.first || s.last < p->committed)
            p->bytes -= s.bytes;
        else
            p->spans[kept++] = s;
    }
    p->n = kept;
}

void gate_ledger_settle(struct gate_ledger *ledger, int32_t partition, size_t bytes, int64_t base,
                        int32_t count)
{
    struct partition *p = part(ledger, partition);
    if (!p)
        return;
    land(p, bytes);
    if (count <= 0 || base < 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->spans[i].last == UNBOUNDED)
            p->spans[i].last = base - 1;
    int64_t last = base + count - 1;
    if (last >= p->committed && insert(p, (struct span){base, last, bytes}) < 0) {
        /* Out of memory: counted as in flight for good, which only ever
         * holds back more than needed. */
        p->flying_bytes += bytes;
        p->flying_sets++;
    }
    if (last + 1 > p->end)
        p->end = last + 1;
    prune(p);
}

void gate_ledger_orphan(struct gate_ledger *ledger, int32_t partition, size_t bytes)
{
    struct partition *p = part(ledger, partition);
    if (!p)
        return;
    land(p, bytes);
    if (insert(p, (struct span){p->end, UNBOUNDED, bytes}) < 0) {
        p->flying_bytes += bytes;
        p->flying_sets++;
    }
}

void gate_ledger_commit(struct gate_ledger *ledger, int32_t partition, int64_t offset)
{
    struct partition *p = part(ledger, partition);
    if (!p || offset < 0)
        return;
    p->committed = offset;
    prune(p);
}

void gate_ledger_held(const struct gate_ledger *ledger, int32_t partition, size_t *bytes,
                      size_t *sets)
{
    const struct partition *p = part_const(ledger, partition);
    *bytes = p ? p->bytes + p->flying_bytes : 0;
    *sets = p ? p->n + p->flying_sets : 0;
}
