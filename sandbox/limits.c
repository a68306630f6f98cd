/* Default limits, their validation, and the rlimits a job runs under. */
#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

#include "sandbox/jail_host.h"
#include "common/common.h"

#define MIB (1024ull * 1024)

void jail_limits_default(struct jail_limits *limits)
{
    *limits = (struct jail_limits){
        .wall_ms = 10000,
        .cpu_ms = 5000,
        .memory_bytes = 256 * MIB,
        .pids = 64,
        .output_bytes = 1 * MIB,
        .fsize_bytes = 64 * MIB,
        .nofile = 256,
        .stack_bytes = 8 * MIB,
        .tmp_bytes = 64 * MIB,
        .disk_bytes = 64 * MIB,
        .cpu_millis = 1000,
    };
}

int limits_check(const struct jail_limits *limits, char *err, size_t errlen)
{
    /* cpu_millis is the one limit where 0 means "none". */
    const struct {
        const char *name;
        uint64_t value;
    } fields[] = {
        {"wall_ms", limits->wall_ms},
        {"cpu_ms", limits->cpu_ms},
        {"memory_bytes", limits->memory_bytes},
        {"pids", limits->pids},
        {"output_bytes", limits->output_bytes},
        {"fsize_bytes", limits->fsize_bytes},
        {"nofile", limits->nofile},
        {"stack_bytes", limits->stack_bytes},
        {"tmp_bytes", limits->tmp_bytes},
        {"disk_bytes", limits->disk_bytes},
    };
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (fields[i].value == 0) {
            snprintf(err, errlen, "limits.%s is 0; every limit but cpu_millis must be set",
                     fields[i].name);
            return -1;
        }
    }
    /* Bounds that keep later arithmetic (ns, µs, pids + 1) from overflowing. */
    if (limits->wall_ms > UINT64_MAX / 1000000 || limits->cpu_ms > UINT64_MAX / 1000000) {
        snprintf(err, errlen, "limits.%s is too large",
                 limits->wall_ms > UINT64_MAX / 1000000 ? "wall_ms" : "cpu_ms");
        return -1;
    }
    if (limits->pids >= UINT32_MAX) {
        snprintf(err, errlen, "limits.pids is too large");
        return -1;
    }
    return 0;
}

void limits_to_rlimits(const struct jail_limits *limits, struct jail_rlimit out[JAIL_RLIMITS])
{
    /* RLIMIT_CPU is per process and only a backstop for the supervisor, which
     * watches the whole tree: a second past the limit, rounded up. */
    rlim_t cpu_seconds = (rlim_t)((limits->cpu_ms + 999) / 1000 + 1);
    out[0] = (struct jail_rlimit){RLIMIT_CPU, {cpu_seconds, cpu_seconds}, "set RLIMIT_CPU"};
    out[1] = (struct jail_rlimit){
        RLIMIT_FSIZE, {limits->fsize_bytes, limits->fsize_bytes}, "set RLIMIT_FSIZE"};
    out[2] =
        (struct jail_rlimit){RLIMIT_NOFILE, {limits->nofile, limits->nofile}, "set RLIMIT_NOFILE"};
    out[3] = (struct jail_rlimit){RLIMIT_CORE, {0, 0}, "set RLIMIT_CORE"};
    out[4] = (struct jail_rlimit){
        RLIMIT_STACK, {limits->stack_bytes, limits->stack_bytes}, "set RLIMIT_STACK"};
}

int limits_apply_rlimits(const struct jail_rlimit rlimits[JAIL_RLIMITS], struct jail_fail *fail)
{
    for (int i = 0; i < JAIL_RLIMITS; i++) {
        /* Raising a hard limit takes CAP_SYS_RESOURCE on the host, which a
         * jail never has: a limit above the worker's own is held at it. */
        struct rlimit value = rlimits[i].value, inherited;
        if (getrlimit(rlimits[i].resource, &inherited) != 0)
            return fail_at(fail, rlimits[i].label, errno);
        if (inherited.rlim_max != RLIM_INFINITY && value.rlim_max > inherited.rlim_max)
            value.rlim_max = inherited.rlim_max;
        if (value.rlim_cur > value.rlim_max)
            value.rlim_cur = value.rlim_max;
        if (setrlimit(rlimits[i].resource, &value) != 0)
            return fail_at(fail, rlimits[i].label, errno);
    }
    return 0;
}
