/* One consumed message on its way through the worker.
 *
 * A task has one lifecycle, in this order:
 *
 *   received   made from the message by intake.c (its offset begun)
 *   pending    valid, waiting in the scheduler for a slot, or for the attempt
 *              of an earlier delivery of the same job id (a follower)
 *   running    in a slot, with its attempt committed to the audit store
 *   answering  its answer is encoded (result, dead letter), and is published
 *              once the audit records that describe it are committed
 *   published  produced; waiting for the delivery reports
 *   released   task_release(): the offset is finished (or given up), the
 *              memory freed
 *
 * A task refused at intake, answered from the audit store or answered as a
 * follower skips from received or pending to answering. Only the main loop's
 * thread touches a task, except a running one, which belongs to its slot. */
#ifndef BRIG_WORKER_TASK_H
#define BRIG_WORKER_TASK_H

#include <msgpack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "schema/schema.h"
#include "schema/signature.h"
#include "worker/audit.h"
#include "worker/egress_policy.h"

/* Counters the scheduler keeps for a group of tasks (a tenant's). */
struct sched_account {
    unsigned waiting; /* pending leaders and followers */
    uint64_t waiting_bytes;
    unsigned running;
};

enum task_stop {
    TASK_STOP_NONE,
    TASK_STOP_DRAIN,  /* the worker's drain timeout ran out */
    TASK_STOP_CANCEL, /* a cancel request (control.h) */
};

enum task_stage {
    TASK_RECEIVED,
    TASK_PENDING,
    TASK_RUNNING,
    TASK_ANSWERING,
    TASK_PUBLISHED,
};

struct task {
    enum task_stage stage;

    /* Where it came from. */
    int32_t partition;
    uint64_t generation; /* of the partition's assignment it was consumed under */
    int64_t offset;
    int64_t received_ms;
    void *raw; /* the message value */
    size_t raw_len;
    void *key; /* the message key, as it was (NULL = none) */
    size_t key_len;
    int64_t message_id; /* in the audit store */

    struct brig_job job; /* decoded, when the message is a valid job */
    bool decoded;
    char job_id[BRIG_ID_MAX + 1]; /* "" when not even the id could be read */
    char reply_topic[BRIG_TOPIC_MAX + 1];

    /* Stopping it: an eventfd its jail watches (written, the jail is
     * stopped), and why (set by the main loop before the write, read by the
     * slot after the jail ended). */
    int cancel_fd;
    atomic_int stop_reason; /* enum task_stop */
    char cancelled_by[BRIG_CONTROL_BY_MAX + 1];

    /* The attempt, for a task that runs. */
    const char *runtime_name; /* the table's canonical name; NULL for an argv job */
    int64_t attempt_id;
    int64_t attempt_number;
    int64_t started_ms;
    uint64_t log_seq[3]; /* per stream, indexed by enum brig_stream */
    struct audit_outcome outcome;
    char runtime_version[BRIG_RUNTIME_VERSION_MAX + 1];
    bool compiled;                          /* the runtime's compile step ran, */
    uint64_t compile_us;                    /* for this long (usage.compile_us) */
    char state_before[65], state_after[65]; /* a session's workspace hashes; "" = none */
    char error[BRIG_ERROR_TEXT_MAX + 1];

    /* The answer. Each buffer is kept until its delivery report says it
     * arrived: librdkafka copies it, but a failed delivery is produced
     * again from here. */
    msgpack_sbuffer result;
    msgpack_sbuffer dead_letter;
    int undelivered; /* messages produced and not yet acknowledged */
    unsigned redo;   /* messages to produce again (publish.c) */

    /* Its tenant (SCHEMA.md section 14), when the worker has tenants: the
     * verified name ("" = none), the counters the scheduler keeps for it,
     * and the network its caps leave it (points into network_rules). */
    char tenant[BRIG_TENANT_MAX + 1];
    struct sched_account *account;
    struct brig_network network;
    struct egress_rules network_rules;

    /* Links: one list at a time holds a task through next; the scheduler's
     * own links are its business (scheduler.c). */
    struct task *next;
    struct {
        struct task *prev, *next;    /* the pending queue */
        struct task *followers;      /* later deliveries of this job id */
        struct task *next_follower;  /* in the leader's followers */
        struct task *next_in_bucket; /* the in-flight ids' hash table */
        bool follower;
    } sched;
};

/* A task for the message at partition/offset, with copies of its key and
 * value; NULL when out of memory. */
struct task *task_new(int32_t partition, uint64_t generation, int64_t offset, int64_t received_ms,
                      const void *key, size_t key_len, const void *value, size_t len);

/* Frees a task and everything it holds. */
void task_free(struct task *task);

/* Appends task to the list whose tail pointer is *tail (a NULL-headed list
 * starts with tail pointing at its head). */
void task_append(struct task ***tail, struct task *task);

#endif
