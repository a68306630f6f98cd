/* Tenants on a worker (brig-worker --tenants FILE; README "Tenants").
 *
 * With tenants, every job and cancel carries its tenant's signature in
 * Kafka headers (SCHEMA.md section 14), and a message whose signature does
 * not hold (unsigned, unknown tenant, bad signature, stale) goes to the dead
 * letter queue only: its reply topic was chosen by whoever forged it, so no
 * result is sent anywhere. A signed job is its tenant's from then on:
 *
 *   reply topic  <prefix>.results.<tenant>, or one under it
 *                (<prefix>.results.<tenant>.*); any other is rejected
 *   live output  <prefix>.logs.<tenant>
 *   job id       an id recorded for another tenant (or none) is rejected,
 *                so that nobody is answered with another tenant's result
 *   session      the tenant's own (sandbox/session_tenants.c)
 *   cancel       acts only on the tenant's own jobs
 *   caps         the tenants file's (tenants_file.h): a job asking for more
 *                is rejected naming the cap; limits it leaves out are
 *                lowered to the caps; its network is what the job, the
 *                tenant and the worker all allow
 *   quotas       a tenant's jobs wait while it has concurrent_jobs running
 *                or has spent cpu_seconds_per_hour in the last hour
 *                (tenants_quota.h), and jobs of other tenants go ahead of
 *                them; one tenant may hold at most a quarter of the
 *                worker's backlog, so that its waiting jobs never pause the
 *                consumer for everyone
 *
 * Without --tenants none of this runs, and signatures are ignored. Main loop
 * thread only. */
#ifndef BRIG_WORKER_TENANTS_H
#define BRIG_WORKER_TENANTS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/runtime.h"
#include "worker/config.h"
#include "worker/task.h"

struct tenants;

/* Loads config->tenants, checking runtime names against runtimes. */
int tenants_open(const struct worker_config *config, const struct runtime_table *runtimes,
                 struct tenants **out, char *err, size_t errlen);
void tenants_free(struct tenants *t);

/* Reads the file again: on success its tenants, keys and caps apply to
 * every job received from then on (and to the quotas of those waiting); on
 * failure the tenants it had stay. */
int tenants_reload(struct tenants *t, char *err, size_t errlen);
size_t tenants_count(const struct tenants *t);

/* Whether the tenants file names tenant; false when t is NULL. */
bool tenants_has(const struct tenants *t, const char *tenant);

/* The backlog the scheduler pauses at: a tenant may hold a quarter. */
void tenants_set_backlog(struct tenants *t, unsigned jobs, uint64_t bytes);

/* <prefix>.results.<tenant> and <prefix>.logs.<tenant>. */
void tenant_results_topic(const char *prefix, const char *tenant, char buf[BRIG_TOPIC_MAX + 1]);
void tenant_logs_topic(const char *prefix, const char *tenant, char buf[BRIG_TOPIC_MAX + 1]);

/* Each tenant's topics, results then logs, the tenant's index i at 2i and
 * 2i + 1, malloc'd names in a malloc'd array; NULL when out of memory. */
char **tenants_topics(const struct tenants *t, size_t *count);
void tenants_topics_free(char **names, size_t count);

/* Makes the tenants' topics on config's cluster (topics.h), those of
 * results with room for large messages. */
int tenants_prepare_topics(const struct tenants *t, const struct worker_config *config, char *err,
                           size_t errlen);

/* The signature of msg, as produced to topic (SCHEMA.md 14), signed within
 * the signature window of now_ms, widened by slack_ms: 0 with the tenant's
 * name, or -1 with why (field: the header at fault). */
int tenants_verify(struct tenants *t, const rd_kafka_message_t *msg, const char *topic,
                   int64_t now_ms, uint64_t slack_ms, char tenant[BRIG_TENANT_MAX + 1],
                   struct brig_error *why);

/* The reply topic of a job of tenant that asked for asked (NULL or "": none)
 * into buf: asked when the tenant may use it, else its default. Returns
 * whether asked was used (true for none). */
bool tenants_reply_topic(const struct tenants *t, const char *tenant, const char *asked,
                         char buf[BRIG_TOPIC_MAX + 1]);

/* A decoded job of task->tenant against its caps: runtime rt (NULL for argv),
 * limits, network (task->network narrowed), its share of the backlog; its
 * account set for the scheduler. 0, or -1 with why for a rejected result. */
int tenants_admit(struct tenants *t, struct task *task, const struct runtime *rt,
                  struct brig_error *why);

/* sched_limits.may_start (ctx: the tenants): whether the task's tenant has
 * quota left for one more job now. */
bool tenants_may_start(const struct task *task, void *ctx);

/* A job of a tenant finished with this much CPU. */
void tenants_finished(struct tenants *t, const struct task *task, uint64_t cpu_us, int64_t now_ms);

#endif
