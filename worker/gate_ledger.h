/* What the embedded broker's gate knows of each partition of the jobs topic:
 * the message sets appended and not yet below the workers' committed offset,
 * and those on their way. librdkafka's mock broker keeps at most
 * partition_bytes and partition_sets of a partition and deletes the oldest
 * sets, read or not, to append a new one (rdkafka_mock.c); the gate admits a
 * set only while everything unread and in flight, plus it, fits, so the
 * deleted sets are always ones the group committed past.
 *
 * message_bytes must be at most half of partition_bytes: a mock that has to
 * delete every set it holds to append one moves the log's start past the
 * new set too (rd_kafka_mock_msgset_destroy), which its readers then never
 * see. Two sets of half a partition always fit, so the newest set stays. */
#ifndef BRIG_WORKER_GATE_LEDGER_H
#define BRIG_WORKER_GATE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

struct gate_limits {
    size_t partition_bytes, partition_sets, message_bytes;
};

enum gate_verdict {
    GATE_PASS,
    GATE_TOO_LARGE, /* over message_bytes: never */
    GATE_FULL,      /* not now: once the group commits past what is unread */
};

struct gate_ledger;

/* NULL when out of memory. */
struct gate_ledger *gate_ledger_new(const struct gate_limits *limits);
void gate_ledger_free(struct gate_ledger *ledger);

/* Whether a set of this many bytes may go to partition now. A pass counts
 * it as in flight until gate_ledger_settle() or gate_ledger_orphan(). */
enum gate_verdict gate_ledger_admit(struct gate_ledger *ledger, int32_t partition, size_t bytes);

/* The broker's answer to an admitted set: appended at base with count
 * records, or refused (count 0). */
void gate_ledger_settle(struct gate_ledger *ledger, int32_t partition, size_t bytes, int64_t base,
                        int32_t count);

/* An admitted set whose answer will never come (the broker's connection
 * closed): it stays unread until an append seen after it bounds its offsets
 * and the group commits past them. */
void gate_ledger_orphan(struct gate_ledger *ledger, int32_t partition, size_t bytes);

/* The group committed offset (the next to read) on partition. */
void gate_ledger_commit(struct gate_ledger *ledger, int32_t partition, int64_t offset);

/* What partition holds unread or in flight. */
void gate_ledger_held(const struct gate_ledger *ledger, int32_t partition, size_t *bytes,
                      size_t *sets);

#endif
