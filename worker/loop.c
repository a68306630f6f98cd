/* The worker's main loop, on one thread: consume a few messages (intake.c),
 * then take one turn of the job path. Slots run jobs; everything else
 * happens here. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "common/common.h"
#include "sandbox/session.h"
#include "worker/egress_audit.h"
#include "worker/interp.h"
#include "worker/log.h"
#include "worker/loop.h"
#include "worker/metrics.h"
#include "worker/readiness.h"
#include "worker/tenants.h"
#include "worker/worker.h"

/* How long the loop waits for a message when nothing happens: slots wake it
 * as soon as a job finishes (rd_kafka_queue_yield). */
#define POLL_MS 100
/* Messages read before each turn, so that a burst is recorded and committed
 * in one audit batch. */
#define INTAKE_BATCH 64

static void log_audit_error(const char *job, const char *what, const char *err)
{
    log_error(job, "audit store: %s: %s", what, err);
}

void worker_fail(struct worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fatal_reason, sizeof(w->fatal_reason), fmt, ap);
    va_end(ap);
    if (!w->fatal)
        log_error(NULL, "FATAL: %s", w->fatal_reason);
    w->fatal = true;
}

/* ---- one turn ---- */

/* Jobs whose attempt ended in a slot: the end goes into the audit batch,
 * the answer (and the followers' answers, the same result) waits for the
 * commit. */
static void take_finished(struct worker *w)
{
    struct task *task;
    char err[512];
    while ((task = slot_pool_take_done(w->slots))) {
        if (audit_attempt_end(w->audit, task->attempt_id, &task->outcome, task->result.data,
                              task->result.size, err, sizeof(err)) < 0)
            log_audit_error(task->job_id, "recording an outcome", err);
        struct task *followers = sched_finish(w->scheduler, task);
        if (w->tenants)
            tenants_finished(w->tenants, task, task->outcome.cpu_us, wall_clock_ms());
        answer_later(w, task);
        for (struct task *f = followers, *next; f; f = next) {
            next = f->next;
            msgpack_sbuffer_write(&f->result, task->result.data, task->result.size);
            if (audit_record_redelivery(w->audit, f->job_id, f->message_id, task->attempt_id,
                                        wall_clock_ms(), err, sizeof(err)) < 0)
                log_audit_error(f->job_id, "recording a redelivery", err);
            metrics_redelivery_answered();
            answer_later(w, f);
        }
    }
}

/* Jobs that free slots can take, in the scheduler's order, with their
 * attempts recorded; they start once the records are committed. */
static void take_startable(struct worker *w)
{
    unsigned free_slots = slot_pool_size(w->slots) - slot_pool_busy(w->slots) - w->n_starting;
    char err[512];
    for (; free_slots > 0; free_slots--) {
        struct task *task = sched_next(w->scheduler);
        if (!task)
            break;
        task->started_ms = wall_clock_ms();
        const struct runtime *rt =
            task->runtime_name ? runtime_find(w->runtimes, task->runtime_name) : NULL;
        if (audit_attempt_begin(w->audit, task->job_id, task->started_ms, task->runtime_name, NULL,
                                runtime_policy_hash(w->jail, rt),
                                rt && rt->image ? jail_image_digest(rt->image) : NULL,
                                &task->attempt_id, &task->attempt_number, err, sizeof(err)) < 0) {
            log_audit_error(task->job_id, "recording an attempt", err);
            task->attempt_number = 1;
        }
        task_append(&w->starting_tail, task);
        w->n_starting++;
    }
}

/* The one commit of the turn: the records of what is about to be published
 * or started. Nothing is published, started or offset-stored before the
 * records that describe it are on disk, so whoever reads a result finds its
 * audit record, and a worker killed at any moment leaves every job it
 * started findable (its next start marks them abandoned). */
static int commit_audit(struct worker *w)
{
    char err[512];
    double started = monotonic_seconds();
    int rc = audit_flush(w->audit, err, sizeof(err));
    metrics_audit_write(monotonic_seconds() - started);
    readiness_set(READY_AUDIT, rc == 0, "committing: %s", err);
    if (rc < 0)
        log_audit_error(NULL, "committing (retried next turn)", err);
    return rc;
}

