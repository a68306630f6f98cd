/* cgroups for jails: which hierarchy version the host has, what every version
 * does alike (create, enter, empty and remove a jail's groups). Limits and
 * usage are in cgroup1.c and cgroup2.c, behind struct cgroup_ops; the
 * cgroupfs file helpers in cgroup_fs.c.
 *
 * Where brig's parent group lives: in the cgroup the process already belongs
 * to (per hierarchy, from /proc/self/cgroup), not at the hierarchy's root.
 * That is the part of the tree brig was given: a container or service manager
 * may limit it, and jails must stay inside those limits and their accounting
 * instead of escaping to the root; writing at the root may also be refused
 * (cgroup namespaces, delegation). The "brig" group is shared by every brig
 * process in that cgroup and is never removed: another process may be about
 * to create a jail in it. */
#include "sandbox/cgroup.h"
#include "sandbox/cgroup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ROOT "/sys/fs/cgroup"
/* SIGKILL cannot be ignored, but a process in uninterruptible sleep (a hung
 * disk or network file system) dies only when it wakes. */
#define KILL_TIMEOUT_MS 10000
/* Killed processes are usually gone within a few hundred microseconds. */
#define KILL_POLL_FIRST_NS 50000L
#define KILL_POLL_MAX_NS 5000000L
#define KILL_PIN_BATCH 64

