/* Who made a leftover. brig's jail cgroups carry the pid and start time of
 * the process that made them: together they name one process for the host's
 * uptime, where a pid alone may since belong to another (pids are reused).
 *
 * Owners are compared in the caller's pid namespace: processes that share
 * brig's state directory or cgroup must share one. */
#ifndef BRIG_SANDBOX_OWNER_H
#define BRIG_SANDBOX_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct owner {
    pid_t pid;
    uint64_t start; /* clock ticks after boot (/proc/<pid>/stat); 0 = unknown */
};

/* The calling process. -1 with a sentence when /proc cannot say. */
int owner_self(struct owner *out, char *err, size_t errlen);
/* Process pid (a zombie too). -1 with errno ESRCH when there is none. */
int owner_of(pid_t pid, struct owner *out);

/* "<pid>-<start>". */
void owner_format(const struct owner *owner, char *buf, size_t len);

#endif
