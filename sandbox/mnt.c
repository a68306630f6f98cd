/* The filesystem a jail sees.
 *
 * A fresh tmpfs becomes the root; the host's /usr (and /lib*, /bin, /sbin,
 * recreated as the symlinks into /usr they are on Debian) comes in read-only,
 * /etc is a handful of generated files and read-only binds of what runtimes
 * read (never a secret), /dev holds five device nodes, /proc is the jail's own
 * with its host-wide knobs read-only or masked, /tmp and /dev/shm are
 * size-limited tmpfs, /work is the workspace. Then pivot_root, the host's tree
 * is detached, and the root itself turns read-only. Every mount is nosuid, and
 * nodev except the device binds.
 *
 * Decisions: no /etc/resolv.conf (there is no network to resolve on, and an
 * empty resolver fails fast); /proc with hidepid=invisible, which hides init
 * (non-dumpable, its memory a copy of the worker's) and with it the worker's
 * command line in /proc/1/cmdline, world-readable otherwise;
 * binds are not recursive (what is mounted below a bound host directory
 * stays out); a bind never goes through a symlink at its destination, which
 * may lie in a workspace an earlier jail wrote.
 *
 * Plans are built with malloc in the parent; mnt_enter_new_root() runs in the
 * child and uses nothing but system calls. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"
#include "common/common.h"

#define NOSUID_NODEV (MS_NOSUID | MS_NODEV)
#define READ_ONLY (MS_RDONLY | MS_NOSUID | MS_NODEV)

/* ---- building plans (parent) ---- */

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    return text;
}

int mnt_plan_add(struct mnt_plan *plan, const char *root, enum mnt_kind kind, const char *source,
                 const char *dest, unsigned long flags, bool optional, const char *label)
{
    if (plan->count == plan->capacity) {
        size_t capacity = plan->capacity ? plan->capacity * 2 : 32;
        struct mnt_op *grown = realloc(plan->ops, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        plan->ops = grown;
        plan->capacity = capacity;
    }
    struct mnt_op *op = &plan->ops[plan->count];
    *op = (struct mnt_op){.kind = kind, .flags = flags, .optional = optional};
    op->source = source ? strdup(source) : NULL;
    op->dest = strdup(dest);
    op->target = format("%s%s", root, strcmp(dest, "/") == 0 ? "" : dest);
    op->label = strdup(label);
    plan->count++;
    if ((source && !op->source) || !op->dest || !op->target || !op->label)
        return -1;
    return 0;
}

void mnt_plan_free(struct mnt_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        free(plan->ops[i].source);
        free(plan->ops[i].dest);
        free(plan->ops[i].target);
        free(plan->ops[i].label);
    }
    free(plan->ops);
    memset(plan, 0, sizeof(*plan));
}

/* A host path as the jail gets it: the same symlink, a read-only bind, or
 * nothing when the host has no such path. */
static int plan_host_path(struct mnt_plan *plan, const char *root, const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    char label[PATH_MAX + 16];
    if (S_ISLNK(st.st_mode)) {
        char link[PATH_MAX];
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n < 0)
            return -1;
        link[n] = '\0';
        snprintf(label, sizeof(label), "link %s", path);
        return mnt_plan_add(plan, root, MNT_SYMLINK, link, path, 0, false, label);
    }
    snprintf(label, sizeof(label), "bind %s", path);
    return mnt_plan_add(plan, root, MNT_BIND, path, path, READ_ONLY, true, label);
}

