/* Host paths the operator adds to every jail (brig-worker --ro-bind): a
 * wheelhouse, an npm cache, a toolchain's configuration. They join the base
 * plan, read-only, nosuid and nodev, so the policy hash covers them.
 *
 * They are checked once, when the context is made, so that a worker with a
 * bad one refuses to start instead of failing every job:
 *
 *   - both paths absolute, without ".", ".." or empty components;
 *   - the source exists, is a directory or a regular file, and no component
 *     of it is a symbolic link: a link is resolved by the bind, on the host,
 *     and could take the jail anywhere (/etc/x -> /root); its target is
 *     what to name;
 *   - nothing under /proc, /sys or /dev: host-wide kernel state and devices;
 *   - the destination is not in or above what the jail mounts itself (/usr
 *     and the other host roots, /proc, /dev, /tmp, /work), where the bind
 *     would be hidden or could not be made, nor inside another operator
 *     bind, nor the same as one.
 *
 * What a bound directory holds is the operator's choice: it must hold no
 * secret. The jail's user is an unprivileged host uid, so the host's file
 * modes still apply to it inside. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/jail_host.h"

/* Whether path is prefix or below it. */
static bool is_under(const char *path, const char *prefix)
{
    size_t len = strlen(prefix);
    return strncmp(path, prefix, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static const char *const host_state[] = {"/proc", "/sys", "/dev"};
static const char *const jail_mounts[] = {"/usr",   "/bin",  "/sbin", "/lib", "/lib32",
                                          "/lib64", "/proc", "/dev",  "/tmp", "/work"};

/* Every prefix of src, from the top, as lstat sees it. */
static int check_source(const char *src, char *err, size_t errlen)
{
    char prefix[PATH_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(host_state); i++) {
        if (is_under(src, host_state[i])) {
            snprintf(err, errlen,
                     "%s is under %s: host-wide kernel state and devices are never "
                     "bound into a jail",
                     src, host_state[i]);
            return -1;
        }
    }
    size_t len = strlen(src);
    for (size_t end = 1; end <= len; end++) {
        if (end < len && src[end] != '/')
            continue;
        memcpy(prefix, src, end);
        prefix[end] = '\0';
        struct stat st;
        if (lstat(prefix, &st) != 0) {
            snprintf(err, errlen, "%s: %s", prefix, strerror(errno));
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(prefix, target, sizeof(target) - 1);
            target[n > 0 ? n : 0] = '\0';
            snprintf(err, errlen,
                     "%s is a symbolic link (to %s): a bind would follow it on the host, out of "
                     "the path it names; name its target",
                     prefix, target);
            return -1;
        }
        if (end == len && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "%s is neither a directory nor a regular file", src);
            return -1;
        }
    }
    return 0;
}

static int check_destination(const struct jail_bind *binds, size_t index, char *err, size_t errlen)
{
    const char *dst = binds[index].dst ? binds[index].dst : binds[index].src;
    if (!mnt_path_ok(dst)) {
        snprintf(err, errlen,
                 "%s: the path in the jail must be absolute, without \".\", \"..\" or empty "
                 "components, and not /",
                 dst);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(jail_mounts); i++) {
        if (is_under(dst, jail_mounts[i]) || is_under(jail_mounts[i], dst)) {
            snprintf(err, errlen,
                     "%s: the jail mounts %s itself; choose another path in the jail (SRC:DST), "
                     "e.g. under /opt",
                     dst, jail_mounts[i]);
            return -1;
        }
    }
    for (size_t i = 0; i < index; i++) {
        const char *other = binds[i].dst ? binds[i].dst : binds[i].src;
        if (is_under(dst, other) || is_under(other, dst)) {
            snprintf(err, errlen, "%s: overlaps the bind on %s", dst, other);
            return -1;
        }
    }
    return 0;
}

int jail_binds_check(const struct jail_bind *binds, size_t n_binds, char *err, size_t errlen)
{
    for (size_t i = 0; i < n_binds; i++) {
        const char *src = binds[i].src;
        if (src == NULL || !mnt_path_ok(src) || strlen(src) >= PATH_MAX) {
            snprintf(err, errlen,
                     "%s: the host path must be absolute, without \".\", \"..\" or empty "
                     "components, and not /",
                     src ? src : "(none)");
            return -1;
        }
        if (binds[i].writable) {
            snprintf(err, errlen, "%s: the binds of every jail are read-only", src);
            return -1;
        }
        if (check_source(src, err, errlen) != 0 || check_destination(binds, i, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int mnt_plan_binds(struct mnt_plan *plan, const char *root, const struct jail_bind *binds,
                   size_t n_binds, char *err, size_t errlen)
{
    char label[2 * PATH_MAX + 16];
    for (size_t i = 0; i < n_binds; i++) {
        const char *dst = binds[i].dst ? binds[i].dst : binds[i].src;
        snprintf(label, sizeof(label), "bind the operator's %s on %s", binds[i].src, dst);
        if (mnt_plan_add(plan, root, MNT_BIND, binds[i].src, dst, MS_RDONLY | MS_NOSUID | MS_NODEV,
                         false, label) != 0) {
            snprintf(err, errlen, "planning the operator's binds: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}
