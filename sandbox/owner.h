/* Who made a leftover. brig's host mounts and cgroups carry the pid and start
 * time of the process that made them: together they name one process for the
 * host's uptime, where a pid alone may since belong to another (pids are
 * reused). A later process can then tell what belongs to the dead.
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

/* Whether the owner is still running: a process with its pid exists, is not
 * a zombie and, when start is known, started then. When /proc does not answer
 * clearly, it is taken for alive: reclaiming a live process's things would be
 * worse than leaving a dead one's. */
bool owner_alive(const struct owner *owner);

/* "<pid>-<start>". */
void owner_format(const struct owner *owner, char *buf, size_t len);

/* Reads "<pid>-<start>" at the start of text; *rest is what follows.
 * false when text does not start so. */
bool owner_parse(const char *text, struct owner *out, const char **rest);

#endif
