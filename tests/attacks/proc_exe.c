/* Overwriting a binary through /proc (runc CVE-2019-5736): a process that
 * sees /proc/<pid>/exe of a process started from a host binary can open it
 * for writing once that process is gone, and replace the host binary. Every
 * process visible in the jail (this one, a child running /usr/bin/sleep, the
 * jail's init) is tried, directly and by reopening an O_PATH descriptor.
 * And /proc/<pid>/mem of a process that is not our own descendant (the
 * jail's init, our parents) must not open for writing either: that process
 * may not be under the seccomp filter yet. Nothing is ever written. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

/* Opens path with O_PATH and reopens the descriptor for writing through /proc/self/fd. */
static void try_reopen_for_writing(const char *path)
{
    int pathfd = open(path, O_PATH | O_CLOEXEC);
    if (pathfd < 0) {
        attack_must_fail(pathfd, "open %s with O_PATH", path);
        return;
    }
    char reopen[64];
    snprintf(reopen, sizeof(reopen), "/proc/self/fd/%d", pathfd);
    attack_open_must_fail(reopen, O_WRONLY);
    close(pathfd);
}

/* Only this process and its child are sure to be under the jail's seccomp filter. */
static bool may_be_unfiltered(pid_t pid, pid_t child)
{
    return pid != getpid() && pid != child;
}

int main(void)
{
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        execl("/usr/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    /* Let the child get through execve, so its exe is /usr/bin/sleep. */
    usleep(200 * 1000);

    int pids[64];
    int count = attack_list_pids(pids, 64);
    if (count < 0) {
        perror("listing /proc");
        return 2;
    }
    for (int i = 0; i < count; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/exe", pids[i]);
        attack_open_must_fail(path, O_WRONLY);
        attack_open_must_fail(path, O_RDWR);
        try_reopen_for_writing(path);
        if (may_be_unfiltered(pids[i], child)) {
            snprintf(path, sizeof(path), "/proc/%d/mem", pids[i]);
            attack_open_must_fail(path, O_RDWR);
        }
    }
    attack_open_must_fail("/proc/self/exe", O_WRONLY);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return attack_finish();
}
