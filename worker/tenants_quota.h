/* What each tenant uses of this worker: the jobs it has waiting and running
 * (counted by the scheduler in the tenant's sched_account) and the CPU its
 * jobs spent over the last hour.
 *
 * CPU is kept in a ring of one-minute buckets, so "the last hour" slides a
 * minute at a time: a job's cpu_us counts in the minute it finished, and
 * stops counting sixty minutes later. Each worker keeps its own; nothing is
 * shared between workers (README, "Quotas").
 *
 * An entry lives as long as the registry, whatever happens to the tenants
 * file: tasks hold pointers to it, and a tenant removed and added back keeps
 * its hour. Main loop thread only. */
#ifndef BRIG_WORKER_TENANTS_QUOTA_H
#define BRIG_WORKER_TENANTS_QUOTA_H

#include <stdint.h>

#include "schema/signature.h"
#include "worker/scheduler.h"
#include "worker/tenants_file.h"

#define QUOTA_MINUTES 60

struct tenant_usage {
    char name[BRIG_TENANT_MAX + 1];
    struct sched_account account; /* waiting and running here */
    uint64_t cpu_us[QUOTA_MINUTES];
    int64_t minute[QUOTA_MINUTES]; /* the minute (Unix ms / 60000) each bucket holds */
};

struct tenant_quota;

/* NULL when out of memory. */
struct tenant_quota *tenant_quota_new(void);
void tenant_quota_free(struct tenant_quota *q);

/* The tenant's entry, made on first use; NULL when out of memory. */
struct tenant_usage *tenant_usage_of(struct tenant_quota *q, const char *name);

/* Adds a finished job's CPU at now_ms. */
void tenant_usage_add_cpu(struct tenant_usage *u, uint64_t cpu_us, int64_t now_ms);
/* CPU spent in the hour up to now_ms. */
uint64_t tenant_usage_cpu_hour(const struct tenant_usage *u, int64_t now_ms);

/* Why a tenant's next job may not start yet, given its caps. */
enum quota_hold {
    QUOTA_FREE,
    QUOTA_CONCURRENCY, /* as many jobs running as concurrent_jobs allows */
    QUOTA_CPU,         /* cpu_seconds_per_hour spent in the last hour */
};
enum quota_hold tenant_usage_hold(const struct tenant_usage *u, const struct tenant_caps *caps,
                                  int64_t now_ms);

#endif
