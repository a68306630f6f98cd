/* What brig processes that died without cleaning up (kill -9, a crash, a
 * power cut of the process but not of the host) left behind: the tmpfs
 * workspaces of their interrupted jobs, still mounted under the state
 * directory, and their jails' cgroups, empty once the jails died with them.
 *
 * Every such mount carries its maker's pid and start time in its source
 * ("brig-workspace:<pid>-<start>") and every jail cgroup in its name
 * ("<pid>-<start>-<n>"), so a starting process reclaims exactly what belongs
 * to no live process: other workers' on the same host are left alone, and so
 * is everything brig did not make (session workspaces, which persist across
 * restarts by design, among them). */
#ifndef BRIG_SANDBOX_RECLAIM_H
#define BRIG_SANDBOX_RECLAIM_H

#include <stddef.h>

#include "sandbox/sandbox.h"

struct jail_reclaimed {
    size_t mounts;   /* workspaces of dead processes unmounted */
    size_t cgroups;  /* empty jail cgroups of dead processes removed (one per hierarchy on v1) */
    size_t failures; /* leftovers of dead processes that stay; err names the first */
};

/* Unmounts (MNT_DETACH) the workspaces of dead brig processes mounted
 * strictly under the context's state directory, as /proc/self/mountinfo
 * lists them, reaching each through the state directory without following a
 * symbolic link; and removes (rmdir, which refuses a cgroup that still holds
 * a process or a child) the jail cgroups of dead processes in brig's cgroup,
 * in every hierarchy on v1, in the one tree on v2. Touches nothing else.
 *
 * Meant for a process that starts, after jail_context_new; safe at any time
 * and from several processes at once. Returns 0 with the counts in out, or -1
 * when something of the dead could not be reclaimed: err says what and why,
 * and the rest was still reclaimed and counted. */
int jail_reclaim(struct jail_context *ctx, struct jail_reclaimed *out, char *err, size_t errlen);

#endif
