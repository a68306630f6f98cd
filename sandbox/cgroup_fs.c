/* The cgroupfs helpers of cgroup_impl.h: opening, making and removing
 * groups (by hand in a fake tree), finding the process's own group, and
 * reading and writing control files, always relative to an open directory
 * and never through a symbolic link. */
#include "sandbox/cgroup_impl.h"
#include "sandbox/fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

int cg_fail(char *err, size_t errlen, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

static bool on_cgroupfs(int fd)
{
    struct statfs fs;
    return fstatfs(fd, &fs) == 0 &&
           (fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC);
}

int cg_open(const struct cg_dir *dir, const char *rel, bool follow_last, struct cg_dir *out,
            char *err, size_t errlen)
{
    while (*rel == '/')
        rel++;
    out->fd = -1;
    int n = *rel ? snprintf(out->path, sizeof out->path, "%s/%s", dir->path, rel)
                 : snprintf(out->path, sizeof out->path, "%s", dir->path);
    if (n < 0 || (size_t)n >= sizeof out->path)
        return cg_fail(err, errlen, "cgroup path %s/%s is too long", dir->path, rel);
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW);
    out->fd = openat(dir->fd, *rel ? rel : ".", flags);
    if (out->fd < 0)
        return cg_fail(err, errlen, "cannot open cgroup directory %s: %s", out->path,
                       strerror(errno));
    out->fake = !on_cgroupfs(out->fd);
    return 0;
}

void cg_close(struct cg_dir *dir)
{
    if (dir->fd >= 0)
        close(dir->fd);
    dir->fd = -1;
}

/* What the kernel does for a new cgroup, done by hand in a fake tree: the
 * child gets (empty) control files named like the parent's. */
static int fake_copy_control_files(const struct cg_dir *parent, const struct cg_dir *child)
{
    DIR *entries = dir_list_at(parent->fd, ".");
    if (!entries)
        return -1;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(entries))) {
        struct stat st;
        if (fstatat(dirfd(entries), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        int file =
            openat(child->fd, entry->d_name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (file < 0)
            rc = -1;
        else
            close(file);
    }
    closedir(entries);
    return rc;
}

int cg_mkdir(const struct cg_dir *parent, const char *name, bool exist_ok, struct cg_dir *out,
             char *err, size_t errlen)
{
    out->fd = -1;
    bool created = mkdirat(parent->fd, name, 0755) == 0;
    if (!created && !(errno == EEXIST && exist_ok))
        return cg_fail(err, errlen, "cannot create cgroup %s/%s: %s", parent->path, name,
                       strerror(errno));
    if (cg_open(parent, name, false, out, err, errlen) < 0)
        goto fail;
    if (parent->fake && fake_copy_control_files(parent, out) < 0) {
        cg_fail(err, errlen, "cannot copy the control files of fake cgroup %s into %s: %s",
                parent->path, out->path, strerror(errno));
        cg_close(out);
        goto fail;
    }
    return 0;
fail:
    if (created)
        cg_rmdir(parent, name);
    return -1;
}

/* The kernel refuses to remove a cgroup with child groups; in a fake tree the
 * control files must go first, and subdirectories then make rmdir fail. */
static int fake_remove_control_files(const struct cg_dir *parent, const char *name)
{
    DIR *entries = dir_list_at(parent->fd, name);
    if (!entries)
        return -1;
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(entries))) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(entries), entry->d_name, 0) < 0 && errno != EISDIR)
            rc = -1;
    }
    closedir(entries);
    return rc;
}

int cg_rmdir(const struct cg_dir *parent, const char *name)
{
    if (parent->fake && fake_remove_control_files(parent, name) < 0)
        return -1;
    return unlinkat(parent->fd, name, AT_REMOVEDIR);
}

static bool controller_listed(char *controllers, const char *controller)
{
    if (!*controller)
        return !*controllers;
    char *save = NULL;
    for (char *name = strtok_r(controllers, ",", &save); name; name = strtok_r(NULL, ",", &save))
        if (strcmp(name, controller) == 0)
            return true;
    return false;
}

/* The process's path in the hierarchy that has controller ("" = v2), as
 * /proc/self/cgroup gives it: relative to the root of the hierarchy that the
 * process's cgroup namespace shows. */
static int proc_self_cgroup(const char *controller, char *path, size_t pathsize, char *err,
                            size_t errlen)
{
    FILE *file = fopen("/proc/self/cgroup", "re");
    if (!file)
        return cg_fail(err, errlen, "cannot open /proc/self/cgroup: %s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    int rc = 0;
    while (!found && getline(&line, &cap, file) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':');
        char *own = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!own)
            continue;
        *own++ = '\0';
        found = controller_listed(controllers + 1, controller);
        if (found && (size_t)snprintf(path, pathsize, "%s", own) >= pathsize)
            rc = cg_fail(err, errlen, "cgroup path %s is too long", own);
    }
    free(line);
    fclose(file);
    if (!found)
        return cg_fail(err, errlen, "/proc/self/cgroup has no line for the %s hierarchy",
                       *controller ? controller : "cgroup2");
    return rc;
}

/* Which part of its hierarchy the mount at dir shows (mountinfo's root
 * field): "/" normally, a subtree in a container that was given only its own
 * cgroup. A mount missing from mountinfo is taken to show the whole tree. */