static const char *const host_roots[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"};

/* What of the host's /etc runtimes need: the loader cache, alternatives
 * (python3, java... are links through it), certificates, time zone, fonts
 * (fontconfig refuses to start without its configuration), Debian's
 * matplotlibrc (matplotlib refuses to import without one), and the
 * configuration of the installed language runtimes (R's home links its etc/
 * to /etc/R: Renviron, ldpaths). Nothing with secrets or credentials (shadow,
 * ssl/private, pip.conf, npmrc, gitconfig). */
static const char *const etc_patterns[] = {
    "ld.so.cache", "alternatives", "localtime", "timezone",     "mime.types",
    "protocols",   "services",     "python3*",  "java-*",       "fpc*.cfg",
    "gnucobol",    "perl",         "fonts",     "matplotlibrc", "R",
};
/* Below /etc and elsewhere: fontconfig's system cache saves every job that
 * draws text a scan of the fonts (it is what fc-cache made at install). */
static const char *const host_nested[] = {"/etc/ssl/certs", "/etc/ssl/openssl.cnf",
                                          "/var/cache/fontconfig"};

static int plan_host_etc(struct mnt_plan *plan, const char *root)
{
    /* Sorted, so that the plan and the policy hash do not depend on readdir order. */
    struct dirent **names;
    int n = scandir("/etc", &names, NULL, alphasort);
    if (n < 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        for (size_t p = 0; rc == 0 && p < ARRAY_SIZE(etc_patterns); p++) {
            if (fnmatch(etc_patterns[p], names[i]->d_name, 0) == 0) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "/etc/%s", names[i]->d_name);
                rc = plan_host_path(plan, root, path);
                break;
            }
        }
        free(names[i]);
    }
    free(names);
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(host_nested); i++)
        rc = plan_host_path(plan, root, host_nested[i]);
    return rc;
}

static const char etc_passwd[] = "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                                 "jail:x:1000:1000:jail:/work:/bin/sh\n"
                                 "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char etc_group[] = "root:x:0:\n"
                                "jail:x:1000:\n"
                                "nogroup:x:65534:\n";
static const char etc_hosts[] = "127.0.0.1\tlocalhost " JAIL_HOSTNAME "\n"
                                "::1\tlocalhost ip6-localhost ip6-loopback\n";
static const char etc_nsswitch[] = "passwd: files\ngroup: files\nhosts: files\n";

struct generated_file {
    const char *path;
    const char *contents;
};
static const struct generated_file etc_files[] = {
    {"/etc/passwd", etc_passwd},
    {"/etc/group", etc_group},
    {"/etc/hosts", etc_hosts},
    {"/etc/nsswitch.conf", etc_nsswitch},
    {"/etc/hostname", JAIL_HOSTNAME "\n"},
};

static const char *const device_nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                                           "/dev/urandom"};
static const char *const device_links[][2] = {
    {"/dev/fd", "/proc/self/fd"},
    {"/dev/stdin", "/proc/self/fd/0"},
    {"/dev/stdout", "/proc/self/fd/1"},
    {"/dev/stderr", "/proc/self/fd/2"},
};

/* Host-wide knobs that procfs shows every pid namespace: read-only, or hidden. */
static const char *const proc_read_only[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
                                             "/proc/bus", "/proc/fs"};
static const char *const proc_masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list",
                                          "/proc/sched_debug", "/proc/latency_stats"};

