/* What the audit store lends the other parts of the write side
 * (audit_outbox.c): its connection and its batch. Internal to worker/audit*.c. */
#ifndef BRIG_WORKER_AUDIT_STORE_H
#define BRIG_WORKER_AUDIT_STORE_H

#include <stddef.h>

#include <sqlite3.h>

#include "worker/audit.h"

/* The store's connection: statements prepared on it are finalized before
 * audit_close(). */
sqlite3 *audit_store_db(struct audit_store *store);
const char *audit_store_path(const struct audit_store *store);
const char *audit_store_worker(const struct audit_store *store);

/* Runs stmt, a bound write that returns no row, inside the open batch (one
 * is started when none is), and resets it. */
int audit_store_write(struct audit_store *store, sqlite3_stmt *stmt, char *err, size_t errlen,
                      const char *what);

#endif
