#include "worker/tracker.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    int64_t offset;
    bool finished;
};

/* A ring of begun offsets in increasing order. Finished entries at the head
 * are dropped, so the head is always the lowest unfinished offset. */
struct partition_tracker {
    struct entry *ring;
    size_t capacity, head, count;
    int64_t last_begun;
    int64_t committable;
};

struct partition_tracker *tracker_new(void)
{
    struct partition_tracker *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->last_begun = -1;
    t->committable = -1;
    return t;
}

void tracker_free(struct partition_tracker *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

static struct entry *at(const struct partition_tracker *t, size_t i)
{
    return &t->ring[(t->head + i) % t->capacity];
}

static int grow(struct partition_tracker *t)
{
    size_t capacity = t->capacity ? t->capacity * 2 : 64;
    struct entry *ring = malloc(capacity * sizeof(*ring));
    if (!ring)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        ring[i] = *at(t, i);
    free(t->ring);
    t->ring = ring;
    t->capacity = capacity;
    t->head = 0;
    return 0;
}

int tracker_begin(struct partition_tracker *t, int64_t offset)
{
    if (offset <= t->last_begun)
        return -1;
    if (t->count == t->capacity && grow(t) < 0)
        return -1;
    *at(t, t->count) = (struct entry){.offset = offset, .finished = false};
    t->count++;
    t->last_begun = offset;
    return 0;
}

static struct entry *find(const struct partition_tracker *t, int64_t offset)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct entry *e = at(t, mid);
        if (e->offset == offset)
            return e;
        if (e->offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int tracker_finish(struct partition_tracker *t, int64_t offset)
{
    struct entry *e = find(t, offset);
    if (!e || e->finished)
        return -1;
    e->finished = true;
    while (t->count > 0 && at(t, 0)->finished) {
        t->committable = at(t, 0)->offset + 1;
        t->head = (t->head + 1) % t->capacity;
        t->count--;
    }
    return 0;
}

int64_t tracker_committable(const struct partition_tracker *t)
{
    return t->committable;
}

size_t tracker_in_flight(const struct partition_tracker *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->count; i++)
        n += !at(t, i)->finished;
    return n;
}
