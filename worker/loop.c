/* The worker's main loop, on one thread: consume, decide, dispatch to slots,
 * publish answers, and store each offset only once everything at or below it
 * is answered and audited. Slots run jobs; everything else happens here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "sandbox/session.h"
#include "worker/egress_audit.h"
#include "worker/kafka.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/readiness.h"
#include "worker/worker.h"

#define POLL_MS 100

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_audit_error(const char *job, const char *what, const char *err)
{
    log_error(job, "audit store: %s: %s", what, err);
}

/* ---- partitions ---- */

static struct partition_state *partition(struct worker *w, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= w->n_partitions) {
        int32_t n = p + 1;
        struct partition_state *grown = realloc(w->partitions, (size_t)n * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + w->n_partitions, 0, (size_t)(n - w->n_partitions) * sizeof(*grown));
        w->partitions = grown;
        w->n_partitions = n;
    }
    return &w->partitions[p];
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

/* Pausing purges librdkafka's prefetched messages, and a resumed partition
 * is fetched again only after a pause of about a second (measured: a backlog
 * of 32 jobs held 2 slots to 37 jobs/s, one of 1024 let them reach 300). So
 * the worker keeps a local backlog of received jobs, bounded in jobs and in
 * bytes, pauses only when it is full and resumes once it has drained to half. */
#define BACKLOG_JOBS 1024
#define BACKLOG_BYTES (64u << 20)

static void apply_backpressure(struct worker *w)
{
    if (w->n_pending >= BACKLOG_JOBS || w->pending_bytes >= BACKLOG_BYTES)
        set_paused(w, true);
    else if (w->n_pending <= BACKLOG_JOBS / 2 && w->pending_bytes <= BACKLOG_BYTES / 2)
        set_paused(w, false);
}

/* ---- tasks ---- */

static void task_free(struct task *task)
{
    brig_job_free(&task->job);
    msgpack_sbuffer_destroy(&task->result);
    msgpack_sbuffer_destroy(&task->dead_letter);
    free(task->raw);
    free(task);
}

/* Done with a task: its offset may now be committed. */
static void task_release(struct worker *w, struct task *task)
{
    struct partition_state *ps = partition(w, task->partition);
    /* A task from before a revoke belongs to no tracker of ours any more. */
    if (ps && ps->assigned && ps->generation == task->generation) {
        tracker_finish(ps->tracker, task->offset);
        ps->outstanding--;
    }
    task_free(task);
}

static void reply_topic_of(struct worker *w, const char *given, char *buf, size_t len)
{
    snprintf(buf, len, "%s", given && *given ? given : w->topic_results);
}

/* Turns task into a refusal: a dead letter (when dead is set) and, when the
 * job id is known, a rejected result so that its sender never waits forever. */
static void reject(struct worker *w, struct task *task, bool dead, const char *field,
                   const char *reason)
{
    struct brig_error err;
    task->kind = TASK_REJECTED;
    snprintf(task->dead_letter_field, sizeof(task->dead_letter_field), "%s", field ? field : "");
    snprintf(task->dead_letter_reason, sizeof(task->dead_letter_reason), "%s", reason);
    if (dead) {
        struct brig_dead_letter letter = {
            .data = {.data = task->raw, .len = task->raw_len},
            .id = task->job_id[0] ? task->job_id : NULL,
            .topic = w->topic_jobs,
            .partition = (uint64_t)task->partition,
            .offset = (uint64_t)task->offset,
            .reason = task->dead_letter_reason,
            .field = task->dead_letter_field,
            .received_ms = (uint64_t)task->received_ms,
            .worker_id = w->config->worker_id,
        };
        if (letter.data.len > BRIG_DEAD_LETTER_DATA_MAX) {
            letter.data.len = BRIG_DEAD_LETTER_DATA_MAX;
            letter.data_truncated = true;
        }
        if (brig_dead_letter_encode(&letter, &task->dead_letter, &err) < 0)
            log_error(letter.id, "encoding a dead letter: %s: %s", err.field, err.reason);
    }
    if (task->job_id[0]) {
        char text[BRIG_ERROR_TEXT_MAX + 1];
        snprintf(text, sizeof(text), "%s%s%s", field && *field ? field : "",
                 field && *field ? ": " : "", reason);
        struct brig_result result = {
            .id = task->job_id,
            .attempt = 1,
            .status = BRIG_STATUS_REJECTED,
            .worker_id = w->config->worker_id,
            .received_ms = (uint64_t)task->received_ms,
            .finished_ms = (uint64_t)now_ms(),
            .error = text,
        };
        if (brig_result_encode(&result, &task->result, &err) < 0)
            log_error(task->job_id, "encoding a rejection: %s: %s", err.field, err.reason);
        /* The runtime label only ever holds names from the runtime table. */
        const struct runtime *rt =
            task->job.runtime ? runtime_find(w->runtimes, task->job.runtime) : NULL;
        metrics_job_rejected(rt ? rt->name : NULL);
    }
    char errbuf[512];
    const char *job = task->job_id[0] ? task->job_id : NULL;
    if (dead) {
        metrics_dead_letter();
        if (audit_record_dead_letter(w->audit, task->message_id, reason, field, errbuf,
                                     sizeof(errbuf)) < 0)
            log_audit_error(job, "recording a dead letter", errbuf);
    }
    log_warn(job, "%s at %s[%d]@%lld: %s%s%s", dead ? "dead letter" : "rejected job", w->topic_jobs,
             (int)task->partition, (long long)task->offset, field && *field ? field : "",
             field && *field ? ": " : "", reason);
}