int mnt_plan_base(struct mnt_plan *plan, const char *root, char *err, size_t errlen)
{
    char label[PATH_MAX + 16];
    int rc = 0;
    memset(plan, 0, sizeof(*plan));

    rc |= mnt_plan_add(plan, root, MNT_TMPFS, "mode=0755,size=1m,nr_inodes=4096", "/", NOSUID_NODEV,
                       false, "mount the root tmpfs");
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(host_roots); i++)
        rc = plan_host_path(plan, root, host_roots[i]);

    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(etc_files); i++) {
        snprintf(label, sizeof(label), "write %s", etc_files[i].path);
        rc = mnt_plan_add(plan, root, MNT_FILE, etc_files[i].contents, etc_files[i].path, 0, false,
                          label);
    }
    if (rc == 0)
        rc = plan_host_etc(plan, root);

    if (rc == 0)
        rc = mnt_plan_add(plan, root, MNT_TMPFS, "mode=0755,size=64k,nr_inodes=64", "/dev",
                          MS_NOSUID | MS_NOEXEC, false, "mount tmpfs on /dev");
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(device_nodes); i++) {
        snprintf(label, sizeof(label), "bind %s", device_nodes[i]);
        rc = mnt_plan_add(plan, root, MNT_DEVICE, device_nodes[i], device_nodes[i],
                          MS_NOSUID | MS_NOEXEC, false, label);
    }
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(device_links); i++) {
        snprintf(label, sizeof(label), "link %s", device_links[i][0]);
        rc = mnt_plan_add(plan, root, MNT_SYMLINK, device_links[i][1], device_links[i][0], 0, false,
                          label);
    }
    if (rc == 0)
        rc = mnt_plan_add(plan, root, MNT_DIR, NULL, "/dev/shm", 0, false, "create /dev/shm");
    if (rc == 0)
        rc = mnt_plan_add(plan, root, MNT_REMOUNT, NULL, "/dev", MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                          false, "make /dev read-only");

    if (rc == 0)
        rc = mnt_plan_add(plan, root, MNT_PROC, "hidepid=invisible", "/proc",
                          MS_NOSUID | MS_NODEV | MS_NOEXEC, false, "mount /proc");
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(proc_read_only); i++) {
        snprintf(label, sizeof(label), "make %s read-only", proc_read_only[i]);
        rc = mnt_plan_add(plan, root, MNT_READONLY, NULL, proc_read_only[i], READ_ONLY | MS_NOEXEC,
                          true, label);
    }
    for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(proc_masked); i++) {
        snprintf(label, sizeof(label), "mask %s", proc_masked[i]);
        rc = mnt_plan_add(plan, root, MNT_MASK, "/dev/null", proc_masked[i], READ_ONLY | MS_NOEXEC,
                          true, label);
    }
    if (rc != 0) {
        snprintf(err, errlen, "planning the jail's filesystem: %s", strerror(errno));
        mnt_plan_free(plan);
        return -1;
    }
    return 0;
}

bool mnt_path_ok(const char *path)
{
    if (path[0] != '/' || strcmp(path, "/") == 0 || strlen(path) >= PATH_MAX / 2)
        return false;
    for (const char *p = path; *p != '\0';) {
        p++; /* the '/' */
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len;
    }
    return true;
}

int mnt_plan_job(struct mnt_plan *plan, const char *root, const struct jail_limits *limits,
                 const char *work_source, const struct jail_bind *binds, size_t n_binds, char *err,
                 size_t errlen)
{
    memset(plan, 0, sizeof(*plan));
    /* tmpfs charges pages, not inodes, to the cgroup: the inode count is
     * bounded too, at one per 2 KiB of the size, at least 4096. */
    char tmp_options[128], work_options[128];
    uint64_t tmp_inodes = limits->tmp_bytes / 2048 > 4096 ? limits->tmp_bytes / 2048 : 4096;
    uint64_t work_inodes = limits->disk_bytes / 2048 > 4096 ? limits->disk_bytes / 2048 : 4096;
    snprintf(tmp_options, sizeof(tmp_options), "mode=1777,size=%llu,nr_inodes=%llu",
             (unsigned long long)limits->tmp_bytes, (unsigned long long)tmp_inodes);
    snprintf(work_options, sizeof(work_options), "mode=0700,uid=%d,gid=%d,size=%llu,nr_inodes=%llu",
             JAIL_INSIDE_ID, JAIL_INSIDE_ID, (unsigned long long)limits->disk_bytes,
             (unsigned long long)work_inodes);

    for (size_t i = 0; i < n_binds; i++) {
        const char *dest = binds[i].dst ? binds[i].dst : binds[i].src;
        if (binds[i].src == NULL || binds[i].src[0] != '/') {
            snprintf(err, errlen, "binds[%zu].src must be an absolute host path", i);
            return -1;
        }
        if (dest == NULL || !mnt_path_ok(dest)) {
            snprintf(err, errlen,
                     "binds[%zu].dst \"%s\" must be an absolute path below / without \".\", "
                     "\"..\" or empty components",
                     i, dest ? dest : "");
            return -1;
        }
    }

    int rc = 0;
    rc |= mnt_plan_add(plan, root, MNT_TMPFS, tmp_options, "/tmp", NOSUID_NODEV, false,
                       "mount tmpfs on /tmp");
    rc |= mnt_plan_add(plan, root, MNT_TMPFS, tmp_options, "/dev/shm", NOSUID_NODEV, false,
                       "mount tmpfs on /dev/shm");
    if (work_source != NULL)
        rc |= mnt_plan_add(plan, root, MNT_BIND, work_source, "/work", NOSUID_NODEV, false,
                           "bind the workspace on /work");
    else
        rc |= mnt_plan_add(plan, root, MNT_TMPFS, work_options, "/work", NOSUID_NODEV, false,
                           "mount tmpfs on /work");
    for (size_t i = 0; rc == 0 && i < n_binds; i++) {
        const char *dest = binds[i].dst ? binds[i].dst : binds[i].src;
        char *label = format("bind %s on %s", binds[i].src, dest);
        if (label == NULL) {
            rc = -1;
            break;
        }
        rc = mnt_plan_add(plan, root, MNT_BIND, binds[i].src, dest,
                          binds[i].writable ? NOSUID_NODEV : READ_ONLY, false, label);
        free(label);
    }
    if (rc != 0) {
        snprintf(err, errlen, "planning the job's mounts: %s", strerror(errno));
        mnt_plan_free(plan);
        return -1;
    }
    return 0;
}

