/* brig-worker: start-up and shut-down around the pool's main loop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/runtime_locate.h"
#include "sandbox/self_path.h"
#include "worker/broker.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/metrics_server.h"
#include "worker/readiness.h"
#include "worker/server_keeper.h"
#include "worker/state_file.h"
#include "worker/worker.h"

static struct worker *running_worker;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (running_worker)
        running_worker->stop_requests++;
}

static int install_signal_handlers(void)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
        log_error(NULL, "installing signal handlers: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

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

static int start_warm_runtimes(struct worker *w, const char *zygote, char *err, size_t errlen)
{
    if (runtime_table_start_warm(w->runtimes, w->jail, zygote, err, errlen) < 0)
        return -1;
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

static struct embedded_broker *start_embedded_broker(struct worker_config *config, struct worker *w)
{
    const char *topics[] = {w->topic_jobs, w->topic_results, w->topic_logs, w->topic_dlq};
    struct embedded_broker *broker;
    char err[512];
    if (embedded_broker_start(1, topics, 4, config->partitions, &broker, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        return NULL;
    }
    config->brokers = strdup(embedded_broker_bootstraps(broker));
    config->embedded_broker = true;
    log_warn(NULL,
             "no --brokers given: started an embedded Kafka-protocol broker at %s; it keeps "
             "messages IN MEMORY ONLY and loses them when this process exits; production points "
             "--brokers at a Kafka cluster",
             config->brokers);
    if (broker_state_write(config->state_dir, config->brokers, err, sizeof(err)) < 0)
        log_warn(NULL, "%s (clients need --brokers %s)", err, config->brokers);
    else
        log_info(NULL, "the broker's address is in %s/broker", config->state_dir);
    printf("brokers %s\n", config->brokers);
    fflush(stdout);
    return broker;
}

int main(int argc, char **argv)
{
    struct worker_config config;
    struct worker w = {.config = &config, .cancel_fd = -1};
    struct embedded_broker *broker = NULL;
    struct metrics_server *metrics_server = NULL;
    struct server_keeper *keeper = NULL;
    char err[1024], path[4096];
    int status = 1;

    int parsed = worker_config_parse(argc, argv, &config, err, sizeof(err));
    if (parsed != 0) {
        if (parsed < 0)
            fprintf(stderr, "brig-worker: %s\n", err);
        worker_config_free(&config);
        return parsed < 0 ? 2 : 0;
    }
    worker_topic(&config, "jobs", w.topic_jobs, sizeof(w.topic_jobs));
    worker_topic(&config, "results", w.topic_results, sizeof(w.topic_results));
    worker_topic(&config, "logs", w.topic_logs, sizeof(w.topic_logs));
    worker_topic(&config, "dlq", w.topic_dlq, sizeof(w.topic_dlq));
    log_configure(config.log_format, config.log_level, config.worker_id, STDERR_FILENO);
    running_worker = &w;
    if (install_signal_handlers() < 0 || make_dir(config.state_dir, 0755) < 0)
        goto out;
    /* Served from the start, so /readyz can say what start-up still waits for. */
    if (metrics_init(config.concurrency, err, sizeof(err)) < 0 ||
        (config.metrics_addr &&
         metrics_server_start(config.metrics_addr, metrics_registry(), readiness_report, NULL,
                              &metrics_server, err, sizeof(err)) < 0)) {
        log_error(NULL, "%s", err);
        goto out;
    }
    if (metrics_server)
        log_info(NULL, "metrics, health and readiness on http://%s",
                 metrics_server_address(metrics_server));

    char zygote[PATH_MAX];
    /* brig-zygote, installed next to this program: it clones the jails and
     * serves warm runtimes. */
    if (self_relative_path("brig-zygote", zygote, sizeof(zygote), err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    struct jail_context_config jail_config = {
        .state_dir = config.state_dir,
        .max_jails = config.concurrency,
        .spawner_path = zygote,
        /* A slot rarely starts two jails before the maker has made the next. */
        .netns_pool = config.concurrency < 16 ? config.concurrency : 16,
    };
    if (jail_context_new(&jail_config, &w.jail, err, sizeof(err)) < 0) {
        log_error(NULL, "the jail cannot work here: %s", err);
        goto out;
    }
    readiness_pass(READY_JAILS);
    if (runtime_table_locate(config.runtimes, path, sizeof(path), err, sizeof(err)) < 0 ||
        runtime_table_load(path, &w.runtimes, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    /* Learnt now, once: a version probe is a jail of its own, and during a job
     * it would need a host uid beyond the slots'. */
    for (size_t i = 0; i < w.runtimes->count; i++) {
        struct runtime *rt = &w.runtimes->runtimes[i];
        char version[128];
        if (runtime_version(w.jail, rt, version, sizeof(version), err, sizeof(err)) < 0)
            log_warn(NULL, "runtime %s: %s", rt->name, err);
        else
            log_info(NULL, "runtime %s: %s", rt->name, version);
    }
    if (start_warm_runtimes(&w, zygote, err, sizeof(err)) < 0 ||
        server_keeper_start(w.jail, w.runtimes, &keeper, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    if (egress_proxy_start(config.egress_allow, NULL, &w.egress, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    log_info(NULL, "jobs may reach %s",
             config.egress_allow ? config.egress_allow
                                 : "no network (a job that asks for it is rejected)");
    if (!config.audit_db && !(config.audit_db = claim_audit_db(config.data_dir)))
        goto out;
    if (audit_open(config.audit_db, config.worker_id, &w.audit, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        goto out;
    }
    readiness_pass(READY_AUDIT);
    if (audit_abandoned_count(w.audit) > 0)
        log_warn(NULL,
                 "%llu attempt(s) interrupted by an earlier crash are now marked abandoned in %s",
                 (unsigned long long)audit_abandoned_count(w.audit), config.audit_db);
    log_info(NULL, "audit store %s; jail policy %.16s; cgroup %s", config.audit_db,
             jail_policy_hash(w.jail), jail_cgroup_version(w.jail));

    if (!config.brokers && !(broker = start_embedded_broker(&config, &w)))
        goto out;

    status = worker_run(&w);

out:
    /* No job runs any more: the servers it restarted may die with it. */
    server_keeper_stop(keeper);
    metrics_server_stop(metrics_server);
    /* After a fatal stop the last jobs' connection records are still queued. */
    if (w.egress && w.audit)
        egress_drain_audit(w.egress, w.audit);
    egress_proxy_free(w.egress);
    if (w.audit && audit_close(w.audit, err, sizeof(err)) < 0) {
        log_error(NULL, "%s", err);
        status = status ? status : 1;
    }
    /* The clients go before the broker they may be connected to. */
    if (w.consumer)
        rd_kafka_destroy(w.consumer);
    for (size_t i = 0; i < sizeof(w.output_topics) / sizeof(w.output_topics[0]); i++)
        if (w.output_topics[i])
            rd_kafka_topic_destroy(w.output_topics[i]);
    if (w.producer)
        rd_kafka_destroy(w.producer);
    if (broker) {
        broker_state_remove(config.state_dir, embedded_broker_bootstraps(broker));
        embedded_broker_stop(broker);
    }
    slot_pool_free(w.slots);
    if (w.cancel_fd >= 0)
        close(w.cancel_fd);
    runtime_table_free(w.runtimes);
    jail_context_free(w.jail);
    for (int32_t p = 0; p < w.n_partitions; p++)
        tracker_free(w.partitions[p].tracker);
    free(w.partitions);
    free(w.running_sessions);
    metrics_free();
    worker_config_free(&config);
    return status;
}