/* A redelivered job that already has a final result gets that result again. */
static bool answer_from_audit(struct worker *w, struct task *task)
{
    void *stored = NULL;
    size_t stored_len = 0;
    char err[512];
    int found =
        audit_final_result(w->audit, task->job_id, &stored, &stored_len, NULL, err, sizeof(err));
    if (found < 0)
        log_audit_error(task->job_id, "looking up an earlier result", err);
    if (found <= 0 || !stored) {
        free(stored);
        return false;
    }
    msgpack_sbuffer_write(&task->result, stored, stored_len);
    free(stored);
    task->kind = TASK_REPLAY;
    if (audit_attempt_replayed(w->audit, task->job_id, now_ms(), NULL, err, sizeof(err)) < 0)
        log_audit_error(task->job_id, "recording a replayed answer", err);
    metrics_redelivery_answered();
    log_info(task->job_id, "delivered again; re-publishing its result");
    return true;
}

static void enqueue_pending(struct worker *w, struct task *task)
{
    task->next = NULL;
    if (w->pending_tail)
        w->pending_tail->next = task;
    else
        w->pending_head = task;
    w->pending_tail = task;
    w->n_pending++;
    w->pending_bytes += task->raw_len;
}

static bool has_session(const struct task *task)
{
    return task->job.session && task->job.session[0];
}

/* A session's jobs share its workspace, so they run one at a time, in the
 * order they were received: a pending job waits while its session has a job
 * in a slot, and so do the ones behind it. */
static bool session_running(const struct worker *w, const char *session)
{
    for (unsigned i = 0; i < w->n_running_sessions; i++)
        if (strcmp(w->running_sessions[i], session) == 0)
            return true;
    return false;
}

static void session_finished(struct worker *w, const struct task *task)
{
    for (unsigned i = 0; i < w->n_running_sessions; i++) {
        if (w->running_sessions[i] == task->job.session) {
            w->running_sessions[i] = w->running_sessions[--w->n_running_sessions];
            return;
        }
    }
}

static void start_attempt(struct worker *w, struct task *task)
{
    char err[512];
    task->started_ms = now_ms();
    const struct runtime *rt =
        task->job.runtime ? runtime_find(w->runtimes, task->job.runtime) : NULL;
    if (audit_attempt_begin(w->audit, task->job_id, task->started_ms, rt ? rt->name : NULL, NULL,
                            jail_policy_hash(w->jail), &task->attempt_id, &task->attempt_number,
                            err, sizeof(err)) < 0) {
        log_audit_error(task->job_id, "recording an attempt", err);
        task->attempt_number = 1;
    }
}

