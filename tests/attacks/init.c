/* The jail's init: pid 1 of the jail is a copy of brig that reaps orphans and
 * reports how the job ended. It shares the job's uid, so it must be out of
 * the job's reach by other means: signals (a namespace's init only gets the
 * ones it handles), its memory (checked by attack_proc_exe) and its resource
 * limits. A job that could set init's RLIMIT_CPU could have the kernel kill
 * init once init has spent a second of CPU, which a storm of signals to the
 * job itself (each one a ptrace stop that init handles) brings about: the
 * outcome would then be brig's own failure rather than the job's. So when
 * the limit does go through, the storm runs, to show the consequence. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

enum { STORM_ROUND = 100000, STORM_ROUNDS = 100 };

static void ignore(int sig)
{
    (void)sig;
}

/* init's CPU time in seconds, from fields 14 and 15 of /proc/1/stat. */
static double init_cpu_seconds(void)
{
    char stat[1024];
    if (attack_read_file("/proc/1/stat", stat, sizeof(stat)) < 0)
        return -1;
    const char *fields = strrchr(stat, ')'); /* the command name may hold spaces */
    unsigned long utime = 0, stime = 0;
    if (!fields || sscanf(fields + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                          &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Signals to ourselves until init has used two seconds of CPU, which its new
 * limit does not allow. */
static void storm(void)
{
    signal(SIGUSR1, ignore);
    for (int round = 0; round < STORM_ROUNDS && init_cpu_seconds() < 2; round++) {
        for (int i = 0; i < STORM_ROUND; i++)
            kill(getpid(), SIGUSR1);
    }
    attack_escaped("init survived the storm with %.2f s of CPU", init_cpu_seconds());
}

int main(void)
{
    const int fatal[] = {SIGKILL, SIGTERM, SIGSTOP, SIGINT, SIGHUP, SIGSEGV};
    for (size_t i = 0; i < ARRAY_SIZE(fatal); i++) {
        int result = kill(1, fatal[i]);
        attack_contained("signal %d to init returned %d %s; the test checks the outcome", fatal[i],
                         result, result < 0 ? attack_errno_name(errno) : "");
    }

    const struct rlimit one_second = {.rlim_cur = 1, .rlim_max = 1};
    int result = prlimit(1, RLIMIT_CPU, &one_second, NULL);
    attack_must_fail(result, "set init's RLIMIT_CPU to 1 s");
    const struct rlimit no_files = {.rlim_cur = 0, .rlim_max = 0};
    attack_must_fail(prlimit(1, RLIMIT_NOFILE, &no_files, NULL), "set init's RLIMIT_NOFILE to 0");
    if (result == 0)
        storm();
    return attack_finish();
}
