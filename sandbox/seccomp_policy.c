/* The two filters of seccomp_rules.c, compiled into BPF at build time
 * (seccomp_gen.c writes them into seccomp_program.h: libseccomp takes about
 * a millisecond per compile, a fifth of a brig-jail run), installed in a
 * jailed child with nothing but system calls. */
#include "sandbox/seccomp_policy.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/seccomp_program.h" /* generated, in the build tree */
#include "common/common.h"

/* Loading order: the argument guard first, so that installing it never
 * depends on the allow-list admitting seccomp(2). */
enum { FILTER_ARGUMENT_GUARD, FILTER_ALLOWLIST, FILTER_COUNT };

struct seccomp_policy {
    struct sock_fprog filters[FILTER_COUNT];
    /* Both programs back to back, in loading order: what the policy hash covers. */
    struct sock_filter *instructions;
    size_t instruction_count;
};

/* x86_64 numbers end below 512; the x32-only numbers start there. */
#define SYSCALL_NAME_SLOTS 512
#define SYSCALL_NAME_MAX 32

static char syscall_names[SYSCALL_NAME_SLOTS][SYSCALL_NAME_MAX];
static pthread_once_t syscall_names_once = PTHREAD_ONCE_INIT;

/* libseccomp hands out names in malloc'd memory; copying them once into a
 * static table lets lookups return const pointers and never allocate. */
static void resolve_syscall_names(void)
{
    for (int nr = 0; nr < SYSCALL_NAME_SLOTS; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name != NULL && strlen(name) < SYSCALL_NAME_MAX)
            memcpy(syscall_names[nr], name, strlen(name) + 1);
        free(name);
    }
}

const char *seccomp_syscall_name(long nr)
{
    if (nr < 0 || nr >= SYSCALL_NAME_SLOTS)
        return NULL;
    pthread_once(&syscall_names_once, resolve_syscall_names);
    return syscall_names[nr][0] != '\0' ? syscall_names[nr] : NULL;
}

/* Pointers into instructions only once it has stopped moving. */
static void point_at_filters(struct seccomp_policy *policy, const size_t first_instruction[])
{
    for (int i = 0; i < FILTER_COUNT; i++) {
        size_t end = i + 1 < FILTER_COUNT ? first_instruction[i + 1] : policy->instruction_count;
        policy->filters[i].filter = policy->instructions + first_instruction[i];
        policy->filters[i].len = (unsigned short)(end - first_instruction[i]);
    }
}

int seccomp_policy_build(struct seccomp_policy **out, char *err, size_t errlen)
{
    /* Resolved now so that naming a refused call later never allocates. */
    pthread_once(&syscall_names_once, resolve_syscall_names);
    size_t total = ARRAY_SIZE(seccomp_builtin_program);
    struct sock_filter *program = (struct sock_filter *)seccomp_builtin_program;
    const struct sock_fprog filters[FILTER_COUNT] = {
        [FILTER_ARGUMENT_GUARD] = {.len = SECCOMP_BUILTIN_FIRST_LEN, .filter = program},
        [FILTER_ALLOWLIST] = {.len = (unsigned short)(total - SECCOMP_BUILTIN_FIRST_LEN),
                              .filter = program + SECCOMP_BUILTIN_FIRST_LEN},
    };
    return seccomp_policy_from_filters(filters, FILTER_COUNT, out, err, errlen);
}

size_t seccomp_policy_filters(const struct seccomp_policy *policy,
                              const struct sock_fprog **filters)
{
    *filters = policy->filters;
    return FILTER_COUNT;
}

int seccomp_policy_from_filters(const struct sock_fprog *filters, size_t count,
                                struct seccomp_policy **out, char *err, size_t errlen)
{
    size_t first_instruction[FILTER_COUNT], total = 0;
    *out = NULL;
    if (count != FILTER_COUNT) {
        snprintf(err, errlen, "seccomp: %zu filters given, the policy has %d", count, FILTER_COUNT);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (filters[i].len == 0 || filters[i].len > BPF_MAXINSNS) {
            snprintf(err, errlen, "seccomp: filter %zu has %u instructions", i, filters[i].len);
            return -1;
        }
        first_instruction[i] = total;
        total += filters[i].len;
    }
    struct seccomp_policy *policy = calloc(1, sizeof(*policy));
    if (policy == NULL ||
        (policy->instructions = calloc(total, sizeof(struct sock_filter))) == NULL) {
        snprintf(err, errlen, "seccomp: allocating the policy: %s", strerror(errno));
        free(policy);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        memcpy(policy->instructions + first_instruction[i], filters[i].filter,
               filters[i].len * sizeof(struct sock_filter));
    policy->instruction_count = total;
    point_at_filters(policy, first_instruction);
    *out = policy;
    return 0;
}

void seccomp_policy_free(struct seccomp_policy *policy)
{
    if (policy == NULL)
        return;
    free(policy->instructions);
    free(policy);
}

int seccomp_policy_load(const struct seccomp_policy *policy)
{
    for (int i = 0; i < FILTER_COUNT; i++) {
        /* The kernel copies the program; it only wants a mutable pointer. */
        struct sock_fprog program = policy->filters[i];
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
            return -errno;
    }
    return 0;
}

const void *seccomp_policy_program(const struct seccomp_policy *policy, size_t *len)
{
    *len = policy->instruction_count * sizeof(struct sock_filter);
    return policy->instructions;
}
