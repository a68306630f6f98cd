/* brig-worker's pool: one Kafka consumer-group member with N jail slots. */
#ifndef BRIG_WORKER_WORKER_H
#define BRIG_WORKER_WORKER_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"
#include "worker/audit.h"
#include "worker/config.h"
#include "worker/egress.h"
#include "worker/slots.h"
#include "worker/task.h"
#include "worker/tracker.h"

struct partition_state {
    bool assigned;
    uint64_t generation; /* bumped on every assignment, so stale tasks are told apart */
    struct partition_tracker *tracker;
    unsigned outstanding; /* tasks of this partition not yet released */
};

struct worker {
    const struct worker_config *config;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    /* Handles of the topics the producer writes, made at start so that their
     * metadata and the producer id are fetched before the first answer. */
    rd_kafka_topic_t *output_topics[3];
    rd_kafka_queue_t *consumer_queue;
    char topic_jobs[BRIG_TOPIC_MAX + 1], topic_results[BRIG_TOPIC_MAX + 1];
    char topic_logs[BRIG_TOPIC_MAX + 1], topic_dlq[BRIG_TOPIC_MAX + 1];

    struct jail_context *jail;
    struct runtime_table *runtimes;
    struct audit_store *audit;
    struct egress_proxy *egress; /* network for jobs that ask for it */
    struct slot_pool *slots;

    struct partition_state *partitions; /* indexed by partition number */
    int32_t n_partitions;

    struct task *pending_head, *pending_tail; /* valid jobs waiting for a slot */
    const char **running_sessions;            /* sessions with a job in a slot */
    unsigned n_running_sessions;
    unsigned n_pending;
    size_t pending_bytes;
    struct task *delivered; /* answered; waiting for the audit flush and offset store */
    bool paused;
    int64_t next_session_sweep_ms;

    int cancel_fd;                       /* an eventfd: written, it stops every running jail */
    volatile sig_atomic_t stop_requests; /* SIGTERM/SIGINT received */
    bool fatal;                          /* the producer failed for good */
};

/* Runs until stopped by a signal (drained) or a fatal Kafka error. Returns
 * the process exit status. */
int worker_run(struct worker *w);

/* Runs a task's job in the calling slot thread and leaves its result encoded
 * in task->result (execute.c). */
void execute_task(struct task *task);

/* Produces a task's result (and dead letter, for rejected messages); each
 * delivery report decrements task->undelivered (publish.c). */
int publish_task(struct worker *w, struct task *task);

/* Streams one chunk of a running job's output to <prefix>.logs. */
void publish_log_chunk(struct worker *w, struct task *task, enum brig_stream stream,
                       const char *data, size_t len, bool eos);

/* The delivery-report callback of the worker's producer. */
void publish_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Milliseconds since the epoch. */
int64_t now_ms(void);

#endif
