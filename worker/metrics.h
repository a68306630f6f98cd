/* brig-worker's Prometheus metrics: one registry per process, recorded from
 * the main loop and the slot threads alike, and served by metrics_server.c.
 *
 *   brig_jobs_total{status,runtime}          jobs answered, rejected ones included
 *   brig_job_duration_seconds{runtime}       time a job held its slot
 *   brig_job_queue_wait_seconds              received -> started in a slot
 *   brig_jail_setup_failures_total           jobs answered setup_error
 *   brig_slots_busy, brig_slots              slots running a job, slots in all
 *   brig_consumer_lag{partition}             jobs topic: end offset - committed
 *   brig_kafka_brokers_up                    brokers the consumer is connected to
 *   brig_dead_letters_total
 *   brig_audit_write_seconds                 commits of the audit batch
 *   brig_producer_errors_total
 *   brig_redeliveries_answered_total         redelivered jobs answered from the store
 *   brig_server_restarts_total{server}       brig-zygote servers restarted after dying
 *   brig_log_chunks_dropped_total            live output the producer had no room for
 *   brig_jobs_skipped_total{partition}       jobs deleted by the cluster before they were read
 *   brig_audit_records_unpublished           the audit store's outbox: not yet on the audit topic
 *   brig_audit_publish_errors_total          audit records refused or lost, produced again
 *
 * Until metrics_init() and after metrics_free(), recording does nothing, so
 * the code that records is the same whether or not metrics are served. */
#ifndef BRIG_WORKER_METRICS_H
#define BRIG_WORKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "schema/status.h"
#include "worker/metrics_registry.h"

/* Creates the registry; slots is the worker's concurrency. Call it before
 * any thread records, and metrics_free() after they all stopped. */
int metrics_init(unsigned slots, char *err, size_t errlen);
void metrics_free(void);

/* The registry to expose; NULL before metrics_init(). */
struct metrics_registry *metrics_registry(void);

/* A job that ran counts in brig_jobs_total and brig_job_duration_seconds,
 * and in brig_jail_setup_failures_total when its status is setup_error.
 * runtime: a name from the runtime table, or NULL for a job without one (an
 * explicit argv, or a job refused before its runtime was known); it is
 * exposed as runtime="none". Never pass a name taken from a message that
 * was not checked against the table. */
void metrics_job_ran(const char *runtime, brig_status status, double seconds_in_slot);
void metrics_job_rejected(const char *runtime);
/* A job answered cancelled without running (one stopped while running
 * counts through metrics_job_ran). */
void metrics_job_cancelled(const char *runtime);
void metrics_job_started(double queue_wait_seconds);
void metrics_set_slots_busy(unsigned busy);
void metrics_dead_letter(void);
void metrics_audit_write(double seconds);
void metrics_producer_error(void);
void metrics_redelivery_answered(void);
void metrics_audit_unpublished(int64_t records);
void metrics_audit_publish_error(void);
void metrics_log_chunk_dropped(void);
void metrics_offsets_skipped(int32_t partition, uint64_t count);
/* server: "spawner" or a runtime name from the table. */
void metrics_server_restarted(const char *server);

/* The consumer lag of one partition of the jobs topic; forget it when the
 * partition is revoked. */
void metrics_set_lag(int32_t partition, int64_t lag);
void metrics_forget_lag(int32_t partition);
void metrics_set_kafka_brokers_up(unsigned brokers);

/* Reads a librdkafka statistics document of len bytes (the JSON the
 * consumer's stats_cb gets every statistics.interval.ms) and updates
 * brig_consumer_lag for each partition of topic, and brig_kafka_brokers_up.
 * A partition's lag is librdkafka's consumer_lag (end offset minus committed
 * offset); before its first commit, the end offset minus the consumer's
 * position (its next fetch before any message arrived). A partition not
 * assigned to this consumer, or whose offsets are not known yet, is
 * forgotten. Returns the number of brokers the client is connected to, or
 * -1 with a message naming the bad field in err (and nothing updated). */
struct stats_partition {
    int32_t partition;
    int64_t log_start;  /* the cluster's, as the last fetch said (lo_offset) */
    int64_t next_fetch; /* where the consumer fetches next (next_offset) */
    int64_t queued;     /* messages fetched, not yet polled (fetchq_cnt) */
};
/* ... and, when on_partition is given, calls it with what the document says
 * of each partition of topic assigned to this consumer. */
int metrics_update_from_rdkafka_stats(const char *json, size_t len, const char *topic,
                                      void (*on_partition)(void *, const struct stats_partition *),
                                      void *ctx, char *err, size_t errlen);

#endif
