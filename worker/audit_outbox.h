/* The outbox of a worker's audit store: the rows it committed whose records
 * have not been delivered to <prefix>.audit yet, and those records
 * (worker/AUDIT.md, "The audit topic"). Triggers of the schema queue every
 * committed row in the same transaction, so nothing committed is missed, and
 * a worker that dies before a delivery publishes again from here on its next
 * start. Main loop thread only, like the store. */
#ifndef BRIG_WORKER_AUDIT_OUTBOX_H
#define BRIG_WORKER_AUDIT_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/audit.h"

/* The record format's version, the "v" of every record. */
#define AUDIT_RECORD_VERSION 1

struct audit_outbox;

/* Closed before the store is. */
int audit_outbox_open(struct audit_store *store, struct audit_outbox **out, char *err,
                      size_t errlen);
void audit_outbox_close(struct audit_outbox *outbox);

/* This store's id in the fleet: the "store" of its records. */
const char *audit_outbox_store_id(const struct audit_outbox *outbox);

struct audit_outbox_record {
    int64_t seq;
    const char *key;   /* the Kafka key: the job id, or where the message was read */
    const void *value; /* the msgpack record */
    size_t len;
};

/* Returns nonzero to stop. */
typedef int (*audit_outbox_fn)(void *ctx, const struct audit_outbox_record *record);

/* Encodes up to max queued rows after sequence number after, in order, and
 * hands each to fn. blobs false leaves every BLOB column out (named in the
 * record's "omitted"), for a record too large for the topic. The records
 * describe the rows as they are now, which the open batch may have changed:
 * call it when nothing but removals is uncommitted. */
int audit_outbox_read(struct audit_outbox *outbox, int64_t after, size_t max, bool blobs,
                      audit_outbox_fn fn, void *ctx, char *err, size_t errlen);

/* Takes a delivered record's row off the queue, in the store's open batch. */
int audit_outbox_remove(struct audit_outbox *outbox, int64_t seq, char *err, size_t errlen);

/* Rows queued, delivered or not (removals in the open batch count as done). */
int audit_outbox_count(struct audit_outbox *outbox, int64_t *count, char *err, size_t errlen);

#endif
