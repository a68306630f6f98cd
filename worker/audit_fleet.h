/* A fleet store: an audit store built from <prefix>.audit by brig audit
 * sync, with every worker's records (worker/AUDIT.md, "The audit topic").
 * It has the schema of a worker's store, so audit_list, audit_show and
 * brig replay read it unchanged; it publishes nothing, and keeps what it
 * has read of the topic (fleet_positions), which records it has applied
 * (fleet_records, by store and sequence number: applying one twice changes
 * nothing) and which rows each worker's local ids became (fleet_ids).
 *
 * A record that refers to a row of a record not applied yet (a result
 * before its attempt's start, after a redelivery of records out of order)
 * waits in the store and is applied once that record is. */
#ifndef BRIG_WORKER_AUDIT_FLEET_H
#define BRIG_WORKER_AUDIT_FLEET_H

#include <stddef.h>
#include <stdint.h>

struct fleet_store;

/* Opens the fleet store at path, creating it (0600) when missing; one
 * process at a time. Refuses a worker's own audit store. */
int fleet_open(const char *path, struct fleet_store **out, char *err, size_t errlen);

/* Commits and closes (always); NULL is a no-op. */
int fleet_close(struct fleet_store *fs, char *err, size_t errlen);

/* The next offset to read of a partition of topic; -1 when none was read. */
int fleet_position(struct fleet_store *fs, const char *topic, int32_t partition, int64_t *next,
                   char *err, size_t errlen);

enum fleet_outcome {
    FLEET_APPLIED,   /* its row is in the store now */
    FLEET_DUPLICATE, /* applied before (the same store and sequence number) */
    FLEET_WAITING,   /* kept until the record it refers to is applied */
    FLEET_REFUSED,   /* not a record this brig can apply: why says so */
};

/* Adds the record read at topic/partition/offset and moves the partition's
 * position past it, in the open transaction (begun when none is). Returns
 * an outcome, or -1 with err when the store failed. */
int fleet_add(struct fleet_store *fs, const char *topic, int32_t partition, int64_t offset,
              const void *value, size_t len, char *why, size_t whylen, char *err, size_t errlen);

/* Commits the open transaction, if any. */
int fleet_commit(struct fleet_store *fs, char *err, size_t errlen);

/* Applies the waiting records whose references are there now, until none
 * more can be, and commits. *applied and *waiting: how many were and how
 * many still wait. */
int fleet_apply_waiting(struct fleet_store *fs, uint64_t *applied, uint64_t *waiting, char *err,
                        size_t errlen);

#endif
