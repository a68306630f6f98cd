/* Cgroup escape: a job that can move itself into a parent cgroup, or raise
 * its own cgroup's limits, has no limits. For each hierarchy this process is
 * in (per /proc/self/cgroup) it writes its pid into the hierarchy's root and
 * its cgroup's parent, and "no limit" into its own limit files; every write
 * must fail (most likely because /sys/fs/cgroup is not there at all). Its
 * cgroup namespace must also hide where it sits: every path shows as "/". */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

/* The directory where a hierarchy would be mounted: "memory" for
 * "memory,..." and "systemd" for "name=systemd"; the v2 one may be at
 * /sys/fs/cgroup itself or at /sys/fs/cgroup/unified on a hybrid host. */
static void try_hierarchy(const char *controllers, const char *path)
{
    char mount_dir[PATH_MAX];
    if (controllers[0] == '\0') {
        snprintf(mount_dir, sizeof(mount_dir), "/sys/fs/cgroup/unified");
        if (access(mount_dir, F_OK) != 0)
            snprintf(mount_dir, sizeof(mount_dir), "/sys/fs/cgroup");
    } else {
        const char *name = strncmp(controllers, "name=", 5) == 0 ? controllers + 5 : controllers;
        snprintf(mount_dir, sizeof(mount_dir), "/sys/fs/cgroup/%.*s", (int)strcspn(name, ","),
                 name);
    }
    char pid[32], file[PATH_MAX + 64];
    snprintf(pid, sizeof(pid), "%d", getpid());

    snprintf(file, sizeof(file), "%s/cgroup.procs", mount_dir);
    attack_write_must_fail(file, pid);
    if (path[0] != '\0') {
        snprintf(file, sizeof(file), "%s%s/../cgroup.procs", mount_dir, path);
        attack_write_must_fail(file, pid);
    }

    const char *limits[][2] = {
        {"memory.limit_in_bytes", "-1"}, {"memory.memsw.limit_in_bytes", "-1"},
        {"memory.max", "max"},           {"pids.max", "max"},
        {"cpu.cfs_quota_us", "-1"},      {"cpu.max", "max"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
        snprintf(file, sizeof(file), "%s%s/%s", mount_dir, path, limits[i][0]);
        if (access(file, F_OK) == 0)
            attack_write_must_fail(file, limits[i][1]);
    }
}

int main(void)
{
    char cgroups[8192];
    if (attack_read_file("/proc/self/cgroup", cgroups, sizeof(cgroups)) < 0) {
        perror("reading /proc/self/cgroup");
        return 2;
    }
    /* Lines are "id:controllers:path". */
    for (char *line = strtok(cgroups, "\n"); line; line = strtok(NULL, "\n")) {
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        controllers++;
        const char *hierarchy = controllers[0] ? controllers : "the v2 hierarchy";
        if (strcmp(path, "/") == 0)
            attack_contained("cgroup namespace shows %s at /", hierarchy);
        else
            attack_escaped("cgroup namespace shows %s at %s", hierarchy, path);
        try_hierarchy(controllers, strcmp(path, "/") == 0 ? "" : path);
    }
    return attack_finish();
}
