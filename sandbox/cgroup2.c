/* cgroups v2: one tree for every controller. A group gets a controller's
 * files only when its parent lists the controller in cgroup.subtree_control,
 * and a group that does so may hold no process itself ("no internal
 * processes"; only the root is exempt).
 *
 * Layout, below the process's own group <own> (see cgroup.c):
 *   <own>/brig-worker   this process, moved there so that <own> holds none
 *   <own>/brig          controllers enabled for its children, never a process
 *   <own>/brig/<jail>   one per jail, with the limits
 * The move happens only when <own> does not yet enable the controllers; if
 * other processes share <own>, enabling fails with EBUSY and the message says
 * to run brig in a group of its own (systemd: Delegate=yes). */
#include "sandbox/cgroup_impl.h"
#include "common/common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WORKER_LEAF "brig-worker"

static int set_limits(struct jail_cgroup *cg, const struct jail_limits *limits, char *err,
                      size_t errlen)
{
    const struct cg_dir *dir = &cg->dir[0];
    if (cg_write_u64(dir, "memory.max", limits->memory_bytes, err, errlen) < 0)
        return -1;
    /* Absent when the kernel does not account swap: then nothing can keep
     * the group from swapping, as on v1 without memsw. */
    if (cg_write_if_present(dir, "memory.swap.max", "0", err, errlen) == CG_WRITE_FAILED)
        return -1;
    /* On OOM, kill the whole jail rather than the one process the kernel
     * picks: otherwise a shell or test runner in the jail may outlive its
     * killed child and report a misleading result. Absent before 4.19. */
    if (cg_write_if_present(dir, "memory.oom.group", "1", err, errlen) == CG_WRITE_FAILED)
        return -1;
    if (cg_write_u64(dir, "pids.max", limits->pids, err, errlen) < 0)
        return -1;
    if (limits->cpu_millis == 0)
        return 0;
    char quota[48];
    snprintf(quota, sizeof quota, "%" PRIu64 " %u", cg_cpu_quota_us(limits->cpu_millis),
             CG_CPU_PERIOD_US);
    return cg_write(dir, "cpu.max", quota, err, errlen);
}

static int read_usage(struct jail_cgroup *cg, struct cgroup_usage *usage)
{
    const struct cg_dir *dir = &cg->dir[0];
    uint64_t oom_kills;
    if (cg_read_key(dir, "cpu.stat", "usage_usec", &usage->cpu_us) < 0)
        return -1;
    /* memory.peak arrived in Linux 5.19. */
    if (cg_read_u64(dir, "memory.peak", &usage->peak_memory_bytes) < 0 && errno != ENOENT)
        return -1;
    if (cg_read_key(dir, "memory.events", "oom_kill", &oom_kills) < 0)
        return -1;
    usage->oom_killed = oom_kills > 0;
    return 0;
}

/* cgroup.kill (Linux 5.14) kills every process of the group at once, so no
 * fork can race the killer. */
static int kill_all(struct jail_cgroup *cg, char *err, size_t errlen)
{
    return cg_write_if_present(&cg->dir[0], "cgroup.kill", "1", err, errlen) == CG_WRITE_FAILED ? -1
                                                                                                : 0;
}

static const struct cgroup_ops cgroup2_ops = {
    .version = "v2",
    .set_limits = set_limits,
    .usage = read_usage,
    .kill_all = kill_all,
};

/* Checks that dir's cgroup.controllers offers memory and pids; *has_cpu says
 * whether it offers cpu. */
static int require_controllers(const struct cg_dir *dir, const char *hint, bool *has_cpu, char *err,
                               size_t errlen)
{
    char controllers[512];
    if (cg_read(dir, "cgroup.controllers", controllers, sizeof controllers) < 0)
        return cg_fail(err, errlen, "cannot read %s/cgroup.controllers: %s", dir->path,
                       strerror(errno));
    controllers[strcspn(controllers, "\n")] = '\0';
    static const char *const needed[] = {"memory", "pids"};
    for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
        if (!cg_word_in(controllers, needed[i]))
            return cg_fail(err, errlen,
                           "cgroup2 group %s does not offer the %s controller (its "
                           "cgroup.controllers reads \"%s\"): %s",
                           dir->path, needed[i], controllers, hint);
    *has_cpu = cg_word_in(controllers, "cpu");
    return 0;
}