/* Commits the open audit batch; readiness follows the outcome. */
static int commit_audit(struct worker *w)
{
    char err[512];
    double started = monotonic_seconds();
    int rc = audit_flush(w->audit, err, sizeof(err));
    metrics_audit_write(monotonic_seconds() - started);
    readiness_set(READY_AUDIT, rc == 0, "committing: %s", err);
    if (rc < 0)
        log_audit_error(NULL, "committing", err);
    return rc;
}

/* Takes the pending jobs that free slots can run, in order, and records
 * their attempts. */
static struct task *take_startable(struct worker *w)
{
    unsigned free_slots = slot_pool_size(w->slots) - slot_pool_busy(w->slots);
    struct task **link = &w->pending_head, *prev = NULL;
    struct task *taken = NULL, **tail = &taken;
    while (*link && free_slots > 0) {
        struct task *task = *link;
        if (has_session(task) && session_running(w, task->job.session)) {
            prev = task;
            link = &task->next;
            continue;
        }
        start_attempt(w, task);
        if (has_session(task))
            w->running_sessions[w->n_running_sessions++] = task->job.session;
        *link = task->next;
        if (w->pending_tail == task)
            w->pending_tail = prev;
        w->n_pending--;
        w->pending_bytes -= task->raw_len;
        task->next = NULL;
        *tail = task;
        tail = &task->next;
        free_slots--;
    }
    return taken;
}

/* Starts what free slots can take once its attempts are committed: no job
 * code runs before its 'running' record is on disk, so a worker killed at any
 * moment leaves every job it started findable, and its next start marks them
 * abandoned. A failed commit stays open and is retried; the jobs still run. */
static void dispatch_pending(struct worker *w)
{
    struct task *task, *starting = take_startable(w);
    if (starting)
        commit_audit(w);
    while ((task = starting)) {
        starting = task->next;
        task->next = NULL;
        /* Only this thread submits and slots only free up, so a slot counted
         * free by take_startable() is still free. */
        slot_pool_submit(w->slots, task);
        metrics_job_started((double)(task->started_ms - task->received_ms) / 1000);
    }
    apply_backpressure(w);
}

static void handle_message(struct worker *w, const rd_kafka_message_t *msg)
{
    struct partition_state *ps = partition(w, msg->partition);
    struct task *task = calloc(1, sizeof(*task));
    char err[512];

    if (!task || !ps || !ps->assigned) {
        /* Not ours (any more) or no memory: its offset is not stored, so the
         * partition's owner gets it again. */
        free(task);
        return;
    }
    if (tracker_begin(ps->tracker, msg->offset) < 0) {
        free(task); /* a second delivery of an offset this assignment already has */
        return;
    }
    ps->outstanding++;
    task->worker = w;
    task->partition = msg->partition;
    task->generation = ps->generation;
    task->offset = msg->offset;
    task->received_ms = now_ms();
    msgpack_sbuffer_init(&task->result);
    msgpack_sbuffer_init(&task->dead_letter);
    task->raw = malloc(msg->len ? msg->len : 1);
    if (task->raw) {
        memcpy(task->raw, msg->payload, msg->len);
        task->raw_len = msg->len;
    }

    struct brig_error derr = {0};
    int decoded = task->raw ? brig_job_decode(task->raw, task->raw_len, &task->job, &derr) : -1;
    if (decoded == 0)
        snprintf(task->job_id, sizeof(task->job_id), "%s", task->job.id);
    else if (task->raw)
        brig_job_peek_reply(task->raw, task->raw_len, task->job_id, sizeof(task->job_id),
                            task->reply_topic, sizeof(task->reply_topic));
    reply_topic_of(w, decoded == 0 ? task->job.reply_topic : task->reply_topic, task->reply_topic,
                   sizeof(task->reply_topic));

    struct audit_message record = {
        .topic = w->topic_jobs,
        .partition = msg->partition,
        .offset = msg->offset,
        .key = msg->key,
        .key_len = msg->key_len,
        .received_ms = task->received_ms,
        .payload = msg->payload,
        .payload_len = msg->len,
        .job_id = decoded == 0 ? task->job_id : NULL,
    };
    if (audit_record_message(w->audit, &record, &task->message_id, err, sizeof(err)) < 0)
        log_audit_error(record.job_id, "recording a message", err);

    if (!task->raw) {
        reject(w, task, true, NULL, "the worker ran out of memory reading this message");
    } else if (decoded < 0) {
        reject(w, task, true, derr.field, derr.reason);
    } else if (task->job.runtime && !runtime_find(w->runtimes, task->job.runtime)) {
        reject(w, task, true, "runtime", "unknown runtime");
    } else if (egress_admit(w->egress, &task->job.network, &derr) < 0) {
        reject(w, task, false, derr.field, derr.reason);
    } else if (task->job.deadline_ms && (uint64_t)task->received_ms > task->job.deadline_ms) {
        reject(w, task, false, "deadline_ms", "the job arrived after its deadline");
    } else {
        const struct brig_job *job = &task->job;
        if (audit_record_job(w->audit, job->id, task->message_id, job->runtime, job->session,
                             job->replay_of, task->raw, task->raw_len, err, sizeof(err)) < 0)
            log_audit_error(job->id, "recording a job", err);
        if (!answer_from_audit(w, task)) {
            task->kind = TASK_RUN;
            enqueue_pending(w, task);
            return;
        }
    }
    if (publish_task(w, task) < 0 || task->undelivered == 0) {
        /* Nothing could be said (no id, no dead letter): the audit store
         * has the message; move on. */
        task_release(w, task);
    }
}

