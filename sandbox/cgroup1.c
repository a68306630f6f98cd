/* cgroups v1: a hierarchy per controller, mounted under the root as memory/,
 * pids/, cpuacct/ and cpu/. cpu and cpuacct are often mounted together as
 * cpu,cpuacct with cpu and cpuacct symlinks to it; such roles share one
 * hierarchy, and so one group per jail. */
#include "sandbox/cgroup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const role_controller[CG_ROLES] = {
    [CG_MEMORY] = "memory",
    [CG_PIDS] = "pids",
    [CG_CPUACCT] = "cpuacct",
    [CG_CPU] = "cpu",
};

/* A file every mounted hierarchy has at its root: a directory where nothing
 * is mounted lacks cgroup.procs, a cpu hierarchy without CFS bandwidth
 * control lacks cpu.cfs_quota_us. */
static const char *const role_control_file[CG_ROLES] = {
    [CG_MEMORY] = "cgroup.procs",
    [CG_PIDS] = "cgroup.procs",
    [CG_CPUACCT] = "cgroup.procs",
    [CG_CPU] = "cpu.cfs_quota_us",
};

static int set_limits(struct jail_cgroup *cg, const struct jail_limits *limits, char *err,
                      size_t errlen)
{
    const struct cg_dir *memory = cg_role_dir(cg, CG_MEMORY);
    if (cg_write_u64(memory, "memory.limit_in_bytes", limits->memory_bytes, err, errlen) < 0)
        return -1;
    /* memsw bounds memory plus swap: at the memory limit, no swap. It must
     * follow memory.limit_in_bytes, which may never exceed it. Without swap
     * accounting (swapaccount=0) it is absent; swappiness 0 then keeps the
     * group's anonymous memory out of swap as far as the kernel can. */
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, limits->memory_bytes);
    enum cg_write_result memsw =
        cg_write_if_present(memory, "memory.memsw.limit_in_bytes", text, err, errlen);
    if (memsw == CG_WRITE_FAILED ||
        (memsw == CG_FILE_ABSENT &&
         cg_write_if_present(memory, "memory.swappiness", "0", err, errlen) == CG_WRITE_FAILED))
        return -1;
    if (cg_write_u64(cg_role_dir(cg, CG_PIDS), "pids.max", limits->pids, err, errlen) < 0)
        return -1;
    if (limits->cpu_millis == 0)
        return 0;
    const struct cg_dir *cpu = cg_role_dir(cg, CG_CPU);
    if (cg_write_u64(cpu, "cpu.cfs_period_us", CG_CPU_PERIOD_US, err, errlen) < 0 ||
        cg_write_u64(cpu, "cpu.cfs_quota_us", cg_cpu_quota_us(limits->cpu_millis), err, errlen) < 0)
        return -1;
    return 0;
}

static int read_usage(struct jail_cgroup *cg, struct cgroup_usage *usage)
{
    uint64_t cpu_ns, oom_kills, under_oom, failures;
    if (cg_read_u64(cg_role_dir(cg, CG_CPUACCT), "cpuacct.usage", &cpu_ns) < 0)
        return -1;
    usage->cpu_us = cpu_ns / 1000;
    const struct cg_dir *memory = cg_role_dir(cg, CG_MEMORY);
    if (cg_read_u64(memory, "memory.max_usage_in_bytes", &usage->peak_memory_bytes) < 0)
        return -1;
    if (cg_read_key(memory, "memory.oom_control", "oom_kill", &oom_kills) == 0) {
        usage->oom_killed = oom_kills > 0;
        return 0;
    }
    if (errno != ENODATA)
        return -1;
    /* Before Linux 4.13 OOM kills are not counted. under_oom says the group is
     * in OOM now; failcnt that a charge hit the limit, which for a job that
     * does not fit ends with the OOM killer, but which reclaimable page cache
     * alone can also cause: the fallback may report OOM for a job that only
     * came close. */
    if (cg_read_key(memory, "memory.oom_control", "under_oom", &under_oom) < 0 ||
        cg_read_u64(memory, "memory.failcnt", &failures) < 0)
        return -1;
    usage->oom_killed = under_oom > 0 || failures > 0;
    return 0;
}

