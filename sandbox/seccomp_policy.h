/* The jail's seccomp policy, compiled once per process with libseccomp into a
 * BPF program that every jail then loads with one system call. */
#ifndef BRIG_SANDBOX_SECCOMP_POLICY_H
#define BRIG_SANDBOX_SECCOMP_POLICY_H

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

/* The name of native syscall nr, or NULL. */
const char *seccomp_syscall_name(long nr);

#endif
