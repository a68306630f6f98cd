#include "worker/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

static struct {
    struct metrics_registry *registry;
    struct metric *jobs, *job_duration, *queue_wait, *setup_failures;
    struct metric *slots_busy, *slots, *lag, *brokers_up;
    struct metric *dead_letters, *audit_write, *producer_errors, *redeliveries;
    struct metric *server_restarts, *log_chunks_dropped, *offsets_skipped;
    struct metric *audit_unpublished, *audit_publish_errors;
} metrics;

/* Jobs run from milliseconds (a shell's true) to the longest wall limit. */
static const double job_seconds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                     2.5,  5,     10,   30,  60,   120, 300};
static const double wait_seconds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,     2.5,  5,     10,   30,  60};
static const double audit_seconds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                       0.01,   0.025,   0.05,   0.1,   0.25,   1};

int metrics_init(unsigned slots, char *err, size_t errlen)
{
    const struct {
        struct metric **metric;
        struct metric_desc desc;
    } table[] = {
        {&metrics.jobs,
         {.type = METRIC_COUNTER,
          .name = "brig_jobs_total",
          .help = "Jobs answered by this worker, by result status and runtime (rejected jobs "
                  "included, redeliveries answered from the audit store not).",
          .labels = {"status", "runtime"}}},
        {&metrics.job_duration,
         {.type = METRIC_HISTOGRAM,
          .name = "brig_job_duration_seconds",
          .help = "Time a job held its slot: workspace, jail setup, run and teardown.",
          .labels = {"runtime"},
          .buckets = job_seconds,
          .n_buckets = ARRAY_SIZE(job_seconds)}},
        {&metrics.queue_wait,
         {.type = METRIC_HISTOGRAM,
          .name = "brig_job_queue_wait_seconds",
          .help = "Time from a job's arrival at this worker to its start in a slot.",
          .buckets = wait_seconds,
          .n_buckets = ARRAY_SIZE(wait_seconds)}},
        {&metrics.setup_failures,
         {.type = METRIC_COUNTER,
          .name = "brig_jail_setup_failures_total",
          .help = "Jobs whose jail or workspace could not be built (status setup_error)."}},
        {&metrics.slots_busy,
         {.type = METRIC_GAUGE, .name = "brig_slots_busy", .help = "Jail slots running a job."}},
        {&metrics.slots,
         {.type = METRIC_GAUGE,
          .name = "brig_slots",
          .help = "Jail slots of this worker (its concurrency)."}},
        {&metrics.lag,
         {.type = METRIC_GAUGE,
          .name = "brig_consumer_lag",
          .help = "Messages of a partition of the jobs topic past the group's committed offset, "
                  "from librdkafka's statistics.",
          .labels = {"partition"}}},
        {&metrics.brokers_up,
         {.type = METRIC_GAUGE,
          .name = "brig_kafka_brokers_up",
          .help = "Kafka brokers the consumer is connected to, from librdkafka's statistics."}},
        {&metrics.dead_letters,
         {.type = METRIC_COUNTER,
          .name = "brig_dead_letters_total",
          .help = "Messages of the jobs topic sent to the dead-letter topic."}},
        {&metrics.audit_write,
         {.type = METRIC_HISTOGRAM,
          .name = "brig_audit_write_seconds",
          .help = "Time to commit a batch of audit records before offsets are stored.",
          .buckets = audit_seconds,
          .n_buckets = ARRAY_SIZE(audit_seconds)}},
        {&metrics.producer_errors,
         {.type = METRIC_COUNTER,
          .name = "brig_producer_errors_total",
          .help = "Results, log chunks and dead letters that Kafka refused or failed to "
                  "deliver."}},
        {&metrics.redeliveries,
         {.type = METRIC_COUNTER,
          .name = "brig_redeliveries_answered_total",
          .help = "Redelivered jobs answered with their stored result instead of running "
                  "again."}},
        {&metrics.server_restarts,
         {.type = METRIC_COUNTER,
          .name = "brig_server_restarts_total",
          .help = "brig-zygote servers started again after they died, by server (spawner, or "
                  "the runtime whose warm interpreter it is).",
          .labels = {"server"}}},
        {&metrics.log_chunks_dropped,
         {.type = METRIC_COUNTER,
          .name = "brig_log_chunks_dropped_total",
          .help = "Live output chunks not sent because the producer's queue stayed full (the "
                  "result still carries the output)."}},
        {&metrics.offsets_skipped,
         {.type = METRIC_COUNTER,
          .name = "brig_jobs_skipped_total",
          .help = "Messages of the jobs topic the cluster deleted before this worker read them "
                  "(they never ran), by partition.",
          .labels = {"partition"}}},
        {&metrics.audit_unpublished,
         {.type = METRIC_GAUGE,
          .name = "brig_audit_records_unpublished",
          .help = "Audit records committed to the local store and not yet delivered to the "
                  "audit topic (the store's outbox)."}},
        {&metrics.audit_publish_errors,
         {.type = METRIC_COUNTER,
          .name = "brig_audit_publish_errors_total",
          .help = "Audit records the audit topic refused or that failed to arrive; each is "
                  "produced again from the outbox."}},
    };

    metrics.registry = metrics_registry_new();
    if (!metrics.registry) {
        snprintf(err, errlen, "creating the metrics registry: out of memory");
        return -1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        *table[i].metric = metrics_registry_add(metrics.registry, &table[i].desc, err, errlen);
        if (!*table[i].metric) {
            metrics_free();
            return -1;
        }
    }
    metric_set(metrics.slots, NULL, slots);
    return 0;
}