static void publish_answers(struct worker *w)
{
    struct task *task;
    while ((task = w->answering) && !w->fatal) {
        w->answering = task->next;
        if (!w->answering)
            w->answering_tail = &w->answering;
        if (publish_answer(w->publisher, task) < 0) {
            task_release(w, task, false);
            worker_fail(w, "an answer could not be produced");
        } else if (task->undelivered == 0) {
            /* Nothing could be said (no id, no dead letter): the audit store
             * has the message. */
            task_release(w, task, true);
        }
    }
}

static void start_jobs(struct worker *w)
{
    struct task *task;
    while ((task = w->starting)) {
        w->starting = task->next;
        w->n_starting--;
        task->next = NULL;
        /* Its own stop switch: a cancel, or the drain timeout, stops this
         * job's jail and no other. Without one the job still runs, and
         * only its own limits stop it. */
        task->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (task->cancel_fd < 0)
            log_error(task->job_id, "creating its stop switch: %s", strerror(errno));
        else if (atomic_load(&task->stop_reason) != TASK_STOP_NONE)
            eventfd_write(task->cancel_fd, 1); /* stopped before it started */
        /* Only this thread submits and slots only free up, so a slot counted
         * free by take_startable() is still free. */
        bool taken = slot_pool_submit(w->slots, task);
        (void)taken;
        assert(taken);
        metrics_job_started((double)(task->started_ms - task->received_ms) / 1000);
    }
    w->starting_tail = &w->starting;
}

/* Delivery reports; tasks fully delivered are released and their
 * partitions' offsets move on. */
static void release_delivered(struct worker *w)
{
    struct task *delivered = NULL, **tail = &delivered;
    publisher_poll(w->publisher, 0, &tail);
    if (publisher_failed(w->publisher))
        worker_fail(w, "the Kafka producer failed for good");
    if (!delivered)
        return;
    for (struct task *task = delivered, *next; task; task = next) {
        next = task->next;
        task_release(w, task, true);
    }
    store_offsets(w);
}

