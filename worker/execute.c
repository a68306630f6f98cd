#include "worker/execute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "sandbox/session.h"
#include "worker/collect.h"
#include "worker/interp.h"
#include "worker/job_spec.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/session_env.h"
#include "worker/tenants.h"

/* How long a session job waits for a job of the same session that another
 * worker process of this host is still running (a partition that moved). */
#define SESSION_WAIT_MS 60000

/* Where a job's live output goes. */
struct live_output {
    struct publisher *publisher;
    struct log_origin origin;
};

static void stream_output(void *ctx, enum jail_stream stream, const char *data, size_t len)
{
    struct live_output *live = ctx;
    publish_log_chunk(live->publisher, &live->origin,
                      stream == JAIL_STDOUT ? BRIG_STREAM_STDOUT : BRIG_STREAM_STDERR, data, len,
                      false);
}

static void fail_internal(struct jail_outcome *outcome, const char *what)
{
    memset(outcome, 0, sizeof(*outcome));
    outcome->status = BRIG_STATUS_INTERNAL_ERROR;
    snprintf(outcome->message, sizeof(outcome->message), "%.255s", what);
}

/* 0755 for the input files the job marks executable, else 0644. */
static unsigned file_mode(const struct brig_job *job, const char *path)
{
    for (size_t i = 0; i < job->executable_count; i++) {
        if (strcmp(job->executable[i], path) == 0)
            return 0755;
    }
    return 0644;
}

/* A session's job of a runtime with a kernel runs as a cell in the
 * session's interpreter. */
static bool runs_as_cell(const struct slot_env *slot, const struct task *task)
{
    return slot->interps && task->job.runtime && task->job.session && task->job.session[0] &&
           interp_runtime_has_kernel(task->runtime_name);
}

/* A Python cell's kernel makes the session's venv (session_env.h). */
static bool kernel_makes_venv(const struct slot_env *slot, const struct task *task)
{
    return runs_as_cell(slot, task) &&
           interp_kernel_makes_venv(runtime_find(slot->runtimes, task->job.runtime));
}

/* A session job's workspace is the session's, waited for while another
 * worker process of the host still runs one of its jobs; the state hash
 * before the run goes to the audit record. Others get a fresh one. */
static int open_workspace(const struct slot_env *env, struct task *task, uint64_t disk_bytes,
                          struct jail_workspace **ws, struct jail_outcome *outcome)
{
    const char *session = task->job.session;
    char err[512];
    if (!session || !session[0]) {
        if (jail_workspace_new(env->jail, disk_bytes, ws, err, sizeof(err)) == 0)
            return 0;
        fail_internal(outcome, err);
        outcome->status = BRIG_STATUS_SETUP_ERROR;
        return -1;
    }
    /* A tenant's sessions are its own: another's of the same name is
     * another session. */
    char root[4096];
    if (jail_session_tenant_root(env->config->sessions_dir, task->tenant, true, root, sizeof(root),
                                 err, sizeof(err)) < 0) {
        fail_internal(outcome, err);
        outcome->status = BRIG_STATUS_SETUP_ERROR;
        return -1;
    }
    int rc = jail_session_acquire(env->jail, root, session, env->config->session_quota_bytes,
                                  SESSION_WAIT_MS, ws, err, sizeof(err));
    if (rc == JAIL_SESSION_BUSY) {
        fail_internal(outcome, "the session stayed busy: another worker is still running one of "
                               "its jobs");
        return -1;
    }
    if (rc < 0) {
        fail_internal(outcome, err);
        outcome->status = BRIG_STATUS_SETUP_ERROR;
        return -1;
    }
    struct jail_server *warm = env->interps ? interp_pool_kernel_server(env->interps) : NULL;
    if (!kernel_makes_venv(env, task) &&
        session_env_prepare(env->jail, warm, *ws, err, sizeof(err)) < 0)
        log_warn(task->job_id, "session %s: %s", session, err);
    if (jail_workspace_state_hash(*ws, task->state_before, err, sizeof(err)) < 0)
        log_warn(task->job_id, "hashing session %s before the run: %s", session, err);
    return 0;
}