static int mount_root(const struct cg_dir *dir, char *root, size_t rootsize, char *err,
                      size_t errlen)
{
    char mount_point[PATH_MAX];
    if (!realpath(dir->path, mount_point))
        return cg_fail(err, errlen, "cannot resolve %s: %s", dir->path, strerror(errno));
    FILE *file = fopen("/proc/self/mountinfo", "re");
    if (!file)
        return cg_fail(err, errlen, "cannot open /proc/self/mountinfo: %s", strerror(errno));
    snprintf(root, rootsize, "/");
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    /* Fields: id parent major:minor root mount-point ...; the last matching
     * line wins, since a later mount hides an earlier one. */
    while (getline(&line, &cap, file) > 0) {
        char *save = NULL;
        char *field = strtok_r(line, " ", &save);
        for (int i = 1; field && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        char *point = field ? strtok_r(NULL, " ", &save) : NULL;
        if (!point || strcmp(point, mount_point) != 0)
            continue;
        if ((size_t)snprintf(root, rootsize, "%s", field) >= rootsize)
            rc = cg_fail(err, errlen, "mount root %s of %s is too long", field, mount_point);
    }
    free(line);
    fclose(file);
    return rc;
}

int cg_own_path(const struct cg_dir *mount, const char *controller, char *rel, size_t relsize,
                char *err, size_t errlen)
{
    if (mount->fake) {
        rel[0] = '\0';
        return 0;
    }
    char own[PATH_MAX], shown[PATH_MAX];
    if (proc_self_cgroup(controller, own, sizeof own, err, errlen) < 0 ||
        mount_root(mount, shown, sizeof shown, err, errlen) < 0)
        return -1;
    size_t prefix = strcmp(shown, "/") == 0 ? 0 : strlen(shown);
    if (strncmp(own, shown, prefix) != 0 || (own[prefix] != '/' && own[prefix] != '\0'))
        return cg_fail(err, errlen,
                       "brig's cgroup %s is outside the subtree %s that %s shows of its hierarchy",
                       own, shown, mount->path);
    if ((size_t)snprintf(rel, relsize, "%s", own + prefix) >= relsize)
        return cg_fail(err, errlen, "cgroup path %s is too long", own);
    return 0;
}

int cg_open_file(const struct cg_dir *dir, const char *file, int flags)
{
    return openat(dir->fd, file, flags | O_NOFOLLOW | O_CLOEXEC);
}

static int write_value(int fd, const char *value)
{
    size_t len = strlen(value);
    ssize_t written = write(fd, value, len);
    int saved = errno;
    close(fd);
    if (written < 0) {
        errno = saved;
        return -1;
    }
    if ((size_t)written != len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int cg_write(const struct cg_dir *dir, const char *file, const char *value, char *err,
             size_t errlen)
{
    int fd = cg_open_file(dir, file, O_WRONLY | O_TRUNC);
    if (fd < 0 || write_value(fd, value) < 0)
        return cg_fail(err, errlen, "cannot write \"%s\" to %s/%s: %s", value, dir->path, file,
                       strerror(errno));
    return 0;
}

int cg_write_u64(const struct cg_dir *dir, const char *file, uint64_t value, char *err,
                 size_t errlen)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, value);
    return cg_write(dir, file, text, err, errlen);
}

enum cg_write_result cg_write_if_present(const struct cg_dir *dir, const char *file,
                                         const char *value, char *err, size_t errlen)
{
    int fd = cg_open_file(dir, file, O_WRONLY | O_TRUNC);
    if (fd < 0 && errno == ENOENT)
        return CG_FILE_ABSENT;
    if (fd < 0 || write_value(fd, value) < 0) {
        cg_fail(err, errlen, "cannot write \"%s\" to %s/%s: %s", value, dir->path, file,
                strerror(errno));
        return CG_WRITE_FAILED;
    }
    return CG_WRITTEN;
}

int cg_read(const struct cg_dir *dir, const char *file, char *buf, size_t len)
{
    int fd = cg_open_file(dir, file, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t used = 0;
    ssize_t got = 0;
    while (used < len - 1 && (got = read(fd, buf + used, len - 1 - used)) > 0)
        used += (size_t)got;
    char more;
    if (used == len - 1 && read(fd, &more, 1) > 0)
        got = -1, errno = EFBIG;
    int saved = errno;
    close(fd);
    buf[used] = '\0';
    errno = saved;
    return got < 0 ? -1 : 0;
}

static int parse_u64(const char *text, uint64_t *value)
{
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno || end == text || (*end && *end != '\n') || *text == '-') {
        errno = EINVAL;
        return -1;
    }
    *value = parsed;
    return 0;
}

int cg_read_u64(const struct cg_dir *dir, const char *file, uint64_t *value)
{
    char text[32];
    if (cg_read(dir, file, text, sizeof text) < 0)
        return -1;
    return parse_u64(text, value);
}

int cg_read_key(const struct cg_dir *dir, const char *file, const char *key, uint64_t *value)
{
    char text[4096];
    if (cg_read(dir, file, text, sizeof text) < 0)
        return -1;
    size_t keylen = strlen(key);
    for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ' ')
            return parse_u64(line + keylen + 1, value);
    errno = ENODATA;
    return -1;
}

bool cg_word_in(const char *list, const char *word)
{
    size_t len = strlen(word);
    for (const char *at = list; *at;) {
        at += strspn(at, " \t\n");
        size_t wordlen = strcspn(at, " \t\n");
        if (wordlen == len && strncmp(at, word, len) == 0)
            return true;
        at += wordlen;
    }
    return false;
}
