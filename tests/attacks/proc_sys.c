/* Kernel knobs: the classic ways out of a container write to /proc/sys
 * (core_pattern and modprobe name programs the kernel runs as root on the
 * host), /sys (uevent_helper, likewise), binfmt_misc or /proc/sysrq-trigger.
 * Each must refuse to open for writing. Nothing is written when one does
 * open: that alone is the escape. Lowering our own OOM score (which would
 * make the OOM killer pick host processes first) must fail too. */
#include <fcntl.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

static const char *const knobs[] = {
    "/proc/sysrq-trigger",
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/domainname",
    "/proc/sys/kernel/sysrq",
    "/proc/sys/kernel/panic",
    "/proc/sys/vm/drop_caches",
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/fs/binfmt_misc/register",
    "/proc/sys/user/max_user_namespaces",
    "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/power/state",
    "/sys/class/net/lo/mtu",
};

int main(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(knobs); i++)
        attack_open_must_fail(knobs[i], O_WRONLY);

    attack_write_must_fail("/proc/self/oom_score_adj", "-1000");
    return attack_finish();
}
