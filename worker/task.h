/* One consumed message on its way through the worker: decoded, maybe run in
 * a slot, answered on Kafka, audited, and finally released so its offset can
 * be stored. */
#ifndef BRIG_WORKER_TASK_H
#define BRIG_WORKER_TASK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "schema/schema.h"
#include "worker/audit.h"

enum task_kind {
    TASK_RUN,      /* a valid job to run in a slot */
    TASK_REPLAY,   /* a redelivered job answered from the audit store */
    TASK_REJECTED, /* a job refused before it ran (bad input, deadline passed...) */
};

struct worker;

struct task {
    enum task_kind kind;
    struct worker *worker;

    /* Where it came from. */
    int32_t partition;
    uint64_t generation; /* of the partition's assignment it was consumed under */
    int64_t offset;
    int64_t received_ms;
    void *raw; /* the message value */
    size_t raw_len;
    int64_t message_id; /* in the audit store */

    struct brig_job job; /* decoded (TASK_RUN, TASK_REPLAY) */
    char job_id[BRIG_ID_MAX + 1];
    char reply_topic[BRIG_TOPIC_MAX + 1]; /* where the result goes */

    /* The attempt (TASK_RUN). */
    int64_t attempt_id;
    int64_t attempt_number;
    int64_t started_ms;
    uint64_t log_seq[3]; /* per stream, indexed by enum brig_stream */
    struct audit_outcome outcome;
    char runtime_version[BRIG_RUNTIME_VERSION_MAX + 1];
    char state_before[65], state_after[65]; /* a session's workspace hashes; "" = none */
    char error[BRIG_ERROR_TEXT_MAX + 1];

    /* What goes out: the result, and for rejected messages a dead letter. Each
     * buffer is kept until its delivery report says it arrived. */
    msgpack_sbuffer result;
    msgpack_sbuffer dead_letter;
    char dead_letter_reason[BRIG_REASON_MAX + 1];
    char dead_letter_field[BRIG_FIELD_MAX + 1];
    int undelivered; /* messages produced and not yet acknowledged */

    struct task *next; /* in whichever list holds it */
};

#endif