static int enable_controllers(const struct cg_dir *dir, const char *enable, char *err,
                              size_t errlen)
{
    if (cg_write(dir, "cgroup.subtree_control", enable, err, errlen) == 0)
        return 0;
    if (errno == EBUSY)
        cg_fail(err, errlen,
                "cannot enable \"%s\" in %s/cgroup.subtree_control: other processes are in %s, "
                "and cgroup v2 lets a group that enables controllers hold none; run brig in a "
                "cgroup of its own (e.g. systemd-run -p Delegate=yes)",
                enable, dir->path, dir->path);
    return -1;
}

/* Moves this process into <own>/brig-worker and enables the controllers in
 * <own>, unless <own> enables them already. */
static int enable_in_own_group(const struct cg_dir *own, bool has_cpu, const char *enable,
                               char *err, size_t errlen)
{
    char subtree[512];
    if (cg_read(own, "cgroup.subtree_control", subtree, sizeof subtree) < 0)
        return cg_fail(err, errlen, "cannot read %s/cgroup.subtree_control: %s", own->path,
                       strerror(errno));
    if (cg_word_in(subtree, "memory") && cg_word_in(subtree, "pids") &&
        (!has_cpu || cg_word_in(subtree, "cpu")))
        return 0;
    struct cg_dir leaf;
    if (cg_mkdir(own, WORKER_LEAF, true, &leaf, err, errlen) < 0)
        return -1;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    int rc = cg_write(&leaf, "cgroup.procs", pid, err, errlen);
    cg_close(&leaf);
    if (rc < 0)
        return -1;
    return enable_controllers(own, enable, err, errlen);
}

int cgroup2_detect(struct cgroup_backend *backend, const struct cg_dir *root, char *err,
                   size_t errlen)
{
    bool has_cpu;
    if (require_controllers(root,
                            "the kernel binds it to a v1 hierarchy or it was disabled at boot",
                            &has_cpu, err, errlen) < 0)
        return -1;
    char own_path[PATH_MAX];
    if (cg_own_path(root, "", own_path, sizeof own_path, err, errlen) < 0)
        return -1;
    /* A process that moved itself into the leaf earlier (a second backend in
     * the same process) keeps the group above it as its own. */
    size_t len = strlen(own_path), leaf_len = strlen("/" WORKER_LEAF);
    if (len >= leaf_len && strcmp(own_path + len - leaf_len, "/" WORKER_LEAF) == 0)
        own_path[len - leaf_len] = '\0';
    struct cg_dir own;
    if (cg_open(root, own_path, false, &own, err, errlen) < 0)
        return -1;
    const char *enable = NULL;
    int rc = require_controllers(&own,
                                 "enable it in the parent's cgroup.subtree_control, or run brig "
                                 "as a systemd unit with Delegate=yes",
                                 &has_cpu, err, errlen);
    if (rc == 0) {
        enable = has_cpu ? "+memory +pids +cpu" : "+memory +pids";
        rc = enable_in_own_group(&own, has_cpu, enable, err, errlen);
    }
    if (rc == 0)
        rc = cg_mkdir(&own, "brig", true, &backend->brig[0], err, errlen);
    cg_close(&own);
    if (rc < 0 || enable_controllers(&backend->brig[0], enable, err, errlen) < 0)
        return -1;
    backend->n_groups = 1;
    backend->role_group[CG_MEMORY] = backend->role_group[CG_PIDS] = 0;
    /* cpu.stat's usage_usec is kept without the cpu controller too. */
    backend->role_group[CG_CPUACCT] = 0;
    backend->role_group[CG_CPU] = has_cpu ? 0 : -1;
    backend->ops = &cgroup2_ops;
    return 0;
}
