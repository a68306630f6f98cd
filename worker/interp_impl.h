/* What interp.c (the pool) and interp_cell.c (a cell's run) share. */
#ifndef BRIG_WORKER_INTERP_IMPL_H
#define BRIG_WORKER_INTERP_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include "sandbox/live.h"
#include "sandbox/session.h"
#include "schema/signature.h"
#include "worker/interp.h"
#include "worker/interp_channel.h"

struct interp {
    struct interp *next;
    char session[BRIG_TENANT_MAX + 1 + JAIL_SESSION_ID_MAX + 1]; /* [<tenant>/]<session> */
    int32_t partition;
    struct jail_live *live; /* NULL until started, and once ended */
    struct interp_reader reader;
    uint64_t count; /* cells run in this interpreter */
    /* The workspace it started with: a session removed and made again has
     * another tmpfs, which the interpreter does not see. */
    dev_t workspace_dev;
    char *network_key;         /* the starting cell's (interp_cell.network_key) */
    struct egress_job *egress; /* its network; NULL = none */
    int64_t started_ms, last_used_ms;
    bool busy;   /* a slot runs a cell in it */
    bool doomed; /* ends once its cell is over (its partition was revoked) */
};

/* The kernels (sandbox/kernels/), each running one runtime's cells. */
enum interp_kernel { KERNEL_PYTHON, KERNEL_NODE, KERNEL_COUNT };

struct interp_pool {
    struct interp_pool_config config;
    pthread_mutex_t lock;
    struct interp *list;         /* most recently used first */
    char *kernels[KERNEL_COUNT]; /* their sources */
    struct jail_server *warm;    /* the Python kernel's imports done; NULL: cold starts */
};

/* The session's interpreter, or a new one not started, for the caller only
 * until interp_put. NULL when out of memory. */
struct interp *interp_take(struct interp_pool *pool, const char *session, int32_t partition);
void interp_put(struct interp_pool *pool, struct interp *ip);
/* Stops its jail, then closes its egress job; *how (optional) gets the jail's outcome, else freed.
 */
void interp_end(struct interp *ip, struct jail_outcome *how);
/* The argv (room for 7) that runs the kernel of rt's cells (a runtime
 * without one, or NULL, gets Python's; one that makes the session's venv is
 * given session_env.h's program for it), and *warm, the pool's server it
 * starts from when its runtime has none; NULL: cold. */
void interp_kernel_command(const struct interp_pool *pool, const struct runtime *rt,
                           const char **argv, struct jail_server **warm);

#endif
