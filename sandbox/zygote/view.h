/* Where a warm interpreter prepares: the filesystem of a jail.
 *
 * What a server imports reads files and writes caches as it goes:
 * matplotlib reads /etc/matplotlibrc and writes its font list under
 * MPLCONFIGDIR, fontconfig reads /etc/fonts. Done on the host, the imports
 * would read the host's /etc rather than the jail's, write into the host's
 * /tmp as root, and remember what they found there, which a cold job, in a
 * jail, would not have found. So the server imports in a mount namespace of
 * its own, built from the plans of a jail (the base plan's /usr, /etc and
 * the operator's binds; a fresh /tmp, /work and /dev/shm), with a job's
 * environment, and then returns to the host's namespace, where it clones
 * jails and that namespace, with what the imports wrote, is gone. */
#ifndef BRIG_SANDBOX_ZYGOTE_VIEW_H
#define BRIG_SANDBOX_ZYGOTE_VIEW_H

#include <stddef.h>

#include "sandbox/jail_child.h"

/* Enters the jail's filesystem (root and base as in the worker's hello),
 * in /work. *host_ns gets the namespace to come back to. */
int view_enter(const char *root, const struct mnt_plan *base, int *host_ns, char *err,
               size_t errlen);
/* Back to host_ns, which it closes. Fails when the process has started a
 * thread since view_enter (a thread shares the namespace it would leave). */
int view_leave(int host_ns, char *err, size_t errlen);

#endif
