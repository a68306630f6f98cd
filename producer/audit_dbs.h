/* Which audit stores `brig audit` and `brig replay` read: the one given with
 * --audit-db, else every audit-*.db in the worker's data directory
 * ($BRIG_DATA_DIR, else /var/lib/brig), as brig-worker names them. */
#ifndef BRIG_PRODUCER_AUDIT_DBS_H
#define BRIG_PRODUCER_AUDIT_DBS_H

#include <stddef.h>

#include "worker/audit.h"

struct audit_dbs {
    char **paths;
    size_t count;
};

/* Returns 0 with at least one path, or -1 with err saying where none was
 * found. */
int audit_dbs_find(const char *given, struct audit_dbs *dbs, char *err, size_t errlen);
void audit_dbs_free(struct audit_dbs *dbs);

/* Looks job_id up in each store in turn: 1 with *record and *db (the store
 * it was found in) set, 0 when none has it, -1 on error. */
int audit_dbs_show(const struct audit_dbs *dbs, const char *job_id,
                   struct audit_job_record **record, const char **db, char *err, size_t errlen);

/* The final result of a recorded job, as AUDIT.md defines it: the result of
 * its finished attempt with the highest number; NULL when it has none. */
const struct audit_attempt_record *audit_final_attempt(const struct audit_job_record *record);

#endif
