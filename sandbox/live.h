/* Live jails: a program that outlives the call that starts it, in a jail
 * with every layer of jail_run's, and a channel of two pipes beside its
 * stdio. A session's interpreter (worker/interp.h) is one.
 *
 * jail_live_start builds the jail as jail_run does (the spec's argv, env,
 * workspace, binds, limits, warm server and network hook) and returns once
 * the program runs. Its stdin is empty. It finds the channel at descriptors
 * 5 (to read the caller's bytes) and 6 (to write its own), as
 * CHILD_CHANNEL_IN_FD and CHILD_CHANNEL_OUT_FD say; what travels there is
 * the caller's and the program's business.
 *
 * Nothing supervises the jail between calls. The cgroup and the kernel hold
 * spec.limits' memory, pids, CPU quota and rlimits (cpu_ms sets RLIMIT_CPU,
 * a backstop per process); wall_ms, cpu_ms and output_bytes are the
 * caller's to enforce, with jail_live_usage, jail_live_interrupt and
 * jail_live_stop. Init passes a SIGINT on to the program; the jail ends when
 * the program does, or at jail_live_stop. One thread at a time per jail. */
#ifndef BRIG_SANDBOX_LIVE_H
#define BRIG_SANDBOX_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

struct jail_live;

/* The caller's ends, all non-blocking; they stay the jail's (do not close). */
struct jail_live_fds {
    int out, err;     /* the program's stdout and stderr */
    int from_program; /* the channel: what the program writes on its descriptor 6 */
    int to_program;   /* and what it reads on 5 (writes may fail with EPIPE) */
    int ended;        /* readable once the jail is gone (its init's pidfd) */
};

/* Returns 0, or -1 with a sentence in err (nothing is left running). */
int jail_live_start(struct jail_context *ctx, const struct jail_spec *spec, struct jail_live **out,
                    char *err, size_t errlen);

void jail_live_fds(const struct jail_live *live, struct jail_live_fds *fds);

/* SIGINT to the program. -1 with err when the jail is gone. */
int jail_live_interrupt(struct jail_live *live, char *err, size_t errlen);

struct jail_live_usage {
    uint64_t cpu_us;            /* of everything that ran in the jail so far */
    uint64_t peak_memory_bytes; /* its high-water mark so far; 0 where not kept */
    bool oom_killed;            /* the OOM killer acted in the jail */
};

/* -1 when the cgroup could not be read. */
int jail_live_usage(struct jail_live *live, struct jail_live_usage *usage);

/* Kills what is left of the jail, removes it and frees live. out says how
 * the program ended, as jail_run's outcome does (ok, failed, signaled,
 * seccomp, oom, with its exit code or signal, the jail's CPU time and peak
 * memory; out->out and out->err stay empty): if it was still running, it
 * was stopped, which is internal_error with cancelled set. Returns 0, or -1
 * when the jail's own teardown failed (out->message says how). */
int jail_live_stop(struct jail_live *live, struct jail_outcome *out);

#endif
