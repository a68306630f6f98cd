/* The jail's seccomp rules (seccomp_rules.c) compiled by libseccomp into
 * BPF, at build time (seccomp_gen.c) and by the tests. */
#ifndef BRIG_SANDBOX_SECCOMP_COMPILE_H
#define BRIG_SANDBOX_SECCOMP_COMPILE_H

#include <linux/filter.h>
#include <stddef.h>

/* The argument guard then the allow-list, back to back in loading order;
 * the first *first_len instructions are the guard's. The caller frees
 * *instructions. Returns 0, or -1 with a sentence in err. */
int seccomp_compile(struct sock_filter **instructions, size_t *count, size_t *first_len, char *err,
                    size_t errlen);

#endif
