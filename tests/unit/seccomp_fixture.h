/* What the seccomp tests share: the jail's policy, built once per group, and
 * children that load it and report how they ended. */
#ifndef BRIG_TESTS_SECCOMP_FIXTURE_H
#define BRIG_TESTS_SECCOMP_FIXTURE_H

#include <sys/types.h>

#include "sandbox/seccomp_policy.h"

/* How a child reports, when it is not killed. */
enum {
    CHILD_AS_EXPECTED = 0,
    CHILD_UNEXPECTED_RESULT = 101,
    CHILD_SETUP_FAILED = 102,
};

/* Built by build_policy (a cmocka group setup), freed by free_policy. */
extern struct seccomp_policy *policy;
int build_policy(void **state);
int free_policy(void **state);

/* In a freshly forked child: no core files from the kills, then the filter;
 * exits CHILD_SETUP_FAILED if either cannot be had. */
void enter_filter(void);
int wait_child(pid_t pid);
void describe_status(const char *what, int status);
void assert_killed_by_sigsys(const char *what, int status);
void assert_exited_zero(const char *what, int status);

#endif
