/* cgroups for jails, v1 or v2, chosen once at start by what the host has.
 * cgroup.c detects and dispatches; cgroup1.c and cgroup2.c hold the
 * hierarchy-specific file names and rules. */
#ifndef BRIG_SANDBOX_CGROUP_H
#define BRIG_SANDBOX_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

struct cgroup_usage {
    uint64_t cpu_us;            /* CPU time of every process that was in the cgroup */
    uint64_t peak_memory_bytes; /* high-water mark; 0 where the kernel does not keep one */
    bool oom_killed;            /* the kernel's OOM killer acted inside the cgroup */
};

struct cgroup_backend;
struct jail_cgroup;

/* root: NULL = /sys/fs/cgroup. Picks v2 when root is a cgroup2 mount whose
 * cgroup.controllers offers memory and pids (cpu when present), else v1 when
 * root/memory and root/pids (and cpuacct) exist, else fails with a sentence
 * naming what is missing. Creates brig's parent cgroup(s) ("brig") and, on v2,
 * enables the controllers it needs in subtree_control. */
int cgroup_backend_detect(const char *root, struct cgroup_backend **out, char *err, size_t errlen);
const char *cgroup_backend_version(const struct cgroup_backend *backend); /* "v1" or "v2" */
void cgroup_backend_free(struct cgroup_backend *backend);

/* Creates brig/<name> with the limits applied: memory (and no swap), pids,
 * CPU quota when limits->cpu_millis > 0. Safe to call from several threads. */
int jail_cgroup_create(struct cgroup_backend *backend, const char *name,
                       const struct jail_limits *limits, struct jail_cgroup **out, char *err,
                       size_t errlen);

/* Moves pid into the cgroup (every hierarchy on v1); its children follow. */
int jail_cgroup_attach(struct jail_cgroup *cg, pid_t pid, char *err, size_t errlen);

int jail_cgroup_usage(struct jail_cgroup *cg, struct cgroup_usage *usage);

/* True when no process is left in the cgroup. */
bool jail_cgroup_empty(struct jail_cgroup *cg);

/* SIGKILLs everything in the cgroup and waits, a bounded time, until it is
 * empty (cgroup.kill on v2 where the kernel has it). */
int jail_cgroup_kill(struct jail_cgroup *cg, char *err, size_t errlen);

/* Kills what is left, removes the cgroup directories, frees cg. */
int jail_cgroup_destroy(struct jail_cgroup *cg, char *err, size_t errlen);

/* Removes the empty jail cgroups of dead processes (see reclaim.h) in every
 * hierarchy, counting them in *removed; each that stays counts in *failed,
 * and the first to fail, when *failed was 0, says why in err. */
void cgroup_reclaim(struct cgroup_backend *backend, size_t *removed, size_t *failed, char *err,
                    size_t errlen);

#endif
