/* Per-partition offset tracking for at-least-once delivery: a partition's
 * committable position is its lowest unfinished offset, so a slow job never
 * lets a later offset be committed past it. */
#ifndef BRIG_WORKER_TRACKER_H
#define BRIG_WORKER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct partition_tracker;

struct partition_tracker *tracker_new(void);
void tracker_free(struct partition_tracker *t);

/* Records that offset was handed out. Offsets of one partition arrive in
 * increasing order; an offset at or below the last one is refused (-1). */
int tracker_begin(struct partition_tracker *t, int64_t offset);

/* Marks offset finished; -1 when it was never begun or already finished. */
int tracker_finish(struct partition_tracker *t, int64_t offset);

/* The offset to store (next to consume after everything finished below it),
 * or -1 when nothing has finished since the tracker was made. */
int64_t tracker_committable(const struct partition_tracker *t);

/* Offsets begun and not yet finished. */
size_t tracker_in_flight(const struct partition_tracker *t);

#endif
