/* Puts the log chunks of one job back in order. Kafka keeps a partition in
 * order, but a worker that retries a delivery, a job that is retried after a
 * crash, or a reader that starts mid-way can show a chunk twice, out of seq
 * order, or from an older attempt. Chunks come out per (attempt, stream) in
 * seq order, each once, and only for the newest attempt seen. */
#ifndef BRIG_PRODUCER_LOG_ORDER_H
#define BRIG_PRODUCER_LOG_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

/* Chunks held while waiting for a gap to fill; past this, the gap is taken
 * as lost and the stream moves on to the held chunks. */
#define LOG_ORDER_MAX_HELD 256

/* Receives a chunk that is next in order and owns what it holds: the sink
 * frees it with brig_log_chunk_free() or moves the struct elsewhere. */
typedef void (*log_sink_fn)(void *ctx, struct brig_log_chunk *chunk);

struct log_order {
    uint64_t attempt;     /* newest attempt seen; 0 before the first chunk */
    uint64_t next_seq[2]; /* per stream (stdout, stderr) */
    bool ended[2];
    struct brig_log_chunk *held; /* chunks past a gap */
    size_t n_held;
};

/* Takes over chunk (a decoded one: the caller must not use or free it
 * afterwards) and passes sink every chunk that is now next in order. */
void log_order_feed(struct log_order *order, struct brig_log_chunk *chunk, log_sink_fn sink,
                    void *ctx);

/* Both streams of the newest attempt have ended. */
bool log_order_ended(const struct log_order *order);

/* Passes sink every held chunk, in order, skipping the gaps: for when no
 * more chunks will come. */
void log_order_flush(struct log_order *order, log_sink_fn sink, void *ctx);

/* Frees the held chunks and zeroes order. */
void log_order_free(struct log_order *order);

#endif
