/* Keeps the worker's brig-zygote servers up: the spawner that clones its
 * jails, the warm runtimes' interpreters and the cells' kernel server. Jobs do not need them
 * (without one a jail is cloned by the worker, or starts cold: the same jail, slower), so a server
 * that dies is only logged, counted, and started again by a thread of this module, which checks
 * every second and backs off from 1 s to a minute while starts fail. */
#ifndef BRIG_WORKER_SERVER_KEEPER_H
#define BRIG_WORKER_SERVER_KEEPER_H

#include <stddef.h>

#include "sandbox/runtime.h"
#include "sandbox/sandbox.h"

struct server_keeper;

/* Watches jail's spawner, the warm interpreter of every runtime of table
 * that has one and kernel, the cells' warm kernel server (NULL: none). A
 * server it restarts dies with the keeper's thread, so stop the keeper only
 * when no job runs any more, and before its servers are freed. */
int server_keeper_start(struct jail_context *jail, struct runtime_table *table,
                        struct jail_server *kernel, struct server_keeper **out, char *err,
                        size_t errlen);
/* NULL is a no-op. */
void server_keeper_stop(struct server_keeper *keeper);

#endif
