/* brig-worker's parts, made in the order they depend on each other and freed
 * in reverse: the secrets, metrics, jails, runtimes and their servers,
 * egress, the audit store, the broker, the Kafka clients, the scheduler and
 * the slots. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/reclaim.h"
#include "sandbox/runtime_locate.h"
#include "sandbox/self_path.h"
#include "worker/announce.h"
#include "worker/egress_audit.h"
#include "worker/kafka.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/metrics_server.h"
#include "worker/readiness.h"
#include "worker/interp.h"
#include "worker/server_keeper.h"
#include "worker/tenants.h"
#include "worker/topics.h"
#include "worker/worker.h"

/* The backlog of received jobs before the consumer is paused. Pausing purges
 * librdkafka's prefetched messages, and a resumed partition is fetched again
 * only after about a second (measured: a backlog of 32 jobs held 2 slots to
 * 37 jobs/s, one of 1024 let them reach 300). */
#define BACKLOG_JOBS 1024
#define BACKLOG_BYTES (64u << 20)
/* With the embedded broker the messages live in this process either way,
 * and the broker deletes what it holds past a few MiB a partition: the
 * worker reads everything at once instead. */
#define EMBEDDED_BACKLOG_JOBS (1u << 20)
#define EMBEDDED_BACKLOG_BYTES (1ull << 31)

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST) {
        log_error(NULL, "creating %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* With no --audit-db, each worker on the host takes the first audit-N.db
 * whose lock no live worker holds, so a restarted worker finds its own store
 * again (and marks the attempts it abandoned) while two never share one. The
 * lock fd stays open for the life of the process. */
static char *claim_audit_db(const char *data_dir)
{
    if (make_dir(data_dir, 0700) < 0)
        return NULL;
    for (int n = 0; n < 1024; n++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/audit-%d.lock", data_dir, n);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            log_error(NULL, "opening %s: %s", path, strerror(errno));
            return NULL;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            snprintf(path, sizeof(path), "%s/audit-%d.db", data_dir, n);
            return strdup(path);
        }
        close(fd);
    }
    log_error(NULL, "every audit store in %s is in use", data_dir);
    return NULL;
}

static int open_metrics(struct worker *w)
{
    char err[512];
    /* Served from the start, so /readyz can say what start-up still waits for. */
    if (metrics_init(w->config->concurrency, err, sizeof(err)) < 0 ||
        (w->config->metrics_addr &&
         metrics_server_start(w->config->metrics_addr, metrics_registry(), readiness_report, NULL,
                              &w->metrics_server, err, sizeof(err)) < 0)) {
        log_error(NULL, "%s", err);
        return -1;
    }
    if (w->metrics_server)
        log_info(NULL, "metrics, health and readiness on http://%s",
                 metrics_server_address(w->metrics_server));
    return 0;
}

static int open_jails(struct worker *w, const char *zygote)
{
    char err[512];
    struct jail_context_config jail_config = {
        .state_dir = w->config->state_dir,
        .max_jails = w->config->concurrency,
        .spawner_path = zygote,
        /* A slot rarely starts two jails before the maker has made the next. */
        .netns_pool = w->config->concurrency < 16 ? w->config->concurrency : 16,
        .binds = w->config->binds,
        .n_binds = w->config->n_binds,
        .env = (const char *const *)w->config->job_env,
    };
    if (jail_context_new(&jail_config, &w->jail, err, sizeof(err)) < 0) {
        log_error(NULL, "the jail cannot work here: %s", err);
        return -1;
    }
    /* What a worker killed with -9 left: its jobs' workspaces, still
     * mounted, and its jails' cgroups. */
    struct jail_reclaimed reclaimed;
    if (jail_reclaim(w->jail, &reclaimed, err, sizeof(err)) < 0)
        log_warn(NULL, "reclaiming what dead workers left: %s", err);
    if (reclaimed.mounts || reclaimed.cgroups)
        log_info(NULL, "reclaimed what dead workers left: %zu workspace(s), %zu cgroup(s)",
                 reclaimed.mounts, reclaimed.cgroups);
    readiness_pass(READY_JAILS);
    return 0;
}

static void log_image_note(void *ctx, const char *text)
{
    log_warn(NULL, "runtime %s: image: %s", ((const struct runtime *)ctx)->name, text);
}

/* Root images, unpacked by brig-image (installed next to this program) the
 * first time; a runtime whose image cannot be used stops the start. */
static int open_images(struct worker *w)
{
    char builder[PATH_MAX], err[1536];
    for (size_t i = 0; i < w->runtimes->count; i++) {
        struct runtime *rt = &w->runtimes->runtimes[i];
        if (rt->image_path == NULL)
            continue;
        if (self_relative_path("brig-image", builder, sizeof(builder), err, sizeof(err)) < 0 ||
            runtime_open_image(rt, w->jail, builder, w->config->images_dir, log_image_note, rt, err,
                               sizeof(err)) < 0) {
            log_error(NULL, "%s", err);
            return -1;
        }
        log_info(NULL, "runtime %s: image %s, %s, jail policy %.16s", rt->name, rt->image_path,
                 jail_image_digest(rt->image), jail_image_policy_hash(rt->image));
    }
    return 0;
}

static int open_runtimes(struct worker *w, const char *zygote)
{
    char err[512], path[4096];
    if (runtime_table_locate(w->config->runtimes, path, sizeof(path), err, sizeof(err)) < 0 ||
        runtime_table_load(path, &w->runtimes, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    if (open_images(w) < 0)
        return -1;
    /* Learnt now, once: a version probe is a jail of its own, and during a job
     * it would need a host uid beyond the slots'. */
    for (size_t i = 0; i < w->runtimes->count; i++) {
        struct runtime *rt = &w->runtimes->runtimes[i];
        char version[128];
        if (runtime_version(w->jail, rt, version, sizeof(version), err, sizeof(err)) < 0)
            log_warn(NULL, "runtime %s: %s", rt->name, err);
        else
            log_info(NULL, "runtime %s: %s", rt->name, version);
    }
    if (runtime_table_start_warm(w->runtimes, w->jail, zygote, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    for (size_t i = 0; i < w->runtimes->count; i++) {
        const struct runtime *rt = &w->runtimes->runtimes[i];
        if (rt->warm == NULL)
            continue;
        char modules[512] = "";
        for (size_t k = 0; rt->warm_preload[k] != NULL; k++)
            snprintf(modules + strlen(modules), sizeof(modules) - strlen(modules), "%s%s",
                     k ? ", " : "", rt->warm_preload[k]);
        log_info(NULL, "runtime %s starts warm: %s with %s preloaded", rt->name,
                 jail_server_version(rt->warm), modules[0] ? modules : "nothing");
    }
    return 0;
}

/* First of all, while the worker has no other thread: a value_env secret
 * leaves the process's environment, before anything that would inherit it
 * starts. A worker that holds values makes no core dumps, and only root may
 * read its memory. */
static int open_secrets(struct worker *w)
{
    char err[1024];
    if (!w->config->secrets)
        return 0;
    if (secret_store_load(w->config->secrets, &w->secrets, err, sizeof(err)) < 0) {
        log_error(NULL, "--secrets: %s", err);
        return -1;
    }
    if (w->secrets->count > 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error(NULL, "making the worker undumpable, as it holds secrets: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int open_tenants(struct worker *w)
{
    char err[1024];
    if (!w->config->tenants)
        return 0;
    if (tenants_open(w->config, w->runtimes, &w->tenants, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    log_info(NULL,
             "%zu tenant(s) from %s: jobs and cancels must carry a tenant's signature, made within "
             "%llu s of this worker's clock",
             tenants_count(w->tenants), w->config->tenants,
             (unsigned long long)(w->config->signature_window_ms / 1000));
    return 0;
}

static bool is_tenant(const void *tenants, const char *name)
{
    return tenants_has(tenants, name);
}

/* A secret bound to a tenant the worker does not know would be nobody's: a
 * misspelt name, or a --tenants forgotten. */
static int check_secret_tenants(const struct worker *w)
{
    char err[512];
    if (secret_store_check_tenants(w->secrets, w->tenants ? is_tenant : NULL, w->tenants, err,
                                   sizeof(err)) < 0) {
        log_error(NULL, "--secrets: %s", err);
        return -1;
    }
    return 0;
}

static int open_egress(struct worker *w)
{
    char err[1024];
    if (egress_proxy_start(w->config->egress_allow, NULL, &w->egress, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    if (egress_proxy_use_secrets(w->egress, w->secrets, w->config->state_dir,
                                 w->config->egress_ca_file, err, sizeof(err)) < 0) {
        log_error(NULL, "--secrets: %s", err);
        return -1;
    }
    if (w->secrets) {
        char names[512] = "";
        for (size_t i = 0; i < w->secrets->count; i++)
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
                     w->secrets->secrets[i].name);
        log_info(NULL, "secrets jobs may name: %s", names[0] ? names : "none");
    }
    if (w->config->egress_ca_file && !w->secrets)
        log_warn(NULL, "--egress-ca-file is for the hosts secrets are bound to, and there is no "
                       "--secrets: it is not used");
    log_info(NULL, "jobs may reach %s",
             w->config->egress_allow ? w->config->egress_allow
                                     : "no network (a job that asks for it is rejected)");
    return 0;
}

static int open_audit(struct worker *w, struct worker_config *config)
{
    char err[512];
    if (!config->audit_db && !(config->audit_db = claim_audit_db(config->data_dir)))
        return -1;
    if (audit_open(config->audit_db, config->worker_id, &w->audit, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    readiness_pass(READY_AUDIT);
    if (audit_abandoned_count(w->audit) > 0)
        log_warn(NULL,
                 "%llu attempt(s) interrupted by an earlier crash are now marked abandoned in %s",
                 (unsigned long long)audit_abandoned_count(w->audit), config->audit_db);
    log_info(NULL, "audit store %s; jail policy %.16s; cgroup %s", config->audit_db,
             jail_policy_hash(w->jail), jail_cgroup_version(w->jail));
    return 0;
}

/* Partitions of the embedded broker's topics without --partitions: enough
 * for a few workers on one machine. */
#define EMBEDDED_PARTITIONS 4

static int open_broker(struct worker *w, struct worker_config *config)
{
    if (config->brokers)
        return 0;
    const char *own[] = {w->topic_jobs,    w->topic_results,  w->topic_logs, w->topic_dlq,
                         w->topic_control, w->topic_runtimes, w->topic_audit};
    /* The tenants' topics too: this broker cannot make them later. */
    size_t n_tenant_topics = 0;
    char **tenant_topics = w->tenants ? tenants_topics(w->tenants, &n_tenant_topics) : NULL;
    const char **topics = calloc(ARRAY_SIZE(own) + n_tenant_topics, sizeof(*topics));
    char err[512];
    int rc = -1;
    if (!topics || (w->tenants && !tenant_topics)) {
        log_error(NULL, "starting the embedded broker: out of memory");
        goto out;
    }
    memcpy(topics, own, sizeof(own));
    memcpy(topics + ARRAY_SIZE(own), tenant_topics, n_tenant_topics * sizeof(*topics));
    rc = embedded_broker_open(config->state_dir, topics, ARRAY_SIZE(own) + n_tenant_topics,
                              config->partitions ? config->partitions : EMBEDDED_PARTITIONS,
                              config->group, &w->broker, err, sizeof(err));
    if (rc < 0)
        log_error(NULL, "%s", err);
out:
    free(topics);
    tenants_topics_free(tenant_topics, n_tenant_topics);
    if (rc < 0)
        return -1;
    config->brokers = strdup(embedded_broker_address(w->broker));
    config->embedded_broker = true;
    if (embedded_broker_owned(w->broker))
        log_warn(NULL,
                 "no --brokers given: started an embedded Kafka-protocol broker at %s; it keeps "
                 "messages IN MEMORY ONLY and loses them when this process exits; its address is "
                 "in %s/broker; production points --brokers at a Kafka cluster",
                 config->brokers, config->state_dir);
    else
        log_info(NULL, "no --brokers given: joined the embedded broker at %s (from %s/broker)",
                 config->brokers, config->state_dir);
    printf("brokers %s\n", config->brokers);
    fflush(stdout);
    return 0;
}

static void check_partition(void *w, const struct stats_partition *seen)
{
    check_log_start(w, seen);
}

/* librdkafka's statistics, every statistics.interval.ms from the consumer
 * poll of the main loop: the consumer lag, whether a broker is connected,
 * and jobs deleted before they were read. */
static int on_statistics(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct worker *w = opaque;
    char err[512];
    (void)rk;
    int brokers_up = metrics_update_from_rdkafka_stats(json, len, w->topic_jobs, check_partition, w,
                                                       err, sizeof(err));
    if (brokers_up < 0)
        log_warn(NULL, "%s", err);
    else
        readiness_set(READY_KAFKA, brokers_up > 0, "no connection to any Kafka broker");
    return 0; /* librdkafka frees json */
}

/* How long a job may wait in the jobs topic for a worker: past it the
 * cluster deletes it unread (logged, counted and audited when a worker
 * comes to it). A week of backlog is an outage, not a queue. */
#define JOBS_RETENTION_MS "604800000"

static int prepare_topics(struct worker *w)
{
    static const char *const jobs_configs[][2] = {{"max.message.bytes", "20971520"},
                                                  {"retention.ms", JOBS_RETENTION_MS},
                                                  {"retention.bytes", "-1"},
                                                  {0}};
    /* The fleet's audit: kept for good, like the stores it rebuilds
     * (brig audit sync); its records carry whole jobs and results. */
    static const char *const audit_configs[][2] = {{"max.message.bytes", "20971520"},
                                                   {"retention.ms", "-1"},
                                                   {"retention.bytes", "-1"},
                                                   {"cleanup.policy", "delete"},
                                                   {0}};
    static const char *const no_configs[][2] = {{0}};
    /* Requests are read from CONTROL_LOOKBACK_MS back; a day is plenty. */
    static const char *const control_configs[][2] = {{"retention.ms", "86400000"}, {0}};
    /* One record per worker, the last one kept (announce.h). */
    static const char *const runtimes_configs[][2] = {{"cleanup.policy", "compact"}, {0}};
    const struct topic_need needs[] = {
        {.name = w->topic_jobs, .configs = jobs_configs, .large_messages = true},
        {.name = w->topic_results, .configs = topic_large_messages, .large_messages = true},
        {.name = w->topic_logs, .configs = no_configs},
        {.name = w->topic_dlq, .configs = topic_large_messages, .large_messages = true},
        {.name = w->topic_control, .partitions = 1, .configs = control_configs},
        {.name = w->topic_runtimes, .partitions = 1, .configs = runtimes_configs},
        {.name = w->topic_audit, .configs = audit_configs, .large_messages = true},
    };
    char err[1024];
    if (topics_prepare(w->config, needs, ARRAY_SIZE(needs), err, sizeof(err)) < 0 ||
        (w->tenants && tenants_prepare_topics(w->tenants, w->config, err, sizeof(err)) < 0)) {
        log_error(NULL, "%s", err);
        return -1;
    }
    return 0;
}

static int open_kafka(struct worker *w)
{
    char err[512];
    const struct publisher_topics topics = {.results = w->topic_results,
                                            .logs = w->topic_logs,
                                            .dlq = w->topic_dlq,
                                            .audit = w->topic_audit};
    if (!w->broker && prepare_topics(w) < 0)
        return -1;
    w->consumer = kafka_consumer_new(w->config, on_rebalance, on_statistics, w, err, sizeof(err));
    if (!w->consumer || publisher_new(w->config, &topics, &w->publisher, err, sizeof(err)) < 0 ||
        audit_feed_new(w->audit, w->publisher, w->topic_audit, &w->audit_feed, err, sizeof(err)) <
            0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    w->consumer_queue = rd_kafka_queue_get_consumer(w->consumer);
    if (cancel_open(w, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    return 0;
}

/* A slot that finished a job wakes the main loop from its consumer poll. */
static void wake_main_loop(void *ctx)
{
    struct worker *w = ctx;
    rd_kafka_queue_yield(w->consumer_queue);
}

static void run_in_slot(void *task, void *env)
{
    execute_task(env, task);
}

static int open_slots(struct worker *w, const char *zygote)
{
    bool embedded = w->config->embedded_broker;
    const struct sched_limits limits = {
        .jobs = embedded ? EMBEDDED_BACKLOG_JOBS : BACKLOG_JOBS,
        .bytes = embedded ? EMBEDDED_BACKLOG_BYTES : BACKLOG_BYTES,
        .may_start = w->tenants ? tenants_may_start : NULL,
        .may_start_ctx = w->tenants,
    };
    if (w->tenants)
        tenants_set_backlog(w->tenants, limits.jobs, limits.bytes);
    if (!(w->scheduler = sched_new(&limits))) {
        log_error(NULL, "creating the scheduler: out of memory");
        return -1;
    }
    const struct interp_pool_config interps = {
        .max_live = w->config->max_interpreters,
        .grace_ms = w->config->interrupt_grace_ms,
        .lifetime_ms = w->config->interpreter_lifetime_ms ? w->config->interpreter_lifetime_ms
                                                          : 3600ull * 1000,
        .idle_ms = w->config->session_ttl_ms,
    };
    char err[512];
    if (interp_pool_new(&interps, w->jail, zygote, &w->interps, err, sizeof(err)) < 0 ||
        server_keeper_start(w->jail, w->runtimes, interp_pool_kernel_server(w->interps), &w->keeper,
                            err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    w->slot_env = (struct slot_env){
        .config = w->config,
        .jail = w->jail,
        .runtimes = w->runtimes,
        .egress = w->egress,
        .publisher = w->publisher,
        .interps = w->interps,
    };
    const struct slot_pool_ops ops = {
        .run = run_in_slot, .run_ctx = &w->slot_env, .wake = wake_main_loop, .wake_ctx = w};
    if (slot_pool_start(w->config->concurrency, &ops, &w->slots) < 0) {
        log_error(NULL, "starting %u slot threads failed", w->config->concurrency);
        return -1;
    }
    return 0;
}

int worker_open(struct worker *w, struct worker_config *config)
{
    char zygote[PATH_MAX], err[512];
    *w = (struct worker){.config = config};
    w->answering_tail = &w->answering;
    w->starting_tail = &w->starting;
    worker_topic(config, "jobs", w->topic_jobs, sizeof(w->topic_jobs));
    worker_topic(config, "results", w->topic_results, sizeof(w->topic_results));
    worker_topic(config, "logs", w->topic_logs, sizeof(w->topic_logs));
    worker_topic(config, "dlq", w->topic_dlq, sizeof(w->topic_dlq));
    worker_topic(config, "control", w->topic_control, sizeof(w->topic_control));
    worker_topic(config, "runtimes", w->topic_runtimes, sizeof(w->topic_runtimes));
    w->started_ms = wall_clock_ms();
    worker_topic(config, "audit", w->topic_audit, sizeof(w->topic_audit));
    if (open_secrets(w) < 0 || make_dir(config->state_dir, 0755) < 0 || open_metrics(w) < 0)
        return -1;
    /* brig-zygote, installed next to this program: it clones the jails and
     * serves warm runtimes. */
    if (self_relative_path("brig-zygote", zygote, sizeof(zygote), err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return -1;
    }
    if (open_jails(w, zygote) < 0 || open_runtimes(w, zygote) < 0 || open_tenants(w) < 0 ||
        check_secret_tenants(w) < 0 || open_egress(w) < 0 || open_audit(w, config) < 0 ||
        open_broker(w, config) < 0 || open_kafka(w) < 0 || open_slots(w, zygote) < 0)
        return -1;
    worker_announce(w);
    return 0;
}

static bool keep_none(const struct task *task, void *ctx)
{
    (void)task, (void)ctx;
    return false;
}

static void free_list(struct task *list)
{
    for (struct task *t = list, *next; t; t = next) {
        next = t->next;
        task_free(t);
    }
}

/* Tasks still held after the loop (a fatal stop): answers never delivered,
 * whose offsets were never stored, so their jobs run again elsewhere. */
static void free_tasks(struct worker *w)
{
    struct task *list = NULL, **tail = &list, *task;
    if (w->scheduler)
        free_list(sched_take_unless(w->scheduler, keep_none, NULL));
    while (w->slots && (task = slot_pool_take_done(w->slots)))
        task_append(&tail, task);
    if (w->publisher)
        publisher_abandon(w->publisher, &tail);
    free_list(list);
    free_list(w->answering);
    free_list(w->starting);
}

/* Leaves the group within a bound: a plain rd_kafka_consumer_close() can
 * wait for ever (seen with a member the group no longer knew, and with its
 * topic deleted). The close runs in librdkafka's thread; its rebalance
 * events come here and are handled as the callback would. */
static void close_consumer(struct worker *w)
{
    rd_kafka_queue_t *queue = rd_kafka_queue_new(w->consumer);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(w->consumer, queue);
    if (error) {
        log_warn(NULL, "leaving the consumer group: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    int64_t give_up = monotonic_ms() + (int64_t)w->config->revoke_timeout_ms + 5000;
    while (!error && !rd_kafka_consumer_closed(w->consumer) && monotonic_ms() < give_up) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 100);
        if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            on_rebalance(w->consumer, rd_kafka_event_error(ev),
                         rd_kafka_event_topic_partition_list(ev), w);
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    if (!error && !rd_kafka_consumer_closed(w->consumer))
        log_warn(NULL, "leaving the consumer group did not finish in time; the group drops this "
                       "member at its session timeout");
    rd_kafka_queue_destroy(queue);
}

int worker_close(struct worker *w)
{
    char err[512];
    int status = 0;
    if (!w->config)
        return 0; /* never opened */
    worker_withdraw(w);
    /* Leaving the group revokes the partitions (partitions.c), which may
     * still take a turn of the loop: everything else is still there. */
    if (w->consumer)
        close_consumer(w);
    free_tasks(w);
    slot_pool_free(w->slots);
    sched_free(w->scheduler);
    /* No job runs any more: the servers it restarted may die with it. */
    server_keeper_stop(w->keeper);
    interp_pool_free(w->interps);
    metrics_server_stop(w->metrics_server);
    /* After a fatal stop the last jobs' connection records are still queued. */
    if (w->egress && w->audit && egress_audit_drain(w->egress, w->audit, err, sizeof(err)) < 0)
        log_error(NULL, "%s", err);
    egress_proxy_free(w->egress);
    secret_store_free(w->secrets);
    /* Before the store closes: what was delivered comes off its outbox in
     * its last commit. */
    audit_feed_free(w->audit_feed);
    if (w->audit && audit_close(w->audit, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        status = -1;
    }
    /* The clients go before the broker they may be connected to. */
    if (w->consumer_queue)
        rd_kafka_queue_destroy(w->consumer_queue);
    if (w->consumer &&
        !kafka_destroy_bounded(w->consumer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE, 10000))
        log_warn(NULL, "the Kafka consumer did not shut down within 10 s; left to the exit");
    cancel_close(w);
    publisher_free(w->publisher);
    tenants_free(w->tenants);
    embedded_broker_close(w->broker);
    runtime_table_free(w->runtimes);
    jail_context_free(w->jail);
    for (int32_t p = 0; p < w->n_partitions; p++)
        tracker_free(w->partitions[p].tracker);
    free(w->partitions);
    metrics_free();
    return status;
}
