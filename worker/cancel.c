/* Cancel requests, from the control topic (control.h). The worker that holds
 * the job acts: a waiting job is taken out of the scheduler and answered
 * `cancelled` unrun, a running one is stopped through its jail's cancel
 * descriptor and answered `cancelled` by its slot. A request for a job this
 * worker has not received is remembered for CONTROL_LOOKBACK_MS, so that the
 * job is answered `cancelled` unrun when it comes. Requests for jobs already
 * answered change nothing; asking twice is asking once. With tenants, a
 * request must carry its tenant's signature and acts on that tenant's jobs
 * only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "common/common.h"
#include "worker/control.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/tenants.h"
#include "worker/worker.h"

/* Cancels remembered for jobs not (yet) here: a bounded ring, oldest
 * forgotten first. */
#define REMEMBERED_MAX 4096

struct remembered {
    char id[BRIG_ID_MAX + 1];
    char tenant[BRIG_TENANT_MAX + 1];
    char by[BRIG_CONTROL_BY_MAX + 1];
    int64_t requested_ms, received_ms;
};

struct cancel_memory {
    struct remembered ring[REMEMBERED_MAX];
    size_t next, count;
};

static void log_audit_error(const char *job, const char *err)
{
    log_error(job, "audit store: recording a cancel: %s", err);
}

static void record(struct worker *w, const char *id, const char *tenant, const char *by,
                   int64_t requested_ms, int64_t received_ms, const char *state)
{
    char err[512];
    if (audit_record_cancel(w->audit, id, tenant[0] ? tenant : NULL, by, requested_ms, received_ms,
                            state, err, sizeof(err)) < 0)
        log_audit_error(id, err);
}

/* The result of a job cancelled before it ran. */
static void answer_unrun(struct worker *w, struct task *task, const char *by)
{
    char text[BRIG_ERROR_TEXT_MAX + 1];
    struct brig_error err;
    snprintf(text, sizeof(text), "cancelled before it ran%s%s", by ? " by " : "", by ? by : "");
    struct brig_result result = {
        .id = task->job_id,
        .attempt = 1,
        .status = BRIG_STATUS_CANCELLED,
        .worker_id = w->config->worker_id,
        .received_ms = (uint64_t)task->received_ms,
        .finished_ms = (uint64_t)wall_clock_ms(),
        .error = text,
        .session = task->job.session && task->job.session[0] ? task->job.session : NULL,
        .metadata = task->job.metadata,
        .metadata_count = task->job.metadata_count,
    };
    if (brig_result_encode(&result, &task->result, &err) < 0)
        log_error(task->job_id, "encoding a cancellation: %s: %s", err.field, err.reason);
    metrics_job_cancelled(task->runtime_name);
    answer_later(w, task);
}

static bool other_job(const struct task *task, void *id)
{
    return strcmp(task->job_id, id) != 0;
}

void task_stop(struct task *task, enum task_stop why, const char *by)
{
    int none = TASK_STOP_NONE;
    if (!atomic_compare_exchange_strong(&task->stop_reason, &none, (int)why))
        return; /* already stopping */
    if (by)
        snprintf(task->cancelled_by, sizeof(task->cancelled_by), "%s", by);
    if (task->cancel_fd >= 0 && eventfd_write(task->cancel_fd, 1) < 0)
        log_error(task->job_id, "stopping its jail: %s", strerror(errno));
}

static struct remembered *remembered_find(struct cancel_memory *m, const char *id,
                                          const char *tenant)
{
    for (size_t i = 0; i < m->count; i++) {
        struct remembered *r = &m->ring[i];
        if (strcmp(r->id, id) == 0 && strcmp(r->tenant, tenant) == 0)
            return r;
    }
    return NULL;
}