/* The job's allow-list (what its tenant's caps leave) and secrets, in their
 * order, as one string: "" for none. NULL when out of memory. */
static char *network_key(const struct task *task)
{
    char *key = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&key, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; task->network.mode == BRIG_NETWORK_ALLOW && i < task->network.rule_count;
         i++) {
        const struct brig_net_rule *rule = &task->network.rules[i];
        fprintf(f, "%s%s:%u\n", rule->wildcard ? "*." : "", rule->host, (unsigned)rule->port);
    }
    for (size_t i = 0; i < task->job.secret_count; i++)
        fprintf(f, "secret %s\n", task->job.secrets[i]);
    if (fclose(f) != 0) {
        free(key);
        return NULL;
    }
    return key;
}

static void run_cell(const struct slot_env *slot, struct task *task, struct runtime *rt,
                     const struct jail_spec *spec, struct egress_job **egress,
                     struct interp_cell_result *cell)
{
    const struct brig_job *job = &task->job;
    /* Two tenants' sessions of one name are two sessions, with two
     * interpreters ('/' is in neither a tenant's name nor a session id). */
    char session[BRIG_TENANT_MAX + 1 + JAIL_SESSION_ID_MAX + 1];
    snprintf(session, sizeof(session), "%s%s%s", task->tenant, task->tenant[0] ? "/" : "",
             job->session);
    struct interp_cell request = {
        .jail = slot->jail,
        .runtime = rt,
        .session = session,
        .partition = task->partition,
        .spec = spec,
        .code = job->code.data,
        .code_len = job->code.len,
        .env = job->env,
        .env_count = job->env_count,
        .cancel_fd = task->cancel_fd,
        .job_id = job->id,
        .egress = egress,
        .on_output = spec->on_output,
        .output_ctx = spec->output_ctx,
    };
    char err[256];
    char *key = network_key(task);
    if (!key) {
        cell->jail.status = BRIG_STATUS_INTERNAL_ERROR;
        snprintf(cell->jail.message, sizeof(cell->jail.message),
                 "out of memory keeping the cell's network rules");
        return;
    }
    request.network_key = key;
    interp_run_cell(slot->interps, &request, cell);
    free(key);
    if (runtime_version(slot->jail, rt, task->runtime_version, sizeof(task->runtime_version), err,
                        sizeof(err)) < 0)
        task->runtime_version[0] = '\0';
}

/* Runs the job; outcome and runtime_version are filled on every path, and
 * cell's fields for a cell (cell->has_interpreter). */
static void run_job(const struct slot_env *slot, struct task *task, struct jail_outcome *outcome,
                    struct collection *collected, struct interp_cell_result *cell, bool *is_cell)
{
    const struct brig_job *job = &task->job;
    struct jail_workspace *ws = NULL;
    struct egress_job *egress = NULL;
    char logs_topic[BRIG_TOPIC_MAX + 1];
    if (task->tenant[0])
        tenant_logs_topic(slot->config->topic_prefix, task->tenant, logs_topic);
    struct live_output live = {
        .publisher = slot->publisher,
        .origin = {.job_id = job->id,
                   .attempt = (uint64_t)task->attempt_number,
                   .topic = task->tenant[0] ? logs_topic : NULL},
    };
    char err[512];
    int egress_opened = egress_job_open(slot->egress, job->id, &task->network, task->tenant,
                                        job->secrets, job->secret_count, &egress, err, sizeof(err));
    bool in_session = job->session && job->session[0];
    char **env = job_environment(job, in_session ? session_env_vars : NULL,
                                 egress ? egress_job_env(egress) : NULL);
    const char **args = job_command(job);

