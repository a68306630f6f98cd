/* Cancel requests, from the control topic (control.h). The worker that holds
 * the job acts: a waiting job is taken out of the scheduler and answered
 * `cancelled` unrun, a running one is stopped through its jail's cancel
 * descriptor and answered `cancelled` by its slot. A request for a job this
 * worker has not received is remembered for CONTROL_LOOKBACK_MS, so that the
 * job is answered `cancelled` unrun when it comes. Requests for jobs already
 * answered change nothing; asking twice is asking once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "common/common.h"
#include "worker/control.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/worker.h"

/* Cancels remembered for jobs not (yet) here: a bounded ring, oldest
 * forgotten first. */
#define REMEMBERED_MAX 4096

struct remembered {
    char id[BRIG_ID_MAX + 1];
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

static void record(struct worker *w, const char *id, const char *by, int64_t requested_ms,
                   int64_t received_ms, const char *state)
{
    char err[512];
    if (audit_record_cancel(w->audit, id, by, requested_ms, received_ms, state, err, sizeof(err)) <
        0)
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

static struct remembered *remembered_find(struct cancel_memory *m, const char *id)
{
    for (size_t i = 0; i < m->count; i++) {
        struct remembered *r = &m->ring[i];
        if (strcmp(r->id, id) == 0)
            return r;
    }
    return NULL;
}

static void remember(struct worker *w, const struct brig_control *request)
{
    struct cancel_memory *m = w->cancels;
    if (remembered_find(m, request->id))
        return;
    struct remembered *r = &m->ring[m->next];
    m->next = (m->next + 1) % REMEMBERED_MAX;
    if (m->count < REMEMBERED_MAX)
        m->count++;
    snprintf(r->id, sizeof(r->id), "%s", request->id);
    snprintf(r->by, sizeof(r->by), "%s", request->by ? request->by : "");
    r->requested_ms = (int64_t)request->ts_ms;
    r->received_ms = wall_clock_ms();
}

static void on_request(void *ctx, const struct brig_control *request)
{
    struct worker *w = ctx;
    struct task *held = sched_find(w->scheduler, request->id);
    int64_t now = wall_clock_ms();
    if (!held) {
        log_debug(request->id, "cancel requested; the job is not here (yet): remembered");
        remember(w, request);
        return;
    }
    if (held->stage == TASK_RUNNING) {
        if (atomic_load(&held->stop_reason) != TASK_STOP_NONE)
            return; /* asked before */
        log_info(request->id, "cancel requested%s%s: stopping it", request->by ? " by " : "",
                 request->by ? request->by : "");
        record(w, request->id, request->by, (int64_t)request->ts_ms, now, "running");
        task_stop(held, TASK_STOP_CANCEL, request->by);
        return;
    }
    log_info(request->id, "cancel requested%s%s: answered without running",
             request->by ? " by " : "", request->by ? request->by : "");
    record(w, request->id, request->by, (int64_t)request->ts_ms, now, "waiting");
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
    struct remembered *r = remembered_find(w->cancels, task->job_id);
    if (!r)
        return false;
    log_info(task->job_id, "arrived after its cancel: answered without running");
    record(w, task->job_id, r->by[0] ? r->by : NULL, r->requested_ms, r->received_ms,
           "not yet arrived");
    answer_unrun(w, task, r->by[0] ? r->by : NULL);
    return true;
}