void metrics_free(void)
{
    metrics_registry_free(metrics.registry);
    memset(&metrics, 0, sizeof(metrics));
}

struct metrics_registry *metrics_registry(void)
{
    return metrics.registry;
}

static void count_job(const char *runtime, brig_status status)
{
    const char *status_name = brig_status_name(status);
    const char *labels[] = {status_name ? status_name : "unknown", runtime ? runtime : "none"};
    metric_add(metrics.jobs, labels, 1);
}

void metrics_job_ran(const char *runtime, brig_status status, double seconds_in_slot)
{
    if (!metrics.registry)
        return;
    count_job(runtime, status);
    metric_observe(metrics.job_duration, (const char *[]){runtime ? runtime : "none"},
                   seconds_in_slot);
    if (status == BRIG_STATUS_SETUP_ERROR)
        metric_add(metrics.setup_failures, NULL, 1);
}

void metrics_job_rejected(const char *runtime)
{
    if (metrics.registry)
        count_job(runtime, BRIG_STATUS_REJECTED);
}

void metrics_job_cancelled(const char *runtime)
{
    if (metrics.registry)
        count_job(runtime, BRIG_STATUS_CANCELLED);
}

void metrics_job_started(double queue_wait_seconds)
{
    if (metrics.registry)
        metric_observe(metrics.queue_wait, NULL, queue_wait_seconds);
}

void metrics_set_slots_busy(unsigned busy)
{
    if (metrics.registry)
        metric_set(metrics.slots_busy, NULL, busy);
}

void metrics_dead_letter(void)
{
    if (metrics.registry)
        metric_add(metrics.dead_letters, NULL, 1);
}

void metrics_audit_write(double seconds)
{
    if (metrics.registry)
        metric_observe(metrics.audit_write, NULL, seconds);
}

void metrics_producer_error(void)
{
    if (metrics.registry)
        metric_add(metrics.producer_errors, NULL, 1);
}

void metrics_audit_unpublished(int64_t records)
{
    if (metrics.registry)
        metric_set(metrics.audit_unpublished, NULL, (double)records);
}

void metrics_audit_publish_error(void)
{
    if (metrics.registry)
        metric_add(metrics.audit_publish_errors, NULL, 1);
}

void metrics_redelivery_answered(void)
{
    if (metrics.registry)
        metric_add(metrics.redeliveries, NULL, 1);
}

void metrics_server_restarted(const char *server)
{
    if (metrics.registry)
        metric_add(metrics.server_restarts, (const char *[]){server}, 1);
}

void metrics_log_chunk_dropped(void)
{
    if (metrics.registry)
        metric_add(metrics.log_chunks_dropped, NULL, 1);
}

void metrics_offsets_skipped(int32_t partition, uint64_t count)
{
    char label[16];
    if (!metrics.registry)
        return;
    snprintf(label, sizeof(label), "%" PRId32, partition);
    metric_add(metrics.offsets_skipped, (const char *[]){label}, (double)count);
}

void metrics_set_lag(int32_t partition, int64_t lag)
{
    char label[16];
    if (!metrics.registry)
        return;
    snprintf(label, sizeof(label), "%" PRId32, partition);
    metric_set(metrics.lag, (const char *[]){label}, (double)lag);
}

void metrics_forget_lag(int32_t partition)
{
    char label[16];
    if (!metrics.registry)
        return;
    snprintf(label, sizeof(label), "%" PRId32, partition);
    metric_remove(metrics.lag, (const char *[]){label});
}

void metrics_set_kafka_brokers_up(unsigned brokers)
{
    if (metrics.registry)
        metric_set(metrics.brokers_up, NULL, brokers);
}