    struct jail_spec spec = {.env = (const char *const *)env, .cancel_fd = task->cancel_fd};
    if (egress) {
        spec.on_network = egress_on_network;
        spec.network_ctx = egress;
        spec.binds = egress_job_binds(egress, &spec.n_binds);
    }
    job_limits(job, &spec.limits);
    spec.stdin_data = job->stdin_data.data;
    spec.stdin_len = job->stdin_data.len;
    if (job->stream_logs) {
        spec.on_output = stream_output;
        spec.output_ctx = &live;
    }
    if (egress_opened < 0) {
        fail_internal(outcome, err);
        outcome->status = BRIG_STATUS_SETUP_ERROR;
        goto out;
    }
    if (!env || !args) {
        fail_internal(outcome, "out of memory preparing the job");
        goto out;
    }
    if (open_workspace(slot, task, spec.limits.disk_bytes, &ws, outcome) < 0)
        goto out;
    for (size_t i = 0; i < job->file_count; i++) {
        const struct brig_file *f = &job->files[i];
        if (jail_workspace_write_file(ws, f->path, f->content.data, f->content.len,
                                      file_mode(job, f->path), err, sizeof(err)) < 0) {
            fail_internal(outcome, err);
            outcome->status = BRIG_STATUS_SETUP_ERROR;
            goto out;
        }
    }
    spec.workspace = ws;

    if (runs_as_cell(slot, task)) {
        run_cell(slot, task, runtime_find(slot->runtimes, job->runtime), &spec, &egress, cell);
        *outcome = cell->jail;
        cell->jail = (struct jail_outcome){0};
        *is_cell = true;
    } else if (job->runtime) {
        struct runtime *rt = runtime_find(slot->runtimes, job->runtime);
        struct runtime_outcome rout;
        runtime_run(slot->jail, rt, job->code.data, job->code.len, args, &spec, &rout);
        *outcome = rout.jail;
        task->compiled = rout.compiled;
        task->compile_us = rout.compile_wall_us;
        snprintf(task->runtime_version, sizeof(task->runtime_version), "%s", rout.version);
    } else {
        spec.argv = args;
        jail_run(slot->jail, &spec, outcome);
    }
    /* The hook's own words say more than the jail's "the hook failed". */
    if (egress && outcome->status == BRIG_STATUS_SETUP_ERROR && egress_job_error(egress)[0])
        snprintf(outcome->message, sizeof(outcome->message), "%s", egress_job_error(egress));
    if (job->collect_count > 0) {
        struct brig_limits effective;
        brig_limits_resolve(&job->limits, &effective);
        if (collect_files(jail_workspace_dirfd(ws), job->collect, job->collect_count,
                          effective.collect_bytes, collected, err, sizeof(err)) < 0) {
            outcome->status = BRIG_STATUS_INTERNAL_ERROR;
            snprintf(outcome->message, sizeof(outcome->message), "%.255s", err);
        }
    }

    if (job->session && job->session[0] &&
        jail_workspace_state_hash(ws, task->state_after, err, sizeof(err)) < 0)
        log_warn(task->job_id, "hashing session %s after the run: %s", job->session, err);

out:
    egress_job_close(egress);
    if (job->stream_logs) {
        publish_log_chunk(slot->publisher, &live.origin, BRIG_STREAM_STDOUT, NULL, 0, true);
        publish_log_chunk(slot->publisher, &live.origin, BRIG_STREAM_STDERR, NULL, 0, true);
    }
    if (jail_workspace_close(ws, err, sizeof(err)) < 0)
        log_warn(task->job_id, "closing the workspace: %s", err);
    free(env);
    free((void *)args);
}

static bool exited_by_itself(brig_status status)
{
    return status == BRIG_STATUS_OK || status == BRIG_STATUS_FAILED ||
           status == BRIG_STATUS_COMPILE_ERROR;
}