/* Records what the slots finished and publishes it. The records are
 * committed first, so that whoever reads a result can also find its audit
 * record (brig audit show, brig replay right after brig wait). */
static void collect_finished(struct worker *w)
{
    struct task *task, *finished = NULL, **tail = &finished;
    char err[512];
    while ((task = slot_pool_take_done(w->slots))) {
        if (has_session(task))
            session_finished(w, task);
        if (audit_attempt_end(w->audit, task->attempt_id, &task->outcome, task->result.data,
                              task->result.size, err, sizeof(err)) < 0)
            log_audit_error(task->job_id, "recording an outcome", err);
        task->next = NULL;
        *tail = task;
        tail = &task->next;
    }
    if (finished)
        commit_audit(w); /* on failure the batch stays open and is retried */
    while ((task = finished)) {
        finished = task->next;
        if (publish_task(w, task) < 0 || task->undelivered == 0)
            task_release(w, task);
    }
}

/* Commits the audit batch, then moves each partition's stored offset past
 * everything answered. */
static void release_delivered(struct worker *w)
{
    char err[512];
    if (!w->delivered) {
        int rc = audit_tick(w->audit, err, sizeof(err));
        if (rc < 0)
            log_audit_error(NULL, "committing", err);
        readiness_set(READY_AUDIT, rc == 0, "committing: %s", err);
        return;
    }
    if (commit_audit(w) < 0)
        return; /* not committed: no offset moves past it; it will be retried */
    while (w->delivered) {
        struct task *task = w->delivered;
        w->delivered = task->next;
        task_release(w, task);
    }
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < w->n_partitions; p++) {
        struct partition_state *ps = &w->partitions[p];
        if (ps->assigned && ps->tracker && tracker_committable(ps->tracker) >= 0)
            rd_kafka_topic_partition_list_add(offsets, w->topic_jobs, p)->offset =
                tracker_committable(ps->tracker);
    }
    if (offsets->cnt > 0) {
        rd_kafka_resp_err_t rc = rd_kafka_offsets_store(w->consumer, offsets);
        if (rc)
            log_error(NULL, "storing offsets: %s", rd_kafka_err2str(rc));
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

/* Sessions idle past their TTL are removed by whichever worker of the host
 * looks first (every minute, or every TTL when that is shorter); the ones in
 * use are skipped. */
#define SESSION_SWEEP_MS 60000

static void sweep_sessions(struct worker *w)
{
    int64_t now = monotonic_ms();
    if (w->config->session_ttl_ms == 0 || now < w->next_session_sweep_ms)
        return;
    uint64_t interval =
        w->config->session_ttl_ms < SESSION_SWEEP_MS ? w->config->session_ttl_ms : SESSION_SWEEP_MS;
    w->next_session_sweep_ms = now + (int64_t)interval;
    size_t removed = 0;
    char err[512];
    if (jail_session_sweep(w->config->sessions_dir, w->config->session_ttl_ms, (uint64_t)now_ms(),
                           &removed, err, sizeof(err)) < 0)
        log_error(NULL, "sweeping sessions: %s", err);
    if (removed > 0)
        log_info(NULL, "removed %zu idle session(s)", removed);
}

/* One turn of housekeeping: finished jobs, delivery reports, offsets, slots. */
static void turn(struct worker *w)
{
    /* First: a finished job's connections are then recorded before its attempt ends. */
    char err[1024];
    if (egress_audit_drain(w->egress, w->audit, err, sizeof(err)) < 0)
        log_error(NULL, "%s", err);
    collect_finished(w);
    rd_kafka_poll(w->producer, 0);
    release_delivered(w);
    dispatch_pending(w);
    metrics_set_slots_busy(slot_pool_busy(w->slots));
    sweep_sessions(w);
}

/* ---- rebalances ---- */

static unsigned outstanding_in(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    unsigned n = 0;
    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition(w, parts->elems[i].partition);
        n += ps ? ps->outstanding : 0;
    }
    return n;
}