static const struct cgroup_ops cgroup1_ops = {
    .version = "v1",
    .set_limits = set_limits,
    .usage = read_usage,
};

enum hierarchy { HIERARCHY_ERROR = -1, HIERARCHY_ABSENT, HIERARCHY_MOUNTED };

/* Opens root/<controller>, the hierarchy's mount point. HIERARCHY_ABSENT
 * when it is not there, or is a directory where nothing is mounted. */
static enum hierarchy open_hierarchy(const struct cg_dir *root, enum cg_role role,
                                     struct cg_dir *mount, char *err, size_t errlen)
{
    const char *controller = role_controller[role];
    struct stat st;
    /* The mount point may be a symlink (cpu -> cpu,cpuacct), made by the
     * host's init in the directory above cgroupfs, so it is followed. */
    if (fstatat(root->fd, controller, &st, 0) < 0 && errno == ENOENT)
        return HIERARCHY_ABSENT;
    if (cg_open(root, controller, true, mount, err, errlen) < 0)
        return HIERARCHY_ERROR;
    if (fstatat(mount->fd, role_control_file[role], &st, AT_SYMLINK_NOFOLLOW) == 0)
        return HIERARCHY_MOUNTED;
    enum hierarchy found = HIERARCHY_ABSENT;
    if (errno != ENOENT) {
        cg_fail(err, errlen, "cannot stat %s/%s: %s", mount->path, role_control_file[role],
                strerror(errno));
        found = HIERARCHY_ERROR;
    }
    cg_close(mount);
    return found;
}

/* brig's parent group in the hierarchy mounted at mount, below the process's
 * own group there (see cgroup.c). */
static int make_brig_group(const struct cg_dir *mount, const char *controller, struct cg_dir *brig,
                           char *err, size_t errlen)
{
    char own_path[PATH_MAX];
    struct cg_dir own;
    if (cg_own_path(mount, controller, own_path, sizeof own_path, err, errlen) < 0 ||
        cg_open(mount, own_path, false, &own, err, errlen) < 0)
        return -1;
    int rc = cg_mkdir(&own, "brig", true, brig, err, errlen);
    cg_close(&own);
    return rc;
}

int cgroup1_detect(struct cgroup_backend *backend, const struct cg_dir *root, char *err,
                   size_t errlen)
{
    struct stat seen[CG_ROLES];
    for (int role = 0; role < CG_ROLES; role++) {
        const char *controller = role_controller[role];
        struct cg_dir mount;
        enum hierarchy found = open_hierarchy(root, role, &mount, err, errlen);
        if (found == HIERARCHY_ERROR)
            return -1;
        /* The cpu controller only serves CPU quotas: without it a jail
         * asking for one is refused when it is created. */
        if (found == HIERARCHY_ABSENT && role == CG_CPU)
            continue;
        if (found == HIERARCHY_ABSENT)
            return cg_fail(err, errlen,
                           "no cgroup v1 %s hierarchy at %s/%s, and %s is not a cgroup2 mount: "
                           "mount the controller there (mount -t cgroup -o %s %s %s/%s) or run "
                           "brig on a cgroup v2 host that offers memory and pids",
                           controller, root->path, controller, root->path, controller, controller,
                           root->path, controller);
        if (fstat(mount.fd, &seen[role]) < 0) {
            cg_fail(err, errlen, "cannot stat %s: %s", mount.path, strerror(errno));
            cg_close(&mount);
            return -1;
        }
        for (int other = 0; other < role; other++)
            if (backend->role_group[other] >= 0 && seen[other].st_dev == seen[role].st_dev &&
                seen[other].st_ino == seen[role].st_ino)
                backend->role_group[role] = backend->role_group[other];
        if (backend->role_group[role] < 0) {
            if (make_brig_group(&mount, controller, &backend->brig[backend->n_groups], err,
                                errlen) < 0) {
                cg_close(&mount);
                return -1;
            }
            backend->role_group[role] = (int)backend->n_groups++;
        }
        cg_close(&mount);
    }
    backend->ops = &cgroup1_ops;
    return 0;
}
