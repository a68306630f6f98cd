#include "producer/out_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "producer/io.h"
#include "schema/paths.h"

bool out_name_valid(const char *path, char *why, size_t whylen)
{
    size_t len = strlen(path);
    if (len == 0 || len > BRIG_PATH_MAX) {
        snprintf(why, whylen, "invalid path: must be 1 to %d bytes", BRIG_PATH_MAX);
        return false;
    }
    return check_relative_path(path, len, why, whylen);
}

/* mkdir -p: the directory is the user's choice, so links on its way are
 * followed like any shell would. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (!*dir) {
        snprintf(err, errlen, "output directory: empty path");
        return -1;
    }
    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
        snprintf(err, errlen, "output directory %.64s...: path too long", dir);
        return -1;
    }
    for (char *p = path + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "creating directory %s: %s", path, strerror(errno));
            return -1;
        }
        if (last)
            return 0;
        *p = '/';
    }
}

/* Opens (creating it when missing) directory name inside dirfd, refusing a
 * symbolic link: errno is then ELOOP, whatever open said (ENOTDIR, with
 * O_DIRECTORY). */
static int enter_dir(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
        return -1;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
        errno = ELOOP;
    return fd;
}

static int write_file(int top, const struct brig_file *file, const char *dir, char *err,
                      size_t errlen)
{
    char why[256], path[BRIG_PATH_MAX + 1];
    if (!out_name_valid(file->path, why, sizeof why)) {
        snprintf(err, errlen, "collected file \"%.200s\": %s", file->path, why);
        return -1;
    }
    snprintf(path, sizeof path, "%s", file->path);
    int fd = dup(top);
    int rc = -1;
    const char *step = "opening";
    char *name = path;
    for (char *slash; fd >= 0 && (slash = strchr(name, '/')); name = slash + 1) {
        *slash = '\0';
        int next = enter_dir(fd, name), saved = errno;
        close(fd);
        fd = next;
        errno = saved;
        step = "creating the directory for";
    }
    if (fd >= 0) {
        int out = openat(fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        int saved = errno;
        close(fd);
        fd = out;
        errno = saved;
        step = "creating";
    }
    if (fd >= 0) {
        step = "writing";
        if (write_all(fd, file->content.data, file->content.len) == 0)
            rc = 0;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s %s/%s: %s", step, dir, file->path,
                 errno == ELOOP ? "a symbolic link is in the way" : strerror(errno));
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "writing %s/%s: %s", dir, file->path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int out_dir_write(const char *dir, const struct brig_file *files, size_t count, char *err,
                  size_t errlen)
{
    if (make_dirs(dir, err, errlen) < 0)
        return -1;
    int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        snprintf(err, errlen, "opening directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = write_file(top, &files[i], dir, err, errlen);
    close(top);
    return rc;
}
