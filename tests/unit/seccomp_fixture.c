/* What the seccomp tests share: the policy, built once per group, and
 * children that load it and report how they ended. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp_compile.h"
#include "sandbox/seccomp_policy.h"
#include "tests/unit/seccomp_fixture.h"

struct seccomp_policy *policy;

int build_policy(void **state)
{
    (void)state;
    char err[256];
    if (seccomp_policy_build(&policy, err, sizeof(err)) != 0) {
        print_error("seccomp_policy_build: %s\n", err);
        return -1;
    }
    return 0;
}

int free_policy(void **state)
{
    (void)state;
    seccomp_policy_free(policy);
    return 0;
}

/* In a freshly forked child: no core files from the kills, then the filter. */
void enter_filter(void)
{
    const struct rlimit no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        seccomp_policy_load(policy) != 0)
        _exit(CHILD_SETUP_FAILED);
}

int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return status;
}

void describe_status(const char *what, int status)
{
    if (WIFSIGNALED(status))
        print_message("%s: killed by signal %d\n", what, WTERMSIG(status));
    else
        print_message("%s: exited with %d\n", what, WEXITSTATUS(status));
}

void assert_killed_by_sigsys(const char *what, int status)
{
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS) {
        describe_status(what, status);
        fail();
    }
}

void assert_exited_zero(const char *what, int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        describe_status(what, status);
        fail();
    }
}
