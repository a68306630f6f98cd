/* The process view: the jail's /proc must show only the jail's own few
 * processes. Each HOST_PID given (the test's own, a host sleep) must be
 * invisible, as must every kernel thread (their parent is pid 0 and they are
 * not the jail's pid 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

/* The jail's init, the attack, maybe a shell between them: a handful. */
enum { MAX_VISIBLE = 8 };

static long parent_of(int pid)
{
    char path[64], status[4096];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (attack_read_file(path, status, sizeof(status)) < 0)
        return -1;
    const char *line = strstr(status, "\nPPid:");
    return line ? strtol(line + strlen("\nPPid:"), NULL, 10) : -1;
}

int main(int argc, char **argv)
{
    int pids[64];
    int visible = attack_list_pids(pids, 64);
    if (visible < 0) {
        perror("listing /proc");
        return 2;
    }
    for (int i = 0; i < visible; i++) {
        if (pids[i] != 1 && parent_of(pids[i]) == 0)
            attack_escaped("/proc shows pid %d, whose parent is outside the namespace", pids[i]);
    }
    if (visible > MAX_VISIBLE)
        attack_escaped("/proc shows %d processes", visible);
    else
        attack_contained("/proc shows only %d processes; this one is pid %d", visible, getpid());

    for (int i = 1; i < argc; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%s", argv[i]);
        attack_must_fail(access(path, F_OK), "see host pid %s in /proc", argv[i]);
    }
    return attack_finish();
}