static void set_paused(struct worker *w, bool paused)
{
    rd_kafka_topic_partition_list_t *assignment = NULL;
    if (w->paused == paused || rd_kafka_assignment(w->consumer, &assignment) != 0)
        return;
    if (paused)
        rd_kafka_pause_partitions(w->consumer, assignment);
    else
        rd_kafka_resume_partitions(w->consumer, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    w->paused = paused;
}

/* ---- decisions (loop.h) ---- */

/* Sessions idle past their TTL are removed by whichever worker of the host
 * looks first (every minute, or every TTL when that is shorter). */
#define SESSION_SWEEP_MS 60000
#define BROKER_CHECK_MS 1000
#define EXPIRY_CHECK_MS 1000

/* Whether the work next due at *next is due at now; if so, it is next due
 * every ms later. */
static bool due(int64_t *next, int64_t now, int64_t every)
{
    if (now < *next)
        return false;
    *next = now + every;
    return true;
}

unsigned loop_due(struct loop_clock *clock, const struct loop_duties *duties, int64_t now)
{
    unsigned work = 0;
    uint64_t ttl = duties->session_ttl_ms;
    if (duties->tenants && due(&clock->next_expiry_ms, now, EXPIRY_CHECK_MS))
        work |= LOOP_EXPIRE_WAITING;
    if (duties->embedded_broker && due(&clock->next_broker_check_ms, now, BROKER_CHECK_MS))
        work |= LOOP_CHECK_BROKER;
    if (ttl > 0 && due(&clock->next_session_sweep_ms, now,
                       (int64_t)(ttl < SESSION_SWEEP_MS ? ttl : SESSION_SWEEP_MS)))
        work |= LOOP_SWEEP_SESSIONS;
    return work;
}

bool loop_wants_pause(bool draining, const struct scheduler *s, bool paused)
{
    return draining || sched_wants_pause(s, paused);
}

bool loop_drain_cut_short(int stop_requests, int64_t now, int64_t deadline)
{
    return stop_requests >= 2 || now >= deadline;
}

/* ---- periodic work ---- */

/* The ones in use are skipped. */
static void sweep_sessions(struct worker *w)
{
    size_t removed = 0;
    char err[512];
    if (jail_session_sweep_all(w->config->sessions_dir, w->config->session_ttl_ms,
                               (uint64_t)wall_clock_ms(), &removed, err, sizeof(err)) < 0)
        log_error(NULL, "sweeping sessions: %s", err);
    if (removed > 0)
        log_info(NULL, "removed %zu idle session(s)", removed);
}

/* A secret bound to a tenant a reload removed is refused to that name's jobs
 * (even those admitted before) until the tenant is back: said once, when it
 * changes, not at every job. */
static void mark_secret_tenants(struct worker *w)
{
    for (size_t i = 0; w->secrets && i < w->secrets->count; i++) {
        struct secret *s = &w->secrets->secrets[i];
        for (size_t k = 0; k < s->n_tenants; k++) {
            bool gone = !tenants_has(w->tenants, s->tenants[k]);
            if (!secret_mark_tenant(s, k, gone))
                continue;
            if (gone)
                log_warn(NULL,
                         "secret %s is bound to tenant %s, which %s no longer names: no job "
                         "may use it until the tenant is back",
                         s->name, s->tenants[k], w->config->tenants);
            else
                log_info(NULL, "tenant %s is back in %s: its jobs may use secret %s again",
                         s->tenants[k], w->config->tenants, s->name);
        }
    }
}

/* SIGHUP: the tenants file again, and the topics of tenants it adds. */
static void reload_tenants(struct worker *w)
{
    char err[1024];
    w->reload_requests = 0;
    if (tenants_reload(w->tenants, err, sizeof(err)) < 0) {
        log_error(NULL, "reading the tenants file again: %s; the tenants it had stay", err);
        return;
    }
    log_info(NULL, "read %s again: %zu tenant(s)", w->config->tenants, tenants_count(w->tenants));
    mark_secret_tenants(w);
    if (w->broker)
        log_warn(NULL, "the embedded broker made the topics of the tenants it started with; a "
                       "tenant added since gets its results topic with its first result");
    else if (tenants_prepare_topics(w->tenants, w->config, err, sizeof(err)) < 0)
        log_error(NULL, "the tenants' topics: %s", err);
}

/* Jobs past their deadline_ms while their tenant's quota held them back. */
static bool in_time(const struct task *task, void *now)
{
    return !task->account || !task->job.deadline_ms ||
           task->job.deadline_ms >= *(const uint64_t *)now;
}

static void expire_waiting(struct worker *w)
{
    uint64_t now = (uint64_t)wall_clock_ms();
    struct task *expired = sched_take_unless(w->scheduler, in_time, &now);
    for (struct task *task = expired, *next; task; task = next) {
        next = task->next;
        answer_rejected(w, task, "deadline_ms",
                        "the deadline passed while the job waited for its tenant's quota");
    }
}

/* The periodic work, in one place. */
static void periodic(struct worker *w)
{
    const struct loop_duties duties = {
        .tenants = w->tenants != NULL,
        .embedded_broker = w->broker != NULL,
        .session_ttl_ms = w->config->session_ttl_ms,
    };
    unsigned work = loop_due(&w->clock, &duties, monotonic_ms());
    if (w->reload_requests)
        reload_tenants(w);
    if (work & LOOP_EXPIRE_WAITING)
        expire_waiting(w);
    set_paused(w, loop_wants_pause(w->draining, w->scheduler, w->paused));
    metrics_set_slots_busy(slot_pool_busy(w->slots));
    if (work & LOOP_SWEEP_SESSIONS)
        sweep_sessions(w);
    if (w->interps)
        interp_pool_sweep(w->interps);
    if (work & LOOP_CHECK_BROKER) {
        char why[512];
        if (!embedded_broker_alive(w->broker, why, sizeof(why)))
            worker_fail(w, "%s", why);
    }
}

/* The job path after intake, in order. A failed commit holds back what it
 * would have covered: those answers and starts wait for the next turn. */
void worker_turn(struct worker *w)
{
    /* First: a finished job's connections are then recorded before its
     * attempt ends. */
    char err[1024];
    if (egress_audit_drain(w->egress, w->audit, err, sizeof(err)) < 0)
        log_error(NULL, "%s", err);
    take_finished(w);
    cancel_poll(w); /* before anything starts: a cancelled job must not */
    take_startable(w);
    if (commit_audit(w) == 0) {
        audit_feed_pump(w->audit_feed);
        publish_answers(w);
        start_jobs(w);
    }
    release_delivered(w);
    periodic(w);
}

/* ---- the loop ---- */

static void consume(struct worker *w, int timeout_ms)
{
    for (int n = 0; n < INTAKE_BATCH; n++) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->consumer, n == 0 ? timeout_ms : 0);
        if (!msg)
            return;
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            intake(w, msg);
        else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn(NULL, "consumer: %s", rd_kafka_message_errstr(msg));
        rd_kafka_message_destroy(msg);
    }
}

