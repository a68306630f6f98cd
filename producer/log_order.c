#include "producer/log_order.h"

#include <stdlib.h>
#include <string.h>

static size_t stream_index(const struct brig_log_chunk *chunk)
{
    return chunk->stream == BRIG_STREAM_STDERR ? 1 : 0;
}

static void deliver(struct log_order *order, struct brig_log_chunk *chunk, log_sink_fn sink,
                    void *ctx)
{
    size_t s = stream_index(chunk);
    order->next_seq[s] = chunk->seq + 1;
    if (chunk->eos)
        order->ended[s] = true;
    sink(ctx, chunk);
}

/* Delivers the held chunks of one stream that are next in order; with
 * skip_gaps, the lowest held one is next whatever its seq. */
static void drain(struct log_order *order, size_t s, bool skip_gaps, log_sink_fn sink, void *ctx)
{
    for (;;) {
        size_t best = order->n_held;
        for (size_t i = 0; i < order->n_held; i++) {
            const struct brig_log_chunk *held = &order->held[i];
            if (stream_index(held) != s)
                continue;
            if (held->seq == order->next_seq[s]) {
                best = i;
                break;
            }
            if (skip_gaps && (best == order->n_held || held->seq < order->held[best].seq))
                best = i;
        }
        if (best == order->n_held)
            return;
        struct brig_log_chunk chunk = order->held[best];
        order->held[best] = order->held[--order->n_held];
        deliver(order, &chunk, sink, ctx);
    }
}

static void drop_held(struct log_order *order)
{
    for (size_t i = 0; i < order->n_held; i++)
        brig_log_chunk_free(&order->held[i]);
    order->n_held = 0;
}

static bool already_held(const struct log_order *order, const struct brig_log_chunk *chunk)
{
    for (size_t i = 0; i < order->n_held; i++) {
        if (order->held[i].stream == chunk->stream && order->held[i].seq == chunk->seq)
            return true;
    }
    return false;
}

void log_order_feed(struct log_order *order, struct brig_log_chunk *chunk, log_sink_fn sink,
                    void *ctx)
{
    if (chunk->attempt < order->attempt) {
        brig_log_chunk_free(chunk);
        return;
    }
    if (chunk->attempt > order->attempt) {
        drop_held(order);
        memset(order->next_seq, 0, sizeof order->next_seq);
        memset(order->ended, 0, sizeof order->ended);
        order->attempt = chunk->attempt;
    }
    size_t s = stream_index(chunk);
    if (chunk->seq < order->next_seq[s] || order->ended[s] || already_held(order, chunk)) {
        brig_log_chunk_free(chunk);
        return;
    }
    if (chunk->seq == order->next_seq[s]) {
        deliver(order, chunk, sink, ctx);
        drain(order, s, false, sink, ctx);
        return;
    }
    if (!order->held && !(order->held = malloc(LOG_ORDER_MAX_HELD * sizeof *order->held))) {
        brig_log_chunk_free(chunk); /* out of memory: the chunk is lost, as over a gap */
        return;
    }
    if (order->n_held == LOG_ORDER_MAX_HELD) {
        log_order_flush(order, sink, ctx);
        log_order_feed(order, chunk, sink, ctx);
        return;
    }
    order->held[order->n_held++] = *chunk;
    memset(chunk, 0, sizeof *chunk);
}

bool log_order_ended(const struct log_order *order)
{
    return order->ended[0] && order->ended[1];
}

void log_order_flush(struct log_order *order, log_sink_fn sink, void *ctx)
{
    drain(order, 0, true, sink, ctx);
    drain(order, 1, true, sink, ctx);
}

void log_order_free(struct log_order *order)
{
    drop_held(order);
    free(order->held);
    memset(order, 0, sizeof *order);
}
