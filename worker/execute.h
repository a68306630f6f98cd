/* A job's run, in a slot thread: workspace, input files, the jail, collected
 * files, then the result, encoded and ready to publish.
 *
 * A slot sees only its environment: read-only parts shared by every slot,
 * never the worker's main-loop state. */
#ifndef BRIG_WORKER_EXECUTE_H
#define BRIG_WORKER_EXECUTE_H

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"
#include "worker/config.h"
#include "worker/egress.h"
#include "worker/publish.h"
#include "worker/task.h"

struct interp_pool;

struct slot_env {
    const struct worker_config *config;
    struct jail_context *jail;
    const struct runtime_table *runtimes;
    struct egress_proxy *egress;
    struct publisher *publisher; /* for live output only */
    struct interp_pool *interps; /* sessions' live interpreters (interp.h) */
};

/* Runs task's job and leaves its outcome in task->outcome and its encoded
 * result in task->result, on every path. */
void execute_task(const struct slot_env *env, struct task *task);

#endif