int cgroup_backend_detect(const char *root, struct cgroup_backend **out, char *err, size_t errlen)
{
    *out = NULL;
    struct cgroup_backend *backend = calloc(1, sizeof *backend);
    if (!backend)
        return cg_fail(err, errlen, "cannot allocate the cgroup backend: %s", strerror(errno));
    for (int i = 0; i < CG_ROLES; i++) {
        backend->brig[i].fd = -1;
        backend->role_group[i] = -1;
    }
    struct cg_dir top = {.fd = -1};
    int rc = -1;
    if ((size_t)snprintf(top.path, sizeof top.path, "%s", root ? root : DEFAULT_ROOT) >=
        sizeof top.path) {
        cg_fail(err, errlen, "cgroup root %s is too long", root);
        goto out;
    }
    top.fd = open(top.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct statfs fs;
    if (top.fd < 0 || fstatfs(top.fd, &fs) < 0) {
        cg_fail(err, errlen, "cannot open the cgroup root %s: %s", top.path, strerror(errno));
        goto out;
    }
    top.fake = fs.f_type != CGROUP2_SUPER_MAGIC && fs.f_type != CGROUP_SUPER_MAGIC;
    /* A cgroup2 root cannot hold v1 mounts, so v2 without the controllers
     * brig needs is an error, not a reason to look for v1. */
    struct stat st;
    if (fs.f_type == CGROUP2_SUPER_MAGIC ||
        (top.fake && fstatat(top.fd, "cgroup.controllers", &st, AT_SYMLINK_NOFOLLOW) == 0))
        rc = cgroup2_detect(backend, &top, err, errlen);
    else if (fs.f_type == CGROUP_SUPER_MAGIC)
        rc = cg_fail(err, errlen,
                     "%s is a single cgroup v1 hierarchy: give the directory that holds them "
                     "all (such as /sys/fs/cgroup)",
                     top.path);
    else
        rc = cgroup1_detect(backend, &top, err, errlen);
out:
    cg_close(&top);
    if (rc < 0) {
        cgroup_backend_free(backend);
        return -1;
    }
    *out = backend;
    return 0;
}

const char *cgroup_backend_version(const struct cgroup_backend *backend)
{
    return backend->ops->version;
}

void cgroup_backend_free(struct cgroup_backend *backend)
{
    if (!backend)
        return;
    for (int i = 0; i < CG_ROLES; i++)
        cg_close(&backend->brig[i]);
    free(backend);
}

static int check_name(const char *name, char *err, size_t errlen)
{
    if (!name || !*name || strlen(name) > NAME_MAX || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return cg_fail(err, errlen,
                       "jail cgroup name \"%s\" must be one path component of 1 to %d bytes",
                       name ? name : "(null)", NAME_MAX);
    return 0;
}

static int check_limits(const struct cgroup_backend *backend, const struct jail_limits *limits,
                        char *err, size_t errlen)
{
    if (!limits)
        return cg_fail(err, errlen, "jail cgroup limits are missing");
    if (limits->memory_bytes == 0)
        return cg_fail(err, errlen, "limits.memory_bytes is 0: a jail needs a memory limit");
    if (limits->pids == 0)
        return cg_fail(err, errlen, "limits.pids is 0: a jail needs a process limit");
    if (limits->cpu_millis > 0 && limits->cpu_millis < CG_CPU_MILLIS_MIN)
        return cg_fail(err, errlen,
                       "limits.cpu_millis %" PRIu32 " is below %u, the smallest CPU quota the "
                       "kernel accepts (1 ms per 100 ms)",
                       limits->cpu_millis, CG_CPU_MILLIS_MIN);
    if (limits->cpu_millis > 0 && backend->role_group[CG_CPU] < 0)
        return cg_fail(err, errlen,
                       "limits.cpu_millis is %" PRIu32 " but this host's cgroups %s have no "
                       "cpu controller with CFS bandwidth control; set it to 0 or enable the "
                       "controller",
                       limits->cpu_millis, backend->ops->version);
    return 0;
}

int jail_cgroup_create(struct cgroup_backend *backend, const char *name,
                       const struct jail_limits *limits, struct jail_cgroup **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (check_name(name, err, errlen) < 0 || check_limits(backend, limits, err, errlen) < 0)
        return -1;
    struct jail_cgroup *cg = calloc(1, sizeof *cg);
    if (!cg)
        return cg_fail(err, errlen, "cannot allocate jail cgroup %s: %s", name, strerror(errno));
    cg->backend = backend;
    snprintf(cg->name, sizeof cg->name, "%s", name);
    for (int i = 0; i < CG_ROLES; i++)
        cg->dir[i].fd = -1;
    size_t made = 0;
    for (; made < backend->n_groups; made++)
        if (cg_mkdir(&backend->brig[made], name, false, &cg->dir[made], err, errlen) < 0)
            goto fail;
    if (backend->ops->set_limits(cg, limits, err, errlen) < 0)
        goto fail;
    *out = cg;
    return 0;
fail:
    /* The first error is the one worth reporting; a group that cannot be
     * removed now holds no process and only takes a name. */
    for (size_t i = 0; i < made; i++) {
        cg_close(&cg->dir[i]);
        cg_rmdir(&backend->brig[i], name);
    }
    free(cg);
    return -1;
}

int jail_cgroup_attach(struct jail_cgroup *cg, pid_t pid, char *err, size_t errlen)
{
    char text[24];
    snprintf(text, sizeof text, "%d", (int)pid);
    for (size_t i = 0; i < cg->backend->n_groups; i++)
        if (cg_write(&cg->dir[i], "cgroup.procs", text, err, errlen) < 0)
            return -1;
    return 0;
}

int jail_cgroup_usage(struct jail_cgroup *cg, struct cgroup_usage *usage)
{
    memset(usage, 0, sizeof *usage);
    return cg->backend->ops->usage(cg, usage);
}

/* The pids listed in dir/cgroup.procs, in a malloc'd array. */
static int read_members(const struct cg_dir *dir, pid_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    int fd = cg_open_file(dir, "cgroup.procs", O_RDONLY);
    FILE *file = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!file) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    pid_t *pids = NULL;
    size_t n = 0, cap = 0;
    int pid, rc = 0;
    while (fscanf(file, "%d", &pid) == 1) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            pid_t *grown = realloc(pids, cap * sizeof *pids);
            if (!grown) {
                rc = -1;
                break;
            }
            pids = grown;
        }
        pids[n++] = pid;
    }
    if (ferror(file))
        rc = -1;
    int saved = errno;
    fclose(file);
    if (rc < 0) {
        free(pids);
        errno = saved;
        return -1;
    }
    *out = pids;
    *count = n;
    return 0;
}

bool jail_cgroup_empty(struct jail_cgroup *cg)
{
    for (size_t i = 0; i < cg->backend->n_groups; i++) {
        pid_t *pids;
        size_t n;
        if (read_members(&cg->dir[i], &pids, &n) < 0)
            return false;
        free(pids);
        if (n > 0)
            return false;
    }
    return true;
}

static bool pid_listed(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* SIGKILLs pid if cgroup.procs still lists it. pidfd pinned it before the
 * list was read again, or is -errno when pinning failed. */
static int kill_pinned(pid_t pid, int pidfd, const pid_t *members, size_t n_members)
{
    /* Gone when pinned: if the number is listed again, it names a newer
     * process, for the next round. */
    if (pidfd == -ESRCH || !pid_listed(members, n_members, pid))
        return 0;
    int sent = pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0)
                          : kill(pid, SIGKILL);
    return sent < 0 && errno != ESRCH ? -1 : 0;
}

