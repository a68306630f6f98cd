/* The jail's seccomp policy: a BPF program compiled with libseccomp at build
 * time (seccomp_compile.h), which every jail loads with one system call. */
#ifndef BRIG_SANDBOX_SECCOMP_POLICY_H
#define BRIG_SANDBOX_SECCOMP_POLICY_H

#include <linux/filter.h>
#include <stddef.h>

struct seccomp_policy;

int seccomp_policy_build(struct seccomp_policy **out, char *err, size_t errlen);
void seccomp_policy_free(struct seccomp_policy *policy);

/* Installs the filter on the calling thread. Async-signal-safe (no allocation):
 * it is called in the jailed child right before execve, after no_new_privs.
 * Returns 0 or -errno. */
int seccomp_policy_load(const struct seccomp_policy *policy);

/* The compiled program, for hashing the policy into the audit record. */
const void *seccomp_policy_program(const struct seccomp_policy *policy, size_t *len);

/* The filters in loading order, for a process that loads them for us (a
 * warm interpreter); seccomp_policy_from_filters makes the same policy there. */
size_t seccomp_policy_filters(const struct seccomp_policy *policy,
                              const struct sock_fprog **filters);
int seccomp_policy_from_filters(const struct sock_fprog *filters, size_t count,
                                struct seccomp_policy **out, char *err, size_t errlen);

/* The name of native syscall nr, or NULL. */
const char *seccomp_syscall_name(long nr);

#endif
