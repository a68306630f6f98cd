/* The jail's seccomp rules compiled by libseccomp into BPF: what
 * seccomp_gen.c writes into the build tree for seccomp_policy.c to load, and
 * what the tests compare that with. */
#include "sandbox/seccomp_compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/seccomp_rules.h"

struct program {
    struct sock_filter *instructions;
    size_t count;
};

/* Exports ctx as BPF into a memfd and appends its instructions to
 * program->instructions. libseccomp 2.5 can only export to a descriptor. */
static int append_program(struct program *program, scmp_filter_ctx ctx, const char *filter,
                          char *err, size_t errlen)
{
    int result = -1;
    int fd = memfd_create("brig-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "seccomp: creating a memfd for the %s: %s", filter, strerror(errno));
        return -1;
    }
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc != 0) {
        snprintf(err, errlen, "seccomp: exporting the %s as BPF: %s", filter, strerror(-rc));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "seccomp: measuring the exported %s: %s", filter, strerror(errno));
        goto out;
    }
    size_t size = (size_t)st.st_size;
    size_t count = size / sizeof(struct sock_filter);
    if (size == 0 || size % sizeof(struct sock_filter) != 0 || count > BPF_MAXINSNS) {
        snprintf(err, errlen, "seccomp: the exported %s is %zu bytes, not a BPF program", filter,
                 size);
        goto out;
    }
    struct sock_filter *grown =
        realloc(program->instructions, (program->count + count) * sizeof(*grown));
    if (grown == NULL) {
        snprintf(err, errlen, "seccomp: allocating the %s: %s", filter, strerror(errno));
        goto out;
    }
    program->instructions = grown;
    char *dest = (char *)(grown + program->count);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, dest + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "seccomp: reading back the %s: %s", filter,
                     n < 0 ? strerror(errno) : "unexpected end of file");
            goto out;
        }
        done += (size_t)n;
    }
    program->count += count;
    result = 0;

out:
    close(fd);
    return result;
}

int seccomp_compile(struct sock_filter **instructions, size_t *count, size_t *first_len, char *err,
                    size_t errlen)
{
    static const char *const names[] = {"argument guard filter", "allow-list filter"};
    scmp_filter_ctx (*const make_filter[])(char *, size_t) = {seccomp_rules_argument_guard,
                                                              seccomp_rules_allowlist};
    struct program program = {0};
    *instructions = NULL;
    for (size_t i = 0; i < 2; i++) {
        scmp_filter_ctx ctx = make_filter[i](err, errlen);
        if (ctx == NULL)
            goto fail;
        if (i == 1)
            *first_len = program.count;
        int rc = append_program(&program, ctx, names[i], err, errlen);
        seccomp_release(ctx);
        if (rc != 0)
            goto fail;
    }
    *instructions = program.instructions;
    *count = program.count;
    return 0;

fail:
    free(program.instructions);
    return -1;
}