void execute_task(const struct slot_env *slot, struct task *task)
{
    const struct brig_job *job = &task->job;
    const char *runtime_version = task->runtime_version;
    struct jail_outcome outcome;

    struct collection collected = {0};
    struct interp_cell_result cell = {0};
    bool is_cell = false;
    run_job(slot, task, &outcome, &collected, &cell, &is_cell);
    int64_t finished_ms = wall_clock_ms();

    /* A cell's status is its own: no process exited with a code. */
    bool exited = !is_cell && exited_by_itself(outcome.status);
    if (outcome.cancelled && atomic_load(&task->stop_reason) == TASK_STOP_CANCEL) {
        outcome.status = BRIG_STATUS_CANCELLED;
        snprintf(task->error, sizeof(task->error), "cancelled while it ran%s%s",
                 task->cancelled_by[0] ? " by " : "", task->cancelled_by);
    } else if (outcome.cancelled) {
        snprintf(task->error, sizeof(task->error),
                 "the worker shut down before the job finished (its drain timeout ran out)");
    } else {
        snprintf(task->error, sizeof(task->error), "%s", outcome.message);
    }
    task->outcome = (struct audit_outcome){
        .finished_ms = finished_ms,
        .status = outcome.status,
        .exit_code = exited ? outcome.exit_code : -1,
        .signal = outcome.signal,
        .wall_us = outcome.wall_us,
        .cpu_us = outcome.cpu_us,
        .peak_memory_bytes = outcome.peak_memory_bytes,
        .error = task->error[0] ? task->error : NULL,
        .runtime_version = runtime_version[0] ? runtime_version : NULL,
        .state_before = task->state_before[0] ? task->state_before : NULL,
        .state_after = task->state_after[0] ? task->state_after : NULL,
    };

    struct brig_result result = {
        .id = job->id,
        .attempt = (uint64_t)task->attempt_number,
        .status = outcome.status,
        .has_exit_code = exited,
        .exit_code = outcome.exit_code,
        .signal = outcome.signal,
        .stdout_data = {.data = outcome.out.data ? outcome.out.data : "", .len = outcome.out.len},
        .stderr_data = {.data = outcome.err.data ? outcome.err.data : "", .len = outcome.err.len},
        .stdout_truncated = outcome.out.truncated,
        .stderr_truncated = outcome.err.truncated,
        .has_usage = true,
        .wall_us = outcome.wall_us,
        .cpu_us = outcome.cpu_us,
        .peak_memory_bytes = outcome.peak_memory_bytes,
        .has_compile_us = task->compiled,
        .compile_us = task->compile_us,
        .runtime_name = task->runtime_name,
        .runtime_version = task->runtime_name && runtime_version[0] ? runtime_version : NULL,
        .worker_id = slot->config->worker_id,
        .received_ms = (uint64_t)task->received_ms,
        .started_ms = (uint64_t)task->started_ms,
        .finished_ms = (uint64_t)finished_ms,
        .error = task->error[0] ? task->error : NULL,
        .syscall = outcome.syscall[0] ? outcome.syscall : NULL,
        .metadata = job->metadata,
        .metadata_count = job->metadata_count,
        .session = job->session,
        .replay_of = job->replay_of,
        .files = collected.files,
        .file_count = collected.file_count,
        .files_omitted = collected.omitted,
        .omitted_count = collected.omitted_count,
        .files_omitted_truncated = collected.omitted_truncated,
        .outputs = cell.outputs,
        .output_count = cell.output_count,
        .outputs_truncated = cell.outputs_truncated,
        .exception_name = cell.exception_name,
        .exception_value = cell.exception_value,
        .traceback = (const char *const *)cell.traceback,
        .traceback_count = cell.traceback_count,
        .has_interpreter = is_cell,
        .interpreter_started = cell.started,
        .state_lost = cell.state_lost,
        .execution_count = cell.execution_count,
    };
    struct brig_error err;
    if (brig_result_encode(&result, &task->result, &err) < 0) {
        /* Only a bug can get here (the outcome broke the schema's bounds):
         * answer with what is certain rather than nothing. */
        log_error(job->id, "encoding its result: %s: %s", err.field, err.reason);
        struct brig_result fallback = {
            .id = job->id,
            .attempt = result.attempt,
            .status = BRIG_STATUS_INTERNAL_ERROR,
            .worker_id = result.worker_id,
            .error = "the worker could not encode this job's result",
        };
        task->outcome.status = BRIG_STATUS_INTERNAL_ERROR;
        brig_result_encode(&fallback, &task->result, &err);
    }
    collection_free(&collected);
    interp_cell_result_free(&cell);
    metrics_job_ran(task->runtime_name, task->outcome.status,
                    (double)(finished_ms - task->started_ms) / 1000);
    log_info(job->id, "%s in %lld ms%s%s", brig_status_name(task->outcome.status),
             (long long)(finished_ms - task->started_ms), task->error[0] ? ": " : "", task->error);
    jail_outcome_free(&outcome);
}