static void remember(struct worker *w, const struct brig_control *request, const char *tenant)
{
    struct cancel_memory *m = w->cancels;
    if (remembered_find(m, request->id, tenant))
        return;
    struct remembered *r = &m->ring[m->next];
    m->next = (m->next + 1) % REMEMBERED_MAX;
    if (m->count < REMEMBERED_MAX)
        m->count++;
    snprintf(r->id, sizeof(r->id), "%s", request->id);
    snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
    snprintf(r->by, sizeof(r->by), "%s", request->by ? request->by : "");
    r->requested_ms = (int64_t)request->ts_ms;
    r->received_ms = wall_clock_ms();
}

/* With tenants: the request's tenant, "" when its signature does not hold
 * (then it is logged and goes no further). */
static bool request_tenant(struct worker *w, const struct brig_control *request,
                           const rd_kafka_message_t *msg, char tenant[BRIG_TENANT_MAX + 1])
{
    struct brig_error why;
    tenant[0] = '\0';
    /* A restarted worker reads requests CONTROL_LOOKBACK_MS back: theirs
     * must still hold then. */
    if (!w->tenants || tenants_verify(w->tenants, msg, w->topic_control, wall_clock_ms(),
                                      CONTROL_LOOKBACK_MS, tenant, &why) == 0)
        return true;
    log_warn(request->id, "a cancel at %s[%d]@%lld is ignored: %s%s%s", w->topic_control,
             (int)msg->partition, (long long)msg->offset, why.field, why.field[0] ? ": " : "",
             why.reason);
    return false;
}

static void on_request(void *ctx, const struct brig_control *request, const rd_kafka_message_t *msg)
{
    struct worker *w = ctx;
    char tenant[BRIG_TENANT_MAX + 1];
    if (!request_tenant(w, request, msg, tenant))
        return;
    struct task *held = sched_find(w->scheduler, request->id);
    int64_t now = wall_clock_ms();
    if (held && strcmp(held->tenant, tenant) != 0) {
        /* Not a word of whose it is: the id is all the asker knows. */
        log_warn(request->id, "a cancel by %s%s for a job of another tenant is ignored",
                 tenant[0] ? "tenant " : "a sender without a tenant", tenant);
        return;
    }
    if (!held) {
        log_debug(request->id, "cancel requested; the job is not here (yet): remembered");
        remember(w, request, tenant);
        return;
    }
    if (held->stage == TASK_RUNNING) {
        if (atomic_load(&held->stop_reason) != TASK_STOP_NONE)
            return; /* asked before */
        log_info(request->id, "cancel requested%s%s: stopping it", request->by ? " by " : "",
                 request->by ? request->by : "");
        record(w, request->id, tenant, request->by, (int64_t)request->ts_ms, now, "running");
        task_stop(held, TASK_STOP_CANCEL, request->by);
        return;
    }
    log_info(request->id, "cancel requested%s%s: answered without running",
             request->by ? " by " : "", request->by ? request->by : "");
    record(w, request->id, tenant, request->by, (int64_t)request->ts_ms, now, "waiting");
    struct task *taken = sched_take_unless(w->scheduler, other_job, (void *)request->id);
    for (struct task *task = taken, *next; task; task = next) {
        next = task->next;
        answer_unrun(w, task, request->by);
    }
}

int cancel_open(struct worker *w, char *err, size_t errlen)
{
    w->cancels = calloc(1, sizeof(*w->cancels));
    if (!w->cancels) {
        snprintf(err, errlen, "the cancel memory: out of memory");
        return -1;
    }
    return control_reader_new(w->config, w->topic_control, &w->control, err, errlen);
}

void cancel_close(struct worker *w)
{
    control_reader_free(w->control);
    free(w->cancels);
}

void cancel_poll(struct worker *w)
{
    control_reader_poll(w->control, on_request, w);
}

bool cancelled_before_arrival(struct worker *w, struct task *task)
{
    struct remembered *r = remembered_find(w->cancels, task->job_id, task->tenant);
    if (!r)
        return false;
    log_info(task->job_id, "arrived after its cancel: answered without running");
    record(w, task->job_id, r->tenant, r->by[0] ? r->by : NULL, r->requested_ms, r->received_ms,
           "not yet arrived");
    answer_unrun(w, task, r->by[0] ? r->by : NULL);
    return true;
}
