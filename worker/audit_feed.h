/* The worker's audit records to <prefix>.audit: what the audit store's
 * outbox holds is produced, in commit order, through the worker's idempotent
 * producer, and taken off the outbox once delivered (worker/AUDIT.md, "The
 * audit topic"). A record whose delivery fails is produced again, one too
 * large for the topic without its BLOB columns; while the topic cannot be
 * reached the records wait in the outbox, the worker logs it, counts it in
 * brig_audit_publish_errors_total and runs on: the local store is the source
 * of truth. Main loop thread only. */
#ifndef BRIG_WORKER_AUDIT_FEED_H
#define BRIG_WORKER_AUDIT_FEED_H

#include <stddef.h>

#include "worker/audit.h"
#include "worker/publish.h"

struct audit_feed;

/* The publisher was made with topic as its audit topic. */
int audit_feed_new(struct audit_store *store, struct publisher *publisher, const char *topic,
                   struct audit_feed **out, char *err, size_t errlen);

/* Right after a commit of the store: takes what was delivered off the
 * outbox (in the store's next batch), and produces what is queued, as far
 * as the producer has room. */
void audit_feed_pump(struct audit_feed *feed);

/* Takes what was delivered off the outbox (committed when the store
 * closes, which must come after) and stops the reports; what is still under
 * way stays queued for the next start. NULL is a no-op. */
void audit_feed_free(struct audit_feed *feed);

#endif