static bool in_list(const rd_kafka_topic_partition_list_t *parts, int32_t p)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == p)
            return true;
    return false;
}

/* Gives up pending jobs of the partitions (their owner will get them again),
 * lets running ones finish within the revoke timeout, stores and commits what
 * was answered, then forgets the partitions. */
static void revoke_partitions(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    struct task **link = &w->pending_head;
    w->pending_tail = NULL;
    while (*link) {
        struct task *task = *link;
        if (in_list(parts, task->partition)) {
            *link = task->next;
            w->n_pending--;
            w->pending_bytes -= task->raw_len;
            partition(w, task->partition)->outstanding--;
            task_free(task);
        } else {
            w->pending_tail = task;
            link = &task->next;
        }
    }

    int64_t deadline = monotonic_ms() + (int64_t)w->config->revoke_timeout_ms;
    while (outstanding_in(w, parts) > 0 && monotonic_ms() < deadline && !w->fatal) {
        turn(w);
        rd_kafka_poll(w->producer, 10);
    }
    turn(w);
    if (!w->fatal)
        rd_kafka_commit(w->consumer, NULL, 0);

    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition(w, parts->elems[i].partition);
        if (!ps)
            continue;
        if (ps->outstanding > 0)
            log_warn(NULL,
                     "partition %d revoked with %u job(s) still running; their answers will not "
                     "be committed here",
                     (int)parts->elems[i].partition, ps->outstanding);
        metrics_forget_lag(parts->elems[i].partition);
        ps->assigned = false;
        ps->outstanding = 0;
        tracker_free(ps->tracker);
        ps->tracker = NULL;
    }
}

static void assign_partitions(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition(w, parts->elems[i].partition);
        if (!ps)
            continue;
        tracker_free(ps->tracker);
        ps->tracker = tracker_new();
        ps->assigned = ps->tracker != NULL;
        ps->outstanding = 0;
        ps->generation++;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct worker *w = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_partitions(w, parts);
        if (cooperative)
            rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        log_info(NULL, "assigned %d partition(s)", parts->cnt);
    } else {
        revoke_partitions(w, parts);
        if (cooperative)
            rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        log_info(NULL, "released %d partition(s)", parts->cnt);
    }
}

/* librdkafka's statistics, every statistics.interval.ms from the consumer
 * poll of the main loop: the consumer lag and whether a broker is connected. */
static int on_statistics(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct worker *w = opaque;
    char err[512];
    (void)rk;
    int brokers_up = metrics_update_from_rdkafka_stats(json, len, w->topic_jobs, err, sizeof(err));
    if (brokers_up < 0)
        log_warn(NULL, "%s", err);
    else
        readiness_set(READY_KAFKA, brokers_up > 0, "no connection to any Kafka broker");
    return 0; /* librdkafka frees json */
}

/* ---- the loop ---- */

static void wake_main_loop(void *ctx)
{
    struct worker *w = ctx;
    rd_kafka_queue_yield(w->consumer_queue);
}

static void run_in_slot(void *job, void *ctx)
{
    (void)ctx;
    execute_task(job);
}

