/* Decode and admit: what becomes of one consumed message. With tenants, its
 * signature is checked first (tenants.h). Every message is recorded in the
 * audit store, valid or not; then it is refused (dead letter and/or rejected
 * result), answered from the store (a redelivery of a job already answered),
 * or handed to the scheduler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/tenants.h"
#include "worker/worker.h"

static void log_audit_error(const char *job, const char *what, const char *err)
{
    log_error(job, "audit store: %s: %s", what, err);
}

void answer_later(struct worker *w, struct task *task)
{
    task->stage = TASK_ANSWERING;
    task_append(&w->answering_tail, task);
}

enum refusal {
    REFUSE_DEAD_LETTER, /* not a job this or any worker can run: DLQ, and rejected if it has an id
                         */
    REFUSE_REJECT,      /* a valid job that cannot run now: rejected result only */
    /* a signature that does not hold: DLQ only, since its reply topic is the
     * choice of whoever forged it */
    REFUSE_UNAUTHENTIC,
};

/* Encodes the refusal of task: a dead letter (REFUSE_DEAD_LETTER) and, when
 * its job id could be read, a `rejected` result, so that its sender never
 * waits forever. */
static void refuse(struct worker *w, struct task *task, enum refusal kind, const char *field,
                   const char *reason)
{
    struct brig_error err;
    const char *job = task->job_id[0] ? task->job_id : NULL;
    field = field ? field : "";
    if (kind != REFUSE_REJECT) {
        struct brig_dead_letter letter = {
            .data = {.data = task->raw, .len = task->raw_len},
            .id = job,
            .topic = w->topic_jobs,
            .partition = (uint64_t)task->partition,
            .offset = (uint64_t)task->offset,
            /* NULL data is a null key; an empty key keeps a pointer. */
            .key = {.data = task->key ? task->key : NULL, .len = task->key_len},
            .reason = reason,
            .field = field,
            .received_ms = (uint64_t)task->received_ms,
            .worker_id = w->config->worker_id,
        };
        if (letter.data.len > BRIG_DEAD_LETTER_DATA_MAX) {
            letter.data.len = BRIG_DEAD_LETTER_DATA_MAX;
            letter.data_truncated = true;
        }
        if (letter.key.len > BRIG_DEAD_LETTER_KEY_MAX) {
            letter.key.len = BRIG_DEAD_LETTER_KEY_MAX;
            letter.key_truncated = true;
        }
        if (brig_dead_letter_encode(&letter, &task->dead_letter, &err) < 0)
            log_error(job, "encoding a dead letter: %s: %s", err.field, err.reason);
        metrics_dead_letter();
        char audit_err[512];
        if (audit_record_dead_letter(w->audit, task->message_id, reason, field, audit_err,
                                     sizeof(audit_err)) < 0)
            log_audit_error(job, "recording a dead letter", audit_err);
    }
    if (job && kind != REFUSE_UNAUTHENTIC) {
        char text[BRIG_ERROR_TEXT_MAX + 1];
        snprintf(text, sizeof(text), "%s%s%s", field, *field ? ": " : "", reason);
        struct brig_result result = {
            .id = job,
            .attempt = 1,
            .status = BRIG_STATUS_REJECTED,
            .worker_id = w->config->worker_id,
            .received_ms = (uint64_t)task->received_ms,
            .finished_ms = (uint64_t)wall_clock_ms(),
            .error = text,
        };
        if (brig_result_encode(&result, &task->result, &err) < 0)
            log_error(job, "encoding a rejection: %s: %s", err.field, err.reason);
        metrics_job_rejected(task->runtime_name);
    }
    log_warn(job, "%s at %s[%d]@%lld: %s%s%s",
             kind != REFUSE_REJECT ? "dead letter" : "rejected job", w->topic_jobs,
             (int)task->partition, (long long)task->offset, field, *field ? ": " : "", reason);
    answer_later(w, task);
}

void answer_rejected(struct worker *w, struct task *task, const char *field, const char *reason)
{
    refuse(w, task, REFUSE_REJECT, field, reason);
}

