/* brig-worker: one Kafka consumer-group member that runs jobs in jails.
 *
 * Theory of operation. One main-loop thread owns everything below but the
 * jails; N slot threads each run one job at a time. A job's path, in the
 * order the code runs:
 *
 *   poll      loop.c        rd_kafka_consumer_poll() on the jobs topic
 *   verify    tenants.c     with --tenants: the tenant's signature in the
 *                           message's headers (else a dead letter only)
 *   decode    intake.c      strict msgpack decoding; the message, and the job,
 *                           go into the audit batch
 *   admit     intake.c      a message that is not a valid job goes to the
 *                           DLQ, with a `rejected` result when its id can be
 *                           read; a job this worker cannot run now (unknown
 *                           runtime, passed deadline, network it may not
 *                           have, over its tenant's caps, an id of another
 *                           tenant) gets a `rejected` result; a job already
 *                           answered is answered again from the audit store
 *   schedule  scheduler.c   pending in order, a session's jobs one at a
 *                           time, one run per job id in flight (later
 *                           deliveries follow the first), a tenant's jobs
 *                           within its quota, a bounded backlog (the
 *                           consumer is paused while it is full)
 *   slot      slots.c       the job's attempt is recorded and committed,
 *                           then a free slot thread takes it
 *   jail      execute.c     workspace, input files, sandbox/ runs the program,
 *                           live output to the logs topic as it comes
 *   collect   collect.c     files matched by `collect`, never following a link
 *   audit     loop.c        the attempt's end and result into the audit
 *                           batch; the batch is committed once per turn,
 *                           before anything it describes is published
 *   publish   publish.c     dead letter and result (idempotent producer);
 *                           delivery reports on the main loop's thread only;
 *             audit_feed.c  after each commit, the committed audit records
 *                           to <prefix>.audit (the fleet audit)
 *   offset    partitions.c  once a task's messages are delivered it is
 *                           released: its partition's lowest unfinished
 *                           offset is stored, and auto-commit commits it
 *
 * setup.c makes and frees every part; main.c parses the configuration and
 * runs the loop between the two. Rebalances (partitions.c) give up the
 * revoked partitions' pending jobs and wait, within a bound, for their
 * running ones. A stop signal drains: no new job starts, running ones finish
 * within the drain timeout, everything answered is delivered and committed. */
#ifndef BRIG_WORKER_WORKER_H
#define BRIG_WORKER_WORKER_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"
#include "worker/audit.h"
#include "worker/audit_feed.h"
#include "worker/config.h"
#include "worker/egress.h"
#include "worker/embedded.h"
#include "worker/execute.h"
#include "worker/loop.h"
#include "worker/publish.h"
#include "worker/scheduler.h"
#include "worker/slots.h"
#include "worker/task.h"
#include "worker/tracker.h"

struct partition_state {
    bool assigned;
    bool lost;           /* the group gave it to another member: nothing more is stored */
    uint64_t generation; /* bumped on every assignment, so stale tasks are told apart */
    struct partition_tracker *tracker;
    unsigned outstanding; /* tasks of this partition not yet released */
    /* The offset the next message should have: its committed offset at
     * assignment, then one past each message read; -1 when unknown. A
     * message past it means offsets were skipped (partitions.c). */
    int64_t expected;
};

struct metrics_server;
struct server_keeper;
struct control_reader;
struct cancel_memory;
struct tenants;

struct worker {
    const struct worker_config *config;
    char topic_jobs[BRIG_TOPIC_MAX + 1], topic_results[BRIG_TOPIC_MAX + 1];
    char topic_logs[BRIG_TOPIC_MAX + 1], topic_dlq[BRIG_TOPIC_MAX + 1];
    char topic_control[BRIG_TOPIC_MAX + 1];
    char topic_runtimes[BRIG_TOPIC_MAX + 1]; /* announce.h */
    int64_t started_ms;
    bool announced; /* its runtimes record is on topic_runtimes */
    char topic_audit[BRIG_TOPIC_MAX + 1];