char *mnt_plan_describe(const struct mnt_plan *plan)
{
    static const char *const kinds[] = {
        [MNT_TMPFS] = "tmpfs",     [MNT_BIND] = "bind",         [MNT_DEVICE] = "device",
        [MNT_SYMLINK] = "symlink", [MNT_FILE] = "file",         [MNT_DIR] = "dir",
        [MNT_PROC] = "proc",       [MNT_READONLY] = "readonly", [MNT_REMOUNT] = "remount",
        [MNT_MASK] = "mask",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < plan->count; i++) {
        const struct mnt_op *op = &plan->ops[i];
        fprintf(out, "%s %s flags=%#lx%s source=%s\n", kinds[op->kind], op->dest, op->flags,
                op->optional ? " optional" : "", op->source ? op->source : "");
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* ---- building the root (child) ---- */

/* Creates the directory in buf[0..len) and its missing parents; buf is
 * modified and restored. Most parents exist: one mkdir is the usual cost. */
static int make_dirs_in(char *buf, size_t len)
{
    if (len == 0)
        return 0;
    char saved = buf[len];
    buf[len] = '\0';
    int rc = mkdir(buf, 0755);
    if (rc != 0 && errno == ENOENT) {
        char *slash = memrchr(buf, '/', len);
        if (slash != NULL && make_dirs_in(buf, (size_t)(slash - buf)) == 0)
            rc = mkdir(buf, 0755);
    }
    if (rc != 0 && errno == EEXIST)
        rc = 0;
    buf[len] = saved;
    return rc;
}

/* Creates path and its missing parents (all of it, or all but the last component). */
static int make_dirs(const char *path, bool include_last)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    if (!include_last) {
        char *slash = strrchr(buf, '/');
        len = slash != NULL ? (size_t)(slash - buf) : 0;
    }
    return make_dirs_in(buf, len);
}

/* Opens directory name in dirfd, making it when missing, never through a symlink. */
static int open_subdir(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
        return -1;
    return openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* The mount point for dest under root, made when missing (a directory, or
 * an empty file), as an O_PATH descriptor. No component may be a symlink:
 * a bind can land inside a workspace that an earlier jail has filled. */
static int open_mount_point(const char *root, const char *dest, bool directory)
{
    char path[PATH_MAX];
    size_t len = strlen(dest);
    if (len >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dest + 1, len); /* relative to root */
    int dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *name = path;
    for (char *slash; dirfd >= 0 && (slash = strchr(name, '/')) != NULL; name = slash + 1) {
        *slash = '\0';
        int next = open_subdir(dirfd, name);
        close(dirfd);
        dirfd = next;
    }
    if (dirfd < 0)
        return -1;
    int fd;
    if (directory) {
        fd = open_subdir(dirfd, name);
    } else {
        int made = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made >= 0)
            close(made);
        fd = made >= 0 || errno == EEXIST ? openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)
                                          : -1;
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) != 0 || S_ISLNK(st.st_mode))) {
            close(fd);
            fd = -1;
            errno = ELOOP;
        }
    }
    int saved = errno;
    close(dirfd);
    errno = saved;
    return fd;
}