static void stop_for_drain(struct task *task, void *ctx)
{
    (void)ctx;
    task_stop(task, TASK_STOP_DRAIN, NULL);
}

static void stop_running_jobs(struct worker *w)
{
    sched_for_each_running(w->scheduler, stop_for_drain, NULL);
}

static bool not_anything(const struct task *task, void *ctx)
{
    (void)task, (void)ctx;
    return false;
}

/* Stops taking jobs, lets running ones finish (a second signal or the drain
 * timeout cuts the wait short, and they are then answered internal_error),
 * delivers, commits, leaves the group. */
static void drain(struct worker *w)
{
    readiness_set(READY_RUNNING, false, "draining: a stop signal was received");
    w->draining = true;
    log_info(NULL, "stopping: %u job(s) in flight, waiting up to %llu ms", slot_pool_busy(w->slots),
             (unsigned long long)w->config->drain_timeout_ms);
    set_paused(w, true);
    /* Not started: their offsets are not stored, so they run elsewhere. */
    struct task *given_up = sched_take_unless(w->scheduler, not_anything, NULL);
    for (struct task *task = given_up, *next; task; task = next) {
        next = task->next;
        task_release(w, task, false);
    }

    int64_t deadline = monotonic_ms() + (int64_t)w->config->drain_timeout_ms;
    bool stopped = false;
    while (slot_pool_busy(w->slots) > 0 && !w->fatal) {
        if (!stopped && loop_drain_cut_short(w->stop_requests, monotonic_ms(), deadline)) {
            /* Their senders get an answer that says so, rather than a second
             * run of a job that may have had effects. */
            log_warn(NULL,
                     "stopping %u job(s) that did not finish in time; they are answered as "
                     "internal_error",
                     slot_pool_busy(w->slots));
            stop_running_jobs(w);
            stopped = true;
        }
        consume(w, 50); /* paused: stragglers, delivered again later */
        worker_turn(w);
    }
    slot_pool_stop(w->slots);
    worker_turn(w);
    struct task *delivered = NULL, **tail = &delivered;
    publisher_flush(w->publisher, 10000, &tail);
    for (struct task *task = delivered, *next; task; task = next) {
        next = task->next;
        task_release(w, task, true);
    }
    /* Committed when the consumer closes (enable.auto.commit). */
    store_offsets(w);
    log_info(NULL, "stopped; %u job(s) left unanswered", tasks_in_flight(w));
}

int worker_run(struct worker *w)
{
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, w->topic_jobs, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rc = rd_kafka_subscribe(w->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rc) {
        log_error(NULL, "subscribing to %s: %s", w->topic_jobs, rd_kafka_err2str(rc));
        return 1;
    }
    log_info(NULL, "%s consuming %s as group %s with %u slot(s)", w->config->worker_id,
             w->topic_jobs, w->config->group, w->config->concurrency);
    readiness_pass(READY_RUNNING);

    while (w->stop_requests == 0 && !w->fatal) {
        consume(w, POLL_MS);
        worker_turn(w);
    }
    if (!w->fatal) {
        drain(w);
        return 0;
    }
    /* Stop loudly and commit nothing more: jobs without a delivered answer
     * run again on another worker. */
    readiness_set(READY_RUNNING, false, "%s", w->fatal_reason);
    stop_running_jobs(w);
    slot_pool_stop(w->slots);
    return 70;
}