/* A job already answered (its latest attempt finished) gets that answer
 * again instead of a second run. */
static bool answered_from_store(struct worker *w, struct task *task)
{
    void *stored = NULL;
    size_t stored_len = 0;
    int64_t attempt_id = 0;
    char err[512];
    int found = audit_final_result(w->audit, task->job_id, &stored, &stored_len, &attempt_id, err,
                                   sizeof(err));
    if (found < 0)
        log_audit_error(task->job_id, "looking up an earlier result", err);
    if (found <= 0 || !stored) {
        free(stored);
        return false;
    }
    msgpack_sbuffer_write(&task->result, stored, stored_len);
    free(stored);
    if (audit_record_redelivery(w->audit, task->job_id, task->message_id, attempt_id,
                                wall_clock_ms(), err, sizeof(err)) < 0)
        log_audit_error(task->job_id, "recording a redelivery", err);
    metrics_redelivery_answered();
    log_info(task->job_id, "delivered again; answering with its stored result");
    answer_later(w, task);
    return true;
}

/* "unknown runtime \"ruby\": this worker runs python, javascript, ...", the
 * names cut short with "..." past len: the rejection tells the sender what it
 * may use (its aliases are in the runtimes record, announce.h). */
static void unknown_runtime(const struct runtime_table *table, const char *name, char *buf,
                            size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "unknown runtime \"%s\": this worker runs", name);
    for (size_t i = 0; i < table->count && used < len; i++) {
        const char *next = table->runtimes[i].name;
        if (used + strlen(next) + 6 >= len) {
            snprintf(buf + used, len - used, " ...");
            return;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s %s", i ? "," : "", next);
    }
}

/* Reads the message into task: the job when it decodes, else whatever id
 * and reply topic can still be read. A tenant's reply topic is one it may
 * use (*reply_ok false when the job asked for another). Returns 0, or -1
 * with the decoder's field and reason in derr. */
static int decode(struct worker *w, struct task *task, struct brig_error *derr, bool *reply_ok)
{
    char peeked[BRIG_TOPIC_MAX + 1] = "";
    const char *reply = NULL;
    int rc = brig_job_decode(task->raw, task->raw_len, &task->job, derr);
    if (rc == 0) {
        task->decoded = true;
        snprintf(task->job_id, sizeof(task->job_id), "%s", task->job.id);
        reply = task->job.reply_topic;
    } else if (brig_job_peek_reply(task->raw, task->raw_len, task->job_id, sizeof(task->job_id),
                                   peeked, sizeof(peeked))) {
        reply = peeked;
    }
    *reply_ok = true;
    if (task->tenant[0])
        *reply_ok = tenants_reply_topic(w->tenants, task->tenant, reply, task->reply_topic);
    else
        snprintf(task->reply_topic, sizeof(task->reply_topic), "%s",
                 reply && *reply ? reply : w->topic_results);
    return rc;
}

/* Whether the job's id belongs to another tenant (or to no tenant, from
 * before --tenants): in flight here, or in the audit store. Such a job is
 * refused rather than answered with the other's result or run beside it.
 * Without tenants there is no other: the store is not asked. */
static bool id_of_another(struct worker *w, const struct task *task)
{
    const struct task *held = sched_find(w->scheduler, task->job_id);
    if (held)
        return strcmp(held->tenant, task->tenant) != 0;
    char owner[BRIG_TENANT_MAX + 1], err[512];
    int found = audit_job_tenant(w->audit, task->job_id, owner, sizeof(owner), err, sizeof(err));
    if (found < 0)
        log_audit_error(task->job_id, "looking up the job's tenant", err);
    return found == 1 && strcmp(owner, task->tenant) != 0;
}