static unsigned in_flight(struct worker *w)
{
    unsigned n = 0;
    for (int32_t p = 0; p < w->n_partitions; p++)
        n += w->partitions[p].outstanding;
    return n;
}

/* Stops taking jobs, lets running ones finish (a second signal or the drain
 * timeout cuts the wait short), delivers, audits, commits, leaves the group. */
static void stop_running_jobs(struct worker *w)
{
    if (eventfd_write(w->cancel_fd, 1) < 0)
        log_error(NULL, "stopping the running jobs: %s", strerror(errno));
}

static void drain(struct worker *w)
{
    readiness_set(READY_RUNNING, false, "draining: a stop signal was received");
    log_info(NULL, "stopping: %u job(s) in flight, waiting up to %llu ms", slot_pool_busy(w->slots),
             (unsigned long long)w->config->drain_timeout_ms);
    set_paused(w, true);
    while (w->pending_head) {
        struct task *task = w->pending_head;
        w->pending_head = task->next;
        partition(w, task->partition)->outstanding--;
        task_free(task); /* not started: its offset is not stored, so it runs elsewhere */
    }
    w->pending_tail = NULL;
    w->n_pending = 0;
    w->pending_bytes = 0;

    int64_t deadline = monotonic_ms() + (int64_t)w->config->drain_timeout_ms;
    while (slot_pool_busy(w->slots) > 0 && w->stop_requests < 2 && monotonic_ms() < deadline &&
           !w->fatal) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->consumer, 50);
        if (msg)
            rd_kafka_message_destroy(msg); /* paused: a straggler, delivered again later */
        turn(w);
    }
    if (slot_pool_busy(w->slots) > 0) {
        /* Their senders get an answer that says so, rather than a second run
         * of a job that may have had effects. */
        log_warn(NULL,
                 "stopping %u job(s) that did not finish in time; they are answered as "
                 "internal_error",
                 slot_pool_busy(w->slots));
        stop_running_jobs(w);
    }
}

int worker_run(struct worker *w)
{
    char err[512];
    w->consumer = kafka_consumer_new(w->config, on_rebalance, on_statistics, w, err, sizeof(err));
    if (w->consumer)
        w->producer = kafka_producer_new(w->config, publish_delivery_report, w, err, sizeof(err));
    if (!w->consumer || !w->producer) {
        log_error(NULL, "%s", err);
        return 1;
    }
    const char *outputs[] = {w->topic_results, w->topic_logs, w->topic_dlq};
    for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++)
        w->output_topics[i] = rd_kafka_topic_new(w->producer, outputs[i], NULL);
    w->consumer_queue = rd_kafka_queue_get_consumer(w->consumer);
    w->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->cancel_fd < 0) {
        log_error(NULL, "creating the jobs' stop switch: %s", strerror(errno));
        return 1;
    }

    w->running_sessions = calloc(w->config->concurrency, sizeof(*w->running_sessions));
    if (!w->running_sessions) {
        log_error(NULL, "out of memory");
        return 1;
    }
    const struct slot_pool_ops ops = {.run = run_in_slot, .wake = wake_main_loop, .ctx = w};
    if (slot_pool_start(w->config->concurrency, &ops, &w->slots) < 0) {
        log_error(NULL, "starting %u slot threads failed", w->config->concurrency);
        return 1;
    }

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
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->consumer, POLL_MS);
        if (msg) {
            if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
                handle_message(w, msg);
            else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn(NULL, "consumer: %s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
        }
        turn(w);
    }

    int status = 0;
    if (w->fatal) {
        /* Stop loudly and commit nothing more: jobs without a delivered
         * answer run again on another worker. */
        readiness_set(READY_RUNNING, false, "the Kafka producer failed for good");
        stop_running_jobs(w);
        slot_pool_stop(w->slots);
        status = 70;
    } else {
        drain(w);
        slot_pool_stop(w->slots);
        turn(w);
        rd_kafka_flush(w->producer, 10000);
        turn(w);
        rd_kafka_commit(w->consumer, NULL, 0);
        log_info(NULL, "stopped; %u job(s) left unanswered", in_flight(w));
    }
    rd_kafka_queue_destroy(w->consumer_queue);
    rd_kafka_consumer_close(w->consumer);
    return status;
}