static unsigned long mount_attributes(unsigned long flags)
{
    return (flags & MS_RDONLY ? MOUNT_ATTR_RDONLY : 0) |
           (flags & MS_NOSUID ? MOUNT_ATTR_NOSUID : 0) | (flags & MS_NODEV ? MOUNT_ATTR_NODEV : 0) |
           (flags & MS_NOEXEC ? MOUNT_ATTR_NOEXEC : 0);
}

/* A bind with the new mount API: the clone gets its flags before it is
 * attached, so it is never writable where it should not be, and the flags
 * the host locked on the source (atime and the like) stay as they are. */
static int op_bind(const char *root, const struct mnt_op *op, const char *source)
{
    struct stat st;
    if (stat(source, &st) != 0)
        return -1;
    int target = open_mount_point(root, op->dest, S_ISDIR(st.st_mode));
    if (target < 0)
        return -1;
    int rc = -1;
    int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    struct mount_attr attr = {.attr_set = mount_attributes(op->flags)};
    if (tree >= 0 && mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0 &&
        move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0)
        rc = 0;
    int saved = errno;
    if (tree >= 0)
        close(tree);
    close(target);
    errno = saved;
    return rc;
}

static int op_write_file(const struct mnt_op *op)
{
    if (make_dirs(op->target, false) != 0)
        return -1;
    int fd = open(op->target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, op->source, strlen(op->source)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return close(fd);
}

static int run_op(const char *root, const struct mnt_op *op)
{
    struct stat st;
    switch (op->kind) {
    case MNT_TMPFS:
        if (make_dirs(op->target, true) != 0)
            return -1;
        return mount("tmpfs", op->target, "tmpfs", op->flags, op->source);
    case MNT_BIND:
    case MNT_DEVICE:
        return op_bind(root, op, op->source);
    case MNT_SYMLINK:
        if (make_dirs(op->target, false) != 0)
            return -1;
        return symlink(op->source, op->target);
    case MNT_FILE:
        return op_write_file(op);
    case MNT_DIR:
        return make_dirs(op->target, true);
    case MNT_PROC:
        if (make_dirs(op->target, true) != 0)
            return -1;
        return mount("proc", op->target, "proc", op->flags, op->source);
    case MNT_READONLY:
        return op_bind(root, op, op->target);
    case MNT_REMOUNT:
        return mount(NULL, op->target, NULL, MS_REMOUNT | MS_BIND | op->flags, NULL);
    case MNT_MASK:
        if (lstat(op->target, &st) != 0)
            return -1;
        return op_bind(root, op, op->source);
    }
    errno = EINVAL;
    return -1;
}

static int run_plan(const char *root, const struct mnt_plan *plan, struct jail_fail *fail)
{
    for (size_t i = 0; i < plan->count; i++) {
        const struct mnt_op *op = &plan->ops[i];
        if (run_op(root, op) != 0) {
            if (op->optional && errno == ENOENT)
                continue;
            return fail_at(fail, op->label, errno);
        }
    }
    return 0;
}

int mnt_enter_new_root(const char *root, const struct mnt_plan *base, const struct mnt_plan *job,
                       struct jail_fail *fail)
{
    /* Nothing mounted from here on may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return fail_at(fail, "make mounts private", errno);
    if (run_plan(root, base, fail) != 0 || run_plan(root, job, fail) != 0)
        return -1;
    /* pivot_root(".", ".") stacks the old root on the new one; detaching it
     * leaves the jail with nothing of the host's tree but its binds. */
    if (chdir(root) != 0)
        return fail_at(fail, "enter the new root", errno);
    if (syscall(SYS_pivot_root, ".", ".") != 0)
        return fail_at(fail, "pivot_root", errno);
    if (umount2(".", MNT_DETACH) != 0)
        return fail_at(fail, "detach the host's root", errno);
    if (chdir("/") != 0)
        return fail_at(fail, "enter /", errno);
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | READ_ONLY, NULL) != 0)
        return fail_at(fail, "make / read-only", errno);
    return 0;
}