static void record_message(struct worker *w, struct task *task, const rd_kafka_message_t *msg)
{
    char err[512];
    struct audit_message record = {
        .topic = w->topic_jobs,
        .partition = msg->partition,
        .offset = msg->offset,
        .key = msg->key,
        .key_len = msg->key_len,
        .received_ms = task->received_ms,
        .payload = msg->payload,
        .payload_len = msg->len,
        .job_id = task->decoded ? task->job_id : NULL,
        .tenant = task->tenant[0] ? task->tenant : NULL,
    };
    if (audit_record_message(w->audit, &record, &task->message_id, err, sizeof(err)) < 0)
        log_audit_error(record.job_id, "recording a message", err);
}

void intake(struct worker *w, const rd_kafka_message_t *msg)
{
    struct partition_state *ps = partition_of(w, msg->partition);
    if (!ps || !ps->assigned || tracker_begin(ps->tracker, msg->offset) < 0)
        return; /* not ours (any more), or an offset this assignment already has */
    check_offset(w, msg);
    struct task *task = task_new(msg->partition, ps->generation, msg->offset, wall_clock_ms(),
                                 msg->key, msg->key_len, msg->payload, msg->len);
    if (!task) {
        /* Its offset stays unfinished, so it is never committed past. */
        worker_fail(w, "out of memory reading the message at %s[%d]@%lld", w->topic_jobs,
                    (int)msg->partition, (long long)msg->offset);
        return;
    }
    ps->outstanding++;

    struct brig_error derr = {0};
    if (w->tenants && tenants_verify(w->tenants, msg, w->topic_jobs, task->received_ms, 0,
                                     task->tenant, &derr) < 0) {
        record_message(w, task, msg);
        refuse(w, task, REFUSE_UNAUTHENTIC, derr.field, derr.reason);
        return;
    }
    bool reply_ok;
    int decoded = decode(w, task, &derr, &reply_ok);
    record_message(w, task, msg);
    if (decoded < 0) {
        refuse(w, task, REFUSE_DEAD_LETTER, derr.field, derr.reason);
        return;
    }
    const struct brig_job *job = &task->job;
    task->network = job->network;
    if (!reply_ok) {
        char reason[BRIG_REASON_MAX - 64];
        snprintf(reason, sizeof(reason),
                 "tenant %s may use %s and topics under it (%s.*) only; the result is here "
                 "instead",
                 task->tenant, task->reply_topic, task->reply_topic);
        refuse(w, task, REFUSE_REJECT, "reply_topic", reason);
        return;
    }
    const struct runtime *rt = job->runtime ? runtime_find(w->runtimes, job->runtime) : NULL;
    if (job->runtime && !rt) {
        char reason[BRIG_REASON_MAX - 64];
        unknown_runtime(w->runtimes, job->runtime, reason, sizeof(reason));
        refuse(w, task, REFUSE_DEAD_LETTER, "runtime", reason);
        return;
    }
    task->runtime_name = rt ? rt->name : NULL;
    if (task->tenant[0] && tenants_admit(w->tenants, task, rt, &derr) < 0) {
        refuse(w, task, REFUSE_REJECT, derr.field, derr.reason);
        return;
    }
    if (egress_admit(w->egress, &task->network, task->tenant, job->secrets, job->secret_count,
                     &derr) < 0) {
        refuse(w, task, REFUSE_REJECT, derr.field, derr.reason);
        return;
    }
    if (job->deadline_ms && (uint64_t)task->received_ms > job->deadline_ms) {
        refuse(w, task, REFUSE_REJECT, "deadline_ms", "the job arrived after its deadline");
        return;
    }
    if (w->tenants && id_of_another(w, task)) {
        refuse(w, task, REFUSE_REJECT, "id", "already used by an earlier job: choose another id");
        return;
    }
    char err[512];
    if (audit_record_job(w->audit, job->id, task->message_id, task->tenant[0] ? task->tenant : NULL,
                         task->runtime_name, job->session, job->replay_of, task->raw, task->raw_len,
                         err, sizeof(err)) < 0)
        log_audit_error(job->id, "recording a job", err);
    if (answered_from_store(w, task) || cancelled_before_arrival(w, task))
        return;
    if (sched_add(w->scheduler, task) == SCHED_FOLLOWS)
        log_info(job->id, "delivered again while its first delivery is in flight; it will get "
                          "that attempt's answer");
}
