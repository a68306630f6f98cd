/* Resource limits: the jail sets both soft and hard limits, so the job can
 * lower them but never raise them. RLIMIT_CORE in particular must be 0 hard:
 * a core dump goes through the host's core_pattern, which may hand it to a
 * host program running as root. */
#include <stdio.h>
#include <sys/resource.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

static const struct {
    int resource;
    const char *name;
} limits[] = {
    {RLIMIT_CORE, "RLIMIT_CORE"},       {RLIMIT_FSIZE, "RLIMIT_FSIZE"},
    {RLIMIT_NOFILE, "RLIMIT_NOFILE"},   {RLIMIT_STACK, "RLIMIT_STACK"},
    {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"},
};

int main(void)
{
    struct rlimit core;
    if (getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_max != 0)
        attack_escaped("RLIMIT_CORE allows core dumps of up to %llu bytes",
                       (unsigned long long)core.rlim_max);

    for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
        struct rlimit current;
        if (getrlimit(limits[i].resource, &current) != 0) {
            attack_must_fail(-1, "getrlimit %s", limits[i].name);
            continue;
        }
        if (current.rlim_max == RLIM_INFINITY) {
            attack_note("%s has no hard limit", limits[i].name);
            continue;
        }
        const struct rlimit raised = {current.rlim_max + 1, current.rlim_max + 1};
        attack_must_fail(setrlimit(limits[i].resource, &raised), "raise %s above %llu",
                         limits[i].name, (unsigned long long)current.rlim_max);
    }
    return attack_finish();
}
