#include "worker/tenants_quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tenant_quota {
    struct tenant_usage **entries;
    size_t count, capacity;
};

struct tenant_quota *tenant_quota_new(void)
{
    return calloc(1, sizeof(struct tenant_quota));
}

void tenant_quota_free(struct tenant_quota *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++)
        free(q->entries[i]);
    free(q->entries);
    free(q);
}

/* Tenants are few (a file an operator writes); a linear search is the
 * cheapest thing that works for hundreds. */
struct tenant_usage *tenant_usage_of(struct tenant_quota *q, const char *name)
{
    for (size_t i = 0; i < q->count; i++)
        if (strcmp(q->entries[i]->name, name) == 0)
            return q->entries[i];
    if (q->count == q->capacity) {
        size_t capacity = q->capacity ? 2 * q->capacity : 16;
        struct tenant_usage **grown = realloc(q->entries, capacity * sizeof(*grown));
        if (!grown)
            return NULL;
        q->entries = grown;
        q->capacity = capacity;
    }
    struct tenant_usage *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    snprintf(u->name, sizeof(u->name), "%s", name);
    for (int i = 0; i < QUOTA_MINUTES; i++)
        u->minute[i] = -1;
    q->entries[q->count++] = u;
    return u;
}

static int64_t minute_of(int64_t ms)
{
    return ms / 60000;
}

void tenant_usage_add_cpu(struct tenant_usage *u, uint64_t cpu_us, int64_t now_ms)
{
    int64_t minute = minute_of(now_ms);
    int slot = (int)(minute % QUOTA_MINUTES);
    if (u->minute[slot] != minute) {
        u->minute[slot] = minute;
        u->cpu_us[slot] = 0;
    }
    u->cpu_us[slot] += cpu_us;
}

uint64_t tenant_usage_cpu_hour(const struct tenant_usage *u, int64_t now_ms)
{
    int64_t minute = minute_of(now_ms);
    uint64_t sum = 0;
    for (int i = 0; i < QUOTA_MINUTES; i++)
        if (u->minute[i] > minute - QUOTA_MINUTES && u->minute[i] <= minute)
            sum += u->cpu_us[i];
    return sum;
}

enum quota_hold tenant_usage_hold(const struct tenant_usage *u, const struct tenant_caps *caps,
                                  int64_t now_ms)
{
    if (caps->concurrent_jobs && u->account.running >= caps->concurrent_jobs)
        return QUOTA_CONCURRENCY;
    if (caps->cpu_us_per_hour && tenant_usage_cpu_hour(u, now_ms) >= caps->cpu_us_per_hour)
        return QUOTA_CPU;
    return QUOTA_FREE;
}
