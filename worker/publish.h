/* What the worker says on Kafka: results, dead letters and log chunks, through
 * one idempotent producer.
 *
 * Delivery reports are served on one thread only, the main loop's, in
 * publisher_poll() and publisher_flush(): the report callback touches tasks
 * and the delivered list, which belong to that thread. Slot threads produce
 * log chunks, and never serve reports: when the producer's queue is full
 * they wait for the main loop to make room (and drop the chunk, counted and
 * logged, if it does not within LOG_QUEUE_WAIT_MS: the result still carries
 * the output). */
#ifndef BRIG_WORKER_PUBLISH_H
#define BRIG_WORKER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "schema/schema.h"
#include "worker/config.h"
#include "worker/task.h"

#define LOG_QUEUE_WAIT_MS 5000

struct publisher;

struct publisher_topics {
    const char *results; /* the default reply topic */
    const char *logs;
    const char *dlq;
    const char *audit; /* the audit records' topic (audit_feed.c) */
};

/* Creates the producer and the handles of the topics it writes, so that
 * their metadata and the producer id are fetched before the first answer. */
int publisher_new(const struct worker_config *config, const struct publisher_topics *topics,
                  struct publisher **out, char *err, size_t errlen);
/* Destroys the producer; what is still queued is lost, so flush first. */
void publisher_free(struct publisher *p);

/* Main loop thread. Produces the task's dead letter (keyed by the consumed
 * message's key, as it was) and its result (keyed by the job id, to
 * task->reply_topic); task->undelivered counts what is under way, 0 when
 * there was nothing to say. A result the cluster refuses for its size is
 * replaced by a short internal_error that says so; a dead letter, by one whose
 * data is cut short (SCHEMA.md section 8), or left out when even that is
 * refused. Returns -1 when the producer failed for good (publisher_failed()). */
int publish_answer(struct publisher *p, struct task *task);

/* Main loop thread. Serves delivery reports for up to timeout_ms and appends
 * each task whose messages all arrived to the list whose tail is *delivered. */
void publisher_poll(struct publisher *p, int timeout_ms, struct task ***delivered);

/* Main loop thread: waits up to timeout_ms for everything queued, serving
 * reports as publisher_poll does. */
void publisher_flush(struct publisher *p, int timeout_ms, struct task ***delivered);

/* Main loop thread, at the end of a fatal stop: purges what is queued and
 * appends every task that was waiting for a delivery report to *abandoned,
 * for the caller to free. */
void publisher_abandon(struct publisher *p, struct task ***abandoned);

/* Whether the producer failed for good (a fatal idempotence error, or an
 * answer that could not be produced at all): answers can no longer be
 * trusted to arrive, so the worker must stop. */
bool publisher_failed(const struct publisher *p);

/* Where the delivery report of each audit record goes, on the main loop's
 * thread: seq is the one given to publisher_produce_audit(), err 0 when it
 * arrived. NULL stops the reports (records still under way are not
 * reported). */
typedef void (*publisher_audit_report)(void *ctx, int64_t seq, rd_kafka_resp_err_t err);
void publisher_on_audit(struct publisher *p, publisher_audit_report report, void *ctx);

/* Main loop thread. Queues one audit record (a copy of value) to the audit
 * topic without waiting: a full queue is returned, for the caller to try
 * again later. */
rd_kafka_resp_err_t publisher_produce_audit(struct publisher *p, const char *key, const void *value,
                                            size_t len, int64_t seq);

/* The live output of one attempt. */
struct log_origin {
    const char *job_id;
    const char *topic; /* NULL: <prefix>.logs */
    uint64_t attempt;
    uint64_t seq[3]; /* next sequence number per stream, indexed by enum brig_stream */
};

/* Any thread. One chunk of a running job's output to <prefix>.logs, split
 * within the schema's bound; eos marks the stream's end. */
void publish_log_chunk(struct publisher *p, struct log_origin *origin, enum brig_stream stream,
                       const char *data, size_t len, bool eos);

#endif
