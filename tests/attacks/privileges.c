/* Privileges: the job runs as uid 1000 in its own user namespace, mapped to
 * one unprivileged host uid (never root, never a range), with every
 * capability gone (bounding and ambient sets too), no_new_privs and a
 * seccomp filter. It tries to become root in every way a process can ask,
 * to give a file to root, and to rewrite its own uid map. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

enum { JOB_UID = 1000 };

static void check_ids(void)
{
    uid_t ruid, euid, suid;
    getresuid(&ruid, &euid, &suid);
    if (ruid == JOB_UID && euid == JOB_UID && suid == JOB_UID)
        attack_contained("running as uid %d", JOB_UID);
    else
        attack_escaped("running as uids %d/%d/%d", (int)ruid, (int)euid, (int)suid);
}

/* Each line of a map is "inside outside count": one line, 1000 -> a host id
 * that is not root, for one id. */
static void check_map(const char *path)
{
    char map[256];
    if (attack_read_file(path, map, sizeof(map)) < 0) {
        attack_must_fail(-1, "read %s", path);
        return;
    }
    unsigned long inside, outside, count;
    int lines = 0;
    for (char *line = strtok(map, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) != 3)
            lines = 100;
    }
    if (lines == 1 && inside == JOB_UID && outside != 0 && count == 1)
        attack_contained("%s maps %lu to host id %lu only", path, inside, outside);
    else
        attack_escaped("%s is not a single unprivileged id: %s", path, map);
    attack_write_must_fail(path, "0 0 1");
}

static void check_capabilities(void)
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &header, data) != 0) {
        attack_must_fail(-1, "capget");
        return;
    }
    bool any = false;
    for (int i = 0; i < 2; i++)
        any = any || data[i].effective || data[i].permitted || data[i].inheritable;
    if (any)
        attack_escaped("capget shows capabilities");
    else
        attack_contained("capget shows no capability");

    char status[8192];
    if (attack_read_file("/proc/self/status", status, sizeof(status)) < 0) {
        attack_must_fail(-1, "read /proc/self/status");
        return;
    }
    const char *expected[] = {"CapInh:\t0000000000000000",
                              "CapPrm:\t0000000000000000",
                              "CapEff:\t0000000000000000",
                              "CapBnd:\t0000000000000000",
                              "CapAmb:\t0000000000000000",
                              "NoNewPrivs:\t1",
                              "Seccomp:\t2"};
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        if (strstr(status, expected[i]))
            attack_contained("/proc/self/status has %.*s %s", (int)strcspn(expected[i], "\t"),
                             expected[i], strchr(expected[i], '\t') + 1);
        else
            attack_escaped("/proc/self/status lacks \"%s\"", expected[i]);
    }
}

int main(void)
{
    check_ids();
    check_map("/proc/self/uid_map");
    check_map("/proc/self/gid_map");
    check_capabilities();

    attack_must_fail(setuid(0), "setuid(0)");
    attack_must_fail(setresuid(0, 0, 0), "setresuid(0, 0, 0)");
    attack_must_fail(setgid(0), "setgid(0)");
    attack_must_fail(setgroups(0, NULL), "setgroups([])");
    attack_must_fail(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0),
                     "raise CAP_SYS_ADMIN into the ambient set");

    int fd = open("/work/brig-owned", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        attack_must_fail(fd, "create /work/brig-owned");
    } else {
        attack_must_fail(fchown(fd, 0, 0), "give /work/brig-owned to root");
        attack_must_fail(fchown(fd, 65534, 65534), "give /work/brig-owned to an unmapped id");
        close(fd);
    }
    check_ids();
    return attack_finish();
}
