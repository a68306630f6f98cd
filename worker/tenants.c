#include "worker/tenants.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/units.h"
#include "sandbox/image.h"
#include "worker/tenants_quota.h"
#include "worker/topics.h"

/* A tenant may hold this fraction of the worker's backlog. */
#define BACKLOG_SHARE 4

struct tenants {
    char *path, *prefix;
    uint64_t window_ms;
    const struct runtime_table *runtimes;
    struct tenant_table *table;
    struct tenant_quota *quota;
    unsigned share_jobs;
    uint64_t share_bytes;
};

static const char *runtime_canonical(void *ctx, const char *name)
{
    const struct runtime *rt = runtime_find(ctx, name);
    return rt ? rt->name : NULL;
}

static int load(struct tenants *t, struct tenant_table **table, char *err, size_t errlen)
{
    return tenant_table_load(t->path, runtime_canonical, (void *)t->runtimes, table, err, errlen);
}

int tenants_open(const struct worker_config *config, const struct runtime_table *runtimes,
                 struct tenants **out, char *err, size_t errlen)
{
    struct tenants *t = calloc(1, sizeof(*t));
    *out = NULL;
    if (!t || !(t->path = strdup(config->tenants)) || !(t->prefix = strdup(config->topic_prefix)) ||
        !(t->quota = tenant_quota_new())) {
        snprintf(err, errlen, "the tenants: out of memory");
        tenants_free(t);
        return -1;
    }
    t->window_ms = config->signature_window_ms;
    t->runtimes = runtimes;
    t->share_jobs = UINT32_MAX;
    t->share_bytes = UINT64_MAX;
    if (load(t, &t->table, err, errlen) < 0) {
        tenants_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tenants_free(struct tenants *t)
{
    if (!t)
        return;
    tenant_table_free(t->table);
    tenant_quota_free(t->quota);
    free(t->path);
    free(t->prefix);
    free(t);
}

int tenants_reload(struct tenants *t, char *err, size_t errlen)
{
    struct tenant_table *table;
    if (load(t, &table, err, errlen) < 0)
        return -1;
    tenant_table_free(t->table);
    t->table = table;
    return 0;
}

size_t tenants_count(const struct tenants *t)
{
    return t->table->count;
}

bool tenants_has(const struct tenants *t, const char *tenant)
{
    return t && tenant_find(t->table, tenant) != NULL;
}

void tenants_set_backlog(struct tenants *t, unsigned jobs, uint64_t bytes)
{
    t->share_jobs = jobs / BACKLOG_SHARE;
    t->share_bytes = bytes / BACKLOG_SHARE;
}

void tenant_results_topic(const char *prefix, const char *tenant, char buf[BRIG_TOPIC_MAX + 1])
{
    snprintf(buf, BRIG_TOPIC_MAX + 1, "%s.results.%s", prefix, tenant);
}

void tenant_logs_topic(const char *prefix, const char *tenant, char buf[BRIG_TOPIC_MAX + 1])
{
    snprintf(buf, BRIG_TOPIC_MAX + 1, "%s.logs.%s", prefix, tenant);
}

void tenants_topics_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

char **tenants_topics(const struct tenants *t, size_t *count)
{
    size_t n = 2 * t->table->count;
    char **names = calloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; names && i < t->table->count; i++) {
        const char *tenant = t->table->tenants[i].name;
        if (!(names[2 * i] = malloc(BRIG_TOPIC_MAX + 1)) ||
            !(names[2 * i + 1] = malloc(BRIG_TOPIC_MAX + 1))) {
            tenants_topics_free(names, n);
            return NULL;
        }
        tenant_results_topic(t->prefix, tenant, names[2 * i]);
        tenant_logs_topic(t->prefix, tenant, names[2 * i + 1]);
    }
    *count = n;
    return names;
}

int tenants_prepare_topics(const struct tenants *t, const struct worker_config *config, char *err,
                           size_t errlen)
{
    static const char *const no_configs[][2] = {{0}};
    size_t n;
    char **names = tenants_topics(t, &n);
    if (!names) {
        snprintf(err, errlen, "the tenants' topics: out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t first = 0; first < n && rc == 0; first += TOPICS_MAX) {
        struct topic_need needs[TOPICS_MAX];
        size_t count = n - first < TOPICS_MAX ? n - first : TOPICS_MAX;
        for (size_t i = 0; i < count; i++) {
            bool results = (first + i) % 2 == 0;
            needs[i] = (struct topic_need){
                .name = names[first + i],
                .configs = results ? topic_large_messages : no_configs,
                .large_messages = results,
            };
        }
        rc = topics_prepare(config, needs, count, err, errlen);
    }
    tenants_topics_free(names, n);
    return rc;
}

/* ---- signatures ---- */

static size_t keys_of(void *ctx, const char *name, const uint8_t (**keys)[BRIG_ED25519_KEY_BYTES])
{
    const struct tenant *tenant = tenant_find(ctx, name);
    if (!tenant)
        return 0;
    *keys = (const uint8_t(*)[BRIG_ED25519_KEY_BYTES])tenant->keys;
    return tenant->n_keys;
}

/* One header's value: NULL when absent, "" for a null value; -1 when it is
 * there twice (which of the two would be the signed one?). */
static int header(rd_kafka_headers_t *headers, const char *name, const void **value, size_t *len,
                  struct brig_error *why)
{
    const void *second;
    size_t second_len;
    *value = NULL;
    *len = 0;
    if (!headers || rd_kafka_header_get(headers, 0, name, value, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (!*value)
        *value = "";
    if (rd_kafka_header_get(headers, 1, name, &second, &second_len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(why->field, sizeof(why->field), "%s", name);
        snprintf(why->reason, sizeof(why->reason), "invalid header: it is there twice");
        return -1;
    }
    return 0;
}

int tenants_verify(struct tenants *t, const rd_kafka_message_t *msg, const char *topic,
                   int64_t now_ms, uint64_t slack_ms, char tenant[BRIG_TENANT_MAX + 1],
                   struct brig_error *why)
{
    rd_kafka_headers_t *headers = NULL;
    struct brig_signature_headers h;
    if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
        headers = NULL;
    if (header(headers, BRIG_HEADER_TENANT, &h.tenant, &h.tenant_len, why) < 0 ||
        header(headers, BRIG_HEADER_TS, &h.ts, &h.ts_len, why) < 0 ||
        header(headers, BRIG_HEADER_SIG, &h.sig, &h.sig_len, why) < 0)
        return -1;
    struct brig_signed m = {
        .topic = topic,
        .key = msg->key,
        .key_len = msg->key_len,
        .value = msg->payload,
        .value_len = msg->len,
    };
    struct brig_signature sig;
    if (brig_signature_check(&h, &m, (uint64_t)now_ms, t->window_ms + slack_ms, keys_of, t->table,
                             &sig, why) < 0)
        return -1;
    memcpy(tenant, sig.tenant, sizeof(sig.tenant));
    return 0;
}

bool tenants_reply_topic(const struct tenants *t, const char *tenant, const char *asked,
                         char buf[BRIG_TOPIC_MAX + 1])
{
    tenant_results_topic(t->prefix, tenant, buf);
    if (!asked || !asked[0])
        return true;
    size_t len = strlen(buf);
    /* The tenant's own, or under it: "<own>." starts a name only the
     * tenant's (tenant names have no dots), as the ACL recipe grants. */
    if (strcmp(asked, buf) == 0 || (strncmp(asked, buf, len) == 0 && asked[len] == '.')) {
        snprintf(buf, BRIG_TOPIC_MAX + 1, "%s", asked);
        return true;
    }
    return false;
}

/* ---- caps ---- */

static int refuse(struct brig_error *why, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct brig_error *why, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(why->field, sizeof(why->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(why->reason, sizeof(why->reason), fmt, ap);
    va_end(ap);
    return -1;
}

static bool listed(char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void list_text(char *const *list, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; list[i] && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", list[i]);
}

static int check_runtime(const struct tenant *tenant, const struct runtime *rt,
                         struct brig_error *why)
{
    const struct tenant_caps *caps = &tenant->caps;
    char names[120];
    const char *name = rt ? rt->name : TENANT_ARGV;
    if (caps->runtimes && !listed(caps->runtimes, name)) {
        list_text(caps->runtimes, names, sizeof(names));
        return refuse(why, rt ? "runtime" : "argv", "tenant %s may not use %s%s (it may use %s)",
                      tenant->name, rt ? "runtime " : "", rt ? name : "argv jobs",
                      names[0] ? names : "none");
    }
    if (!caps->images)
        return 0;
    const char *path = rt && rt->image_path ? rt->image_path : TENANT_HOST_IMAGE;
    const char *digest = rt && rt->image ? jail_image_digest(rt->image) : NULL;
    if (listed(caps->images, path) || (digest && listed(caps->images, digest)))
        return 0;
    return refuse(why, rt ? "runtime" : "argv", "tenant %s may not use the image %s runs on (%s)",
                  tenant->name, rt ? rt->name : "an argv job",
                  strcmp(path, TENANT_HOST_IMAGE) == 0 ? "the host's /usr" : path);
}

/* A limit's value as a person reads it. */
static void limit_text(const char *name, uint64_t value, char *buf, size_t len)
{
    size_t n = strlen(name);
    if (n > 6 && strcmp(name + n - 6, "_bytes") == 0)
        units_format_size(value, buf, len);
    else if (n > 3 && strcmp(name + n - 3, "_ms") == 0)
        units_format_duration_us(value * 1000, buf, len);
    else
        snprintf(buf, len, "%llu", (unsigned long long)value);
}

/* A limit over its cap is refused; one the job leaves out is lowered to the
 * cap when its default is higher, since the job did not ask for more. */
static int check_limits(const struct tenant *tenant, struct brig_limits *limits,
                        struct brig_error *why)
{
    struct brig_limits caps = tenant->caps.limits;
    const struct brig_limit_info *info;
    for (size_t i = 0; (info = brig_limit_info(i)); i++) {
        uint64_t cap = *brig_limit_field(&caps, info);
        uint64_t *asked = brig_limit_field(limits, info);
        if (cap == 0)
            continue;
        if (*asked > cap) {
            char field[64], text[32];
            snprintf(field, sizeof(field), "limits.%s", info->name);
            limit_text(info->name, cap, text, sizeof(text));
            return refuse(why, field, "over tenant %s's cap of %s", tenant->name, text);
        }
        if (*asked == 0 && info->fallback > cap)
            *asked = cap;
    }
    return 0;
}

static int narrow_network(const struct tenant *tenant, struct task *task, struct brig_error *why)
{
    const struct brig_network *asked = &task->job.network;
    if (!tenant->caps.egress_set || asked->mode != BRIG_NETWORK_ALLOW || asked->rule_count == 0)
        return 0;
    if (egress_rules_bound(asked, &tenant->caps.egress, &task->network_rules, why) < 0) {
        if (strcmp(why->field, "network") == 0)
            return refuse(why, "network", "tenant %s may not use the network", tenant->name);
        char rule[BRIG_ALLOW_RULE_MAX + 1] = "";
        const char *quote = strchr(why->reason, '"');
        if (quote)
            snprintf(rule, sizeof(rule), "%.*s", (int)strcspn(quote + 1, "\""), quote + 1);
        return refuse(why, why->field, "\"%s\" is outside tenant %s's egress rules", rule,
                      tenant->name);
    }
    task->network = (struct brig_network){
        .mode = BRIG_NETWORK_ALLOW,
        .rules = task->network_rules.rules,
        .rule_count = task->network_rules.count,
    };
    return 0;
}

int tenants_admit(struct tenants *t, struct task *task, const struct runtime *rt,
                  struct brig_error *why)
{
    const struct tenant *tenant = tenant_find(t->table, task->tenant);
    struct tenant_usage *usage = tenant_usage_of(t->quota, task->tenant);
    if (!tenant)
        return refuse(why, "", "tenant %s is no longer in the tenants file", task->tenant);
    if (!usage)
        return refuse(why, "", "out of memory");
    if (check_runtime(tenant, rt, why) < 0 || check_limits(tenant, &task->job.limits, why) < 0 ||
        narrow_network(tenant, task, why) < 0)
        return -1;
    if (usage->account.waiting >= t->share_jobs ||
        usage->account.waiting_bytes + task->raw_len > t->share_bytes)
        return refuse(why, "",
                      "tenant %s already has %u jobs (%llu bytes) waiting on this worker, its "
                      "share of the backlog: send it again later",
                      tenant->name, usage->account.waiting,
                      (unsigned long long)usage->account.waiting_bytes);
    task->account = &usage->account;
    return 0;
}

/* ---- quotas ---- */

static struct tenant_usage *usage_of_task(const struct task *task)
{
    return (struct tenant_usage *)((char *)task->account - offsetof(struct tenant_usage, account));
}

bool tenants_may_start(const struct task *task, void *ctx)
{
    struct tenants *t = ctx;
    if (!task->account)
        return true;
    /* A tenant taken out of the file keeps the jobs it had admitted. */
    const struct tenant *tenant = tenant_find(t->table, task->tenant);
    return !tenant ||
           tenant_usage_hold(usage_of_task(task), &tenant->caps, wall_clock_ms()) == QUOTA_FREE;
}

void tenants_finished(struct tenants *t, const struct task *task, uint64_t cpu_us, int64_t now_ms)
{
    (void)t;
    if (task->account)
        tenant_usage_add_cpu(usage_of_task(task), cpu_us, now_ms);
}
