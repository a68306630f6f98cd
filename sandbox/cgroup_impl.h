/* Shared by cgroup.c, cgroup1.c, cgroup2.c and cgroup_reclaim.c: the
 * backend's layout, the ops a hierarchy version provides, and the cgroupfs
 * file helpers (cgroup_fs.c).
 *
 * Every helper works relative to an open directory (openat & co.) and opens
 * with O_NOFOLLOW | O_CLOEXEC. A "fake" directory is one that statfs says is
 * not on cgroupfs: a plain directory standing in for it in tests. The kernel
 * fills a new cgroup with control files, so there cg_mkdir does the same by
 * copying the names of the parent's regular files, and cg_rmdir deletes them
 * before removing the directory. */
#ifndef BRIG_SANDBOX_CGROUP_IMPL_H
#define BRIG_SANDBOX_CGROUP_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"

/* What brig needs from cgroups. On v1 each role is a hierarchy of its own,
 * though several may share one (cpu,cpuacct); on v2 all share the one tree. */
enum cg_role { CG_MEMORY, CG_PIDS, CG_CPUACCT, CG_CPU, CG_ROLES };

struct cg_dir {
    int fd;              /* O_DIRECTORY, or -1 */
    bool fake;           /* a plain directory standing in for cgroupfs */
    char path[PATH_MAX]; /* for messages */
};

struct cgroup_ops {
    const char *version;
    int (*set_limits)(struct jail_cgroup *cg, const struct jail_limits *limits, char *err,
                      size_t errlen);
    int (*usage)(struct jail_cgroup *cg, struct cgroup_usage *usage);
    /* Kills the whole cgroup in one step where the kernel can (the caller
     * then SIGKILLs member by member whatever is left). 0, or -1 with a
     * message. NULL = never possible. */
    int (*kill_all)(struct jail_cgroup *cg, char *err, size_t errlen);
};

struct cgroup_backend {
    const struct cgroup_ops *ops;
    size_t n_groups;
    struct cg_dir brig[CG_ROLES]; /* brig's parent group, one per distinct hierarchy */
    int role_group[CG_ROLES];     /* index into brig[] serving each role; -1 = unavailable */
};

struct jail_cgroup {
    struct cgroup_backend *backend;
    char name[NAME_MAX + 1];
    struct cg_dir dir[CG_ROLES]; /* brig/<name>, parallel to backend->brig[] */
};

/* CPU quotas are given per 100 ms period; the kernel's smallest quota is 1 ms. */
#define CG_CPU_PERIOD_US 100000u
#define CG_CPU_MILLIS_MIN 10u

static inline uint64_t cg_cpu_quota_us(uint32_t cpu_millis)
{
    return (uint64_t)cpu_millis * CG_CPU_PERIOD_US / 1000;
}

/* Fill backend (ops, groups, roles) for the hierarchy found under root. */
int cgroup1_detect(struct cgroup_backend *backend, const struct cg_dir *root, char *err,
                   size_t errlen);
int cgroup2_detect(struct cgroup_backend *backend, const struct cg_dir *root, char *err,
                   size_t errlen);

static inline const struct cg_dir *cg_role_dir(const struct jail_cgroup *cg, enum cg_role role)
{
    return &cg->dir[cg->backend->role_group[role]];
}

/* Formats a message into err and returns -1; errno is left as it was, so a
 * caller may still look at it. */
int cg_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Opens rel (relative, possibly several components; "" = dir itself) below dir
 * and tells by statfs whether it is fake.
 * follow_last: allow a symlink as the last component (only for mount points
 * such as /sys/fs/cgroup/cpu -> cpu,cpuacct, never inside cgroupfs). */
int cg_open(const struct cg_dir *dir, const char *rel, bool follow_last, struct cg_dir *out,
            char *err, size_t errlen);
void cg_close(struct cg_dir *dir);

/* mkdir parent/name and open it; exist_ok allows an existing directory. */
int cg_mkdir(const struct cg_dir *parent, const char *name, bool exist_ok, struct cg_dir *out,
             char *err, size_t errlen);

/* Removes parent/name. Returns 0 or -1 with errno. */
int cg_rmdir(const struct cg_dir *parent, const char *name);

/* The process's own cgroup in the hierarchy mounted at mount, relative to it:
 * the line of /proc/self/cgroup whose controller list names controller ("" =
 * the v2 line). A fake mount holds no process, so it is the mount itself (""). */
int cg_own_path(const struct cg_dir *mount, const char *controller, char *rel, size_t relsize,
                char *err, size_t errlen);

/* Opens dir/file with flags, never through a symbolic link. */
int cg_open_file(const struct cg_dir *dir, const char *file, int flags);

/* Writes value to dir/file (which must exist). Returns 0, or -1 with a message. */
int cg_write(const struct cg_dir *dir, const char *file, const char *value, char *err,
             size_t errlen);
int cg_write_u64(const struct cg_dir *dir, const char *file, uint64_t value, char *err,
                 size_t errlen);
enum cg_write_result { CG_WRITE_FAILED = -1, CG_FILE_ABSENT, CG_WRITTEN };
/* For control files some kernels lack; CG_WRITE_FAILED with a message. */
enum cg_write_result cg_write_if_present(const struct cg_dir *dir, const char *file,
                                         const char *value, char *err, size_t errlen);

/* Reads dir/file into buf, NUL-terminated. Returns 0 or -1 with errno
 * (EFBIG when it does not fit). */
int cg_read(const struct cg_dir *dir, const char *file, char *buf, size_t len);
int cg_read_u64(const struct cg_dir *dir, const char *file, uint64_t *value);
/* The value of the "key N" line of a flat-keyed file (cpu.stat, memory.events,
 * memory.oom_control). -1 with errno ENODATA when the key is absent. */
int cg_read_key(const struct cg_dir *dir, const char *file, const char *key, uint64_t *value);

/* True when word is one of the blank-separated words of list. */
bool cg_word_in(const char *list, const char *word);

#endif
