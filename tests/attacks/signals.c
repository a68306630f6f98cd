/* Signals out of the jail: SIGKILL to each HOST_PID given (the test process
 * and host sleeps running as root, as uid 1000 and as nobody), then to every
 * process it may signal (kill -1). Inside the jail's pid namespace the host
 * pids do not exist (ESRCH); whether kill -1 reached anything outside, only
 * the test can tell, by checking its sleeps afterwards. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "tests/attacks/attack.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        attack_usage("attack_signals HOST_PID...");
    for (int i = 1; i < argc; i++) {
        pid_t pid = (pid_t)strtol(argv[i], NULL, 10);
        attack_must_fail(kill(pid, SIGKILL), "kill host pid %d", pid);
        attack_must_fail(kill(-pid, SIGKILL), "kill host process group %d", pid);
    }
    /* Only this process and the jail's init, which kill -1 spares, are in
     * the namespace: ESRCH, or 0 if the jail has helpers of its own here. */
    int result = kill(-1, SIGKILL);
    attack_contained("kill -1 SIGKILL returned %d %s; the test checks its host processes", result,
                     result < 0 ? attack_errno_name(errno) : "");
    return attack_finish();
}
