/* Live interpreters, one per session: a job of a session whose runtime has a
 * kernel (python, javascript, typescript) runs as a cell in that session's
 * interpreter, so the variables one cell defines are there for the next
 * (SCHEMA.md 6.1).
 *
 * An interpreter is a kernel (sandbox/kernels/) run as the program of a
 * live jail (sandbox/live.h) with every layer of a job's jail: the session's
 * workspace and uid, its own cgroup, seccomp, rlimits, and the network
 * rules (egress.h) of the cell that started it: none, or an egress job of
 * its own that lives as long as it does. A cell whose rules differ ends it
 * and starts a fresh one. It is started by the session's first cell, from the runtime's warm server
 * where it has one, and talks to the worker over the jail's channel (interp_channel.h). Its memory
 * and pids are the first cell's limits, for the interpreter's whole life; its RLIMIT_CPU backstop
 * is the lifetime.
 *
 * It ends when the kernel dies (the cell that was running reports
 * state_lost), when it stays idle past idle_ms or lives past lifetime_ms
 * (interp_pool_sweep, and at its next cell), when the pool has max_live
 * interpreters and another session needs one (the least recently used idle
 * one goes), when its session's partition is revoked, and with the pool.
 * The next cell of that session then starts a fresh one
 * (interpreter.started).
 *
 * The pool is shared by the slot threads; a session's cells never overlap
 * (the scheduler runs a session's jobs one at a time), so an interpreter is
 * used by one slot at a time. */
#ifndef BRIG_WORKER_INTERP_H
#define BRIG_WORKER_INTERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"
#include "schema/schema.h"

struct interp_pool;
struct egress_job;

struct interp_pool_config {
    unsigned max_live;    /* live interpreters at most (idle ones are evicted) */
    uint64_t grace_ms;    /* from an interrupt to the kill */
    uint64_t lifetime_ms; /* an interpreter's longest life */
    uint64_t idle_ms;     /* an idle interpreter's longest wait; 0 = lifetime only */
};

/* Reads the kernels (<exe>/../share/brig/kernels, else the source tree's)
 * and, with a zygote (brig-zygote), starts a warm server with IPython and
 * matplotlib imported and the Python kernel's shell built (the kernel's
 * file run as a module), from which interpreters start when their runtime has
 * no warm server of its own (it dies with the calling thread; without it,
 * or once it died, they start cold). Returns 0, or -1 with err. */
int interp_pool_new(const struct interp_pool_config *config, struct jail_context *jail,
                    const char *zygote, struct interp_pool **out, char *err, size_t errlen);
/* Ends every interpreter (none may be in use). */
void interp_pool_free(struct interp_pool *pool);
/* The warm server Python kernels start from; NULL when they start cold. */
struct jail_server *interp_pool_kernel_server(const struct interp_pool *pool);

/* Whether jobs of this runtime run as cells in a session. */
bool interp_runtime_has_kernel(const char *runtime_name);
/* Whether the kernel of rt's cells makes the session's venv itself, when it
 * is missing, before each cell (session_env.h): Python's, on the host's
 * tree. */
bool interp_kernel_makes_venv(const struct runtime *rt);

/* Ends the idle interpreters past their idle time or lifetime (main loop). */
void interp_pool_sweep(struct interp_pool *pool);
/* Ends the interpreters of the sessions of partition (it was revoked); one in
 * use ends after its cell. */
void interp_pool_end_partition(struct interp_pool *pool, int32_t partition);

struct interp_cell {
    struct jail_context *jail;
    const struct runtime *runtime;
    const char *session;
    int32_t partition;
    /* The jail an interpreter starts in: the session's workspace, the
     * environment and limits (memory and pids kept for its life; wall_ms,
     * cpu_ms and output_bytes applied to this cell). */
    const struct jail_spec *spec;
    const char *code;
    size_t code_len;
    const struct brig_pair *env; /* added to the interpreter's for this cell */
    size_t env_count;
    int cancel_fd; /* readable: interrupt the cell (outcome.cancelled) */
    const char *job_id;
    /* The cell's network allow-list and secrets as one string ("" = none):
     * it runs in an interpreter started with the same, else a fresh one
     * starts. *egress (NULL = no network) is the egress job the spec's
     * network hook serves; an interpreter started by this cell takes it
     * (*egress becomes NULL) and closes it when it ends; one reused keeps
     * its own, whose records from now on carry job_id. */
    const char *network_key;
    struct egress_job **egress;
    jail_output_fn on_output;
    void *output_ctx;
};

struct interp_cell_result {
    /* status, out, err, wall_us and cpu_us (this cell's), the interpreter's
     * peak memory, message; cancelled when cancel_fd stopped it. */
    struct jail_outcome jail;
    struct brig_output *outputs;
    size_t output_count;
    bool outputs_truncated;
    char *exception_name; /* NULL = none */
    char *exception_value;
    char **traceback;
    size_t traceback_count;
    bool started;    /* this cell started the interpreter */
    bool state_lost; /* the interpreter ended during the cell */
    uint64_t execution_count;
};

/* Runs one cell; result is filled on every path (free it with
 * interp_cell_result_free). */
void interp_run_cell(struct interp_pool *pool, const struct interp_cell *cell,
                     struct interp_cell_result *result);
void interp_cell_result_free(struct interp_cell_result *result);

#endif