/* One round of SIGKILL for the members of dir; *left = how many it still
 * lists. A pid read from cgroup.procs may exit and be reused by an unrelated
 * process before kill() reaches it, so pids are first pinned with pidfds, the
 * list read again, and only pids still listed are signalled, through their
 * pidfd, which never refers to a newer process. Pinning goes in batches so
 * that a big jail does not use up the worker's descriptors; where it fails
 * (no pidfd before Linux 5.3, EMFILE) plain kill() of the re-read pid leaves
 * the window small. */
static int kill_members(const struct cg_dir *dir, size_t *left, char *err, size_t errlen)
{
    pid_t *listed = NULL, *again = NULL;
    size_t n_listed = 0, n_again = 0;
    int rc = -1;
    if (read_members(dir, &listed, &n_listed) < 0)
        goto read_failed;
    for (size_t start = 0; start < n_listed; start += KILL_PIN_BATCH) {
        size_t n = n_listed - start < KILL_PIN_BATCH ? n_listed - start : KILL_PIN_BATCH;
        int pidfds[KILL_PIN_BATCH];
        for (size_t i = 0; i < n; i++) {
            pidfds[i] = (int)syscall(SYS_pidfd_open, listed[start + i], 0);
            if (pidfds[i] < 0)
                pidfds[i] = -errno;
        }
        free(again);
        int got = read_members(dir, &again, &n_again);
        int sent = 0;
        for (size_t i = 0; i < n && got == 0 && sent == 0; i++) {
            sent = kill_pinned(listed[start + i], pidfds[i], again, n_again);
            if (sent < 0)
                cg_fail(err, errlen, "cannot SIGKILL pid %d of %s: %s", (int)listed[start + i],
                        dir->path, strerror(errno));
        }
        for (size_t i = 0; i < n; i++)
            if (pidfds[i] >= 0)
                close(pidfds[i]);
        if (got < 0)
            goto read_failed;
        if (sent < 0)
            goto out;
    }
    *left = n_again;
    rc = 0;
    goto out;
read_failed:
    cg_fail(err, errlen, "cannot read %s/cgroup.procs: %s", dir->path, strerror(errno));
out:
    free(listed);
    free(again);
    return rc;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int jail_cgroup_kill(struct jail_cgroup *cg, char *err, size_t errlen)
{
    const struct cgroup_ops *ops = cg->backend->ops;
    if (ops->kill_all && ops->kill_all(cg, err, errlen) < 0)
        return -1;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long pause_ns = KILL_POLL_FIRST_NS;
    for (;;) {
        size_t left = 0; /* the most any hierarchy lists: on v1 each lists them all */
        for (size_t i = 0; i < cg->backend->n_groups; i++) {
            size_t n;
            if (kill_members(&cg->dir[i], &n, err, errlen) < 0)
                return -1;
            left = n > left ? n : left;
        }
        if (left == 0)
            return 0;
        if (elapsed_ms(&start) > KILL_TIMEOUT_MS)
            return cg_fail(err, errlen,
                           "%zu processes are still in cgroup %s after %d s of SIGKILL (stuck in "
                           "uninterruptible sleep?)",
                           left, cg->dir[0].path, KILL_TIMEOUT_MS / 1000);
        nanosleep(&(struct timespec){.tv_nsec = pause_ns}, NULL);
        pause_ns = pause_ns * 2 < KILL_POLL_MAX_NS ? pause_ns * 2 : KILL_POLL_MAX_NS;
    }
}

int jail_cgroup_destroy(struct jail_cgroup *cg, char *err, size_t errlen)
{
    if (!cg)
        return 0;
    int rc = jail_cgroup_kill(cg, err, errlen);
    for (size_t i = 0; i < cg->backend->n_groups; i++) {
        cg_close(&cg->dir[i]);
        if (cg_rmdir(&cg->backend->brig[i], cg->name) < 0 && rc == 0)
            rc = cg_fail(err, errlen, "cannot remove cgroup %s/%s: %s", cg->backend->brig[i].path,
                         cg->name, strerror(errno));
    }
    free(cg);
    return rc;
}
