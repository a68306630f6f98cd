/* The rules of the jail's seccomp policy, as two libseccomp filters that the
 * kernel stacks: the syscall allow-list, and a guard that kills dangerous
 * argument values of calls the allow-list admits unconditionally.
 * seccomp_policy.c compiles both into BPF. */
#ifndef BRIG_SANDBOX_SECCOMP_RULES_H
#define BRIG_SANDBOX_SECCOMP_RULES_H

#include <stddef.h>

#include <seccomp.h>

/* Each returns a new filter context, or NULL with a sentence in err. */
scmp_filter_ctx seccomp_rules_allowlist(char *err, size_t errlen);
scmp_filter_ctx seccomp_rules_argument_guard(char *err, size_t errlen);

#endif
