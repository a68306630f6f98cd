/* The egress proxy's connection records, written into the audit store's
 * connections table: the one place that knows both, so that neither depends
 * on the other. */
#ifndef BRIG_WORKER_EGRESS_AUDIT_H
#define BRIG_WORKER_EGRESS_AUDIT_H

#include <stddef.h>

#include "worker/audit.h"
#include "worker/egress.h"

/* Takes the proxy's report and writes every record into store. Called by the
 * thread that owns the store (the worker's main loop), as often as it likes.
 * Returns 0, or -1 with err saying what the report held beside the records
 * (records lost before they could be taken, the proxy's own failures) and
 * which records could not be written; every other record is written. */
int egress_audit_drain(struct egress_proxy *proxy, struct audit_store *store, char *err,
                       size_t errlen);

#endif
