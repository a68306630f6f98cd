/* Which audit stores `brig audit` and `brig replay` read: the one given with
 * --audit-db, else every audit-*.db in the worker's data directory
 * ($BRIG_DATA_DIR, else /var/lib/brig), as brig-worker names them, and then
 * the fleet store brig audit sync writes there (fleet.db). A job found in
 * several is taken from the one that recorded the most of it. */
#ifndef BRIG_PRODUCER_AUDIT_DBS_H
#define BRIG_PRODUCER_AUDIT_DBS_H

#include <stddef.h>

#include "worker/audit.h"

struct audit_dbs {
    char **paths;
    size_t count;
};

/* The fleet store's name in the data directory. */
#define AUDIT_FLEET_DB "fleet.db"

/* $BRIG_DATA_DIR, else /var/lib/brig. */
const char *audit_data_dir(void);

/* Returns 0 with at least one path, or -1 with err saying where none was
 * found. */
int audit_dbs_find(const char *given, struct audit_dbs *dbs, char *err, size_t errlen);
void audit_dbs_free(struct audit_dbs *dbs);

/* Looks job_id up in every store: 1 with *record and *db set from the store
 * that has the most attempts of it (then redeliveries; the first of equals),
 * 0 when none has it, -1 on error. */
int audit_dbs_show(const struct audit_dbs *dbs, const char *job_id,
                   struct audit_job_record **record, const char **db, char *err, size_t errlen);

/* The final result of a recorded job, as AUDIT.md defines it: the result of
 * its finished attempt with the highest number; NULL when it has none. */
const struct audit_attempt_record *audit_final_attempt(const struct audit_job_record *record);

#endif