    /* The parts, made by worker_open() and freed by worker_close(). */
    struct secret_store *secrets; /* --secrets; NULL: none */
    struct metrics_server *metrics_server;
    struct jail_context *jail;
    struct runtime_table *runtimes;
    struct server_keeper *keeper;
    struct egress_proxy *egress;
    struct audit_store *audit;
    struct embedded_broker_link *broker; /* NULL with --brokers */
    rd_kafka_t *consumer;
    rd_kafka_queue_t *consumer_queue;
    struct publisher *publisher;
    struct audit_feed *audit_feed; /* the audit store's records to topic_audit */
    struct scheduler *scheduler;
    struct slot_pool *slots;
    struct slot_env slot_env; /* what the slots see */
    struct interp_pool *interps;
    struct control_reader *control;
    struct cancel_memory *cancels;
    struct tenants *tenants; /* NULL without --tenants */

    /* Main loop state. */
    struct partition_state *partitions; /* indexed by partition number */
    int32_t n_partitions;
    struct task *answering, **answering_tail; /* answers waiting for the audit commit */
    struct task *starting, **starting_tail;   /* jobs waiting for their attempt's commit */
    unsigned n_starting;
    bool paused, draining;
    struct loop_clock clock; /* the periodic work's (loop.h) */

    volatile sig_atomic_t stop_requests;   /* SIGTERM/SIGINT received */
    volatile sig_atomic_t reload_requests; /* SIGHUP: read the tenants file again */
    bool fatal;                            /* stop now: see fatal_reason */
    char fatal_reason[256];
};

/* setup.c: makes every part in order, or returns -1 having logged why (call
 * worker_close() either way). */
int worker_open(struct worker *w, struct worker_config *config);
/* Frees what worker_open() made, in reverse order. Returns 0, or -1 when the
 * audit store's last commit failed. */
int worker_close(struct worker *w);

/* loop.c: consumes until stopped by a signal (drained) or a fatal error.
 * Returns the process exit status. */
int worker_run(struct worker *w);
/* One turn of the job path after intake (also run while a rebalance waits
 * for running jobs). */
void worker_turn(struct worker *w);
/* Stops the loop for good, with a reason for the log. */
void worker_fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* intake.c: decodes and admits one consumed message. */
void intake(struct worker *w, const rd_kafka_message_t *msg);
/* Queues a task's answer for publishing after the next audit commit. */
void answer_later(struct worker *w, struct task *task);
/* Answers a task that will not run with a `rejected` result naming field. */
void answer_rejected(struct worker *w, struct task *task, const char *field, const char *reason);

/* cancel.c: requests from the control topic. */
int cancel_open(struct worker *w, char *err, size_t errlen);
void cancel_close(struct worker *w);
/* Acts on the requests that arrived (main loop thread, each turn). */
void cancel_poll(struct worker *w);
/* At intake: a job whose cancel came first is answered cancelled unrun. */
bool cancelled_before_arrival(struct worker *w, struct task *task);
/* Stops a running task's jail, saying why; the first reason wins. */
void task_stop(struct task *task, enum task_stop why, const char *by);

/* partitions.c */
struct partition_state *partition_of(struct worker *w, int32_t partition);
/* Done with a task: with answered, its offset is finished and may be
 * committed once everything below it is; without, the offset stays
 * unfinished so that the partition's owner gets the message again. Frees
 * the task. The only way a task ends. */
void task_release(struct worker *w, struct task *task, bool answered);
/* Stores each partition's committable offset. */
void store_offsets(struct worker *w);
/* Checks a consumed message's offset against the one expected; offsets the
 * cluster deleted before they were read are logged, counted and audited. */
void check_offset(struct worker *w, const rd_kafka_message_t *msg);
/* The same for offsets below the log start that no message will follow
 * (every unread job of the partition deleted), from the statistics. */
struct stats_partition;
void check_log_start(struct worker *w, const struct stats_partition *seen);
void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                  void *opaque);
/* Tasks of this worker not yet released, in all partitions. */
unsigned tasks_in_flight(const struct worker *w);

#endif
