/* Workspaces: a tmpfs per job on the host, at <state_dir>/ws/<uid>, owned
 * through its mount options by a host uid of the context's pool. Host code
 * only ever writes into one through descriptors, a component at a time,
 * refusing symlinks (O_NOFOLLOW), and never deletes anything in it: freeing
 * unmounts the whole tmpfs. A session's workspace (session.c) is adopted
 * instead: its tmpfs outlives the workspace, and freeing hands it back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"

struct jail_workspace {
    struct jail_context *ctx;
    uid_t uid;
    char *path;
    int dirfd;                                           /* O_PATH */
    int (*release)(void *arg, char *err, size_t errlen); /* adopted: instead of unmounting */
    void *release_arg;
    bool replace_files; /* adopted: a file an earlier job left is written anew */
};

const char *workspace_path(const struct jail_workspace *ws)
{
    return ws->path;
}

uid_t workspace_uid(const struct jail_workspace *ws)
{
    return ws->uid;
}

int jail_workspace_dirfd(const struct jail_workspace *ws)
{
    return ws->dirfd;
}

int workspace_unmount(const char *path)
{
    for (int i = 0; i < 64; i++) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
            return errno == EINVAL ? 0 : -1;
    }
    return 0;
}

int workspace_mount(const char *path, const char *source, uid_t uid, uint64_t disk_bytes, char *err,
                    size_t errlen)
{
    char options[160];
    uint64_t inodes = disk_bytes / 2048 > 4096 ? disk_bytes / 2048 : 4096;
    snprintf(options, sizeof(options), "size=%llu,nr_inodes=%llu,uid=%u,gid=%u,mode=0700",
             (unsigned long long)disk_bytes, (unsigned long long)inodes, (unsigned)uid,
             (unsigned)uid);
    if (workspace_unmount(path) != 0 ||
        mount(source, path, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
        snprintf(err, errlen, "workspace: mounting a tmpfs on %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int workspace_adopt(struct jail_context *ctx, uid_t uid, const char *path, int dirfd,
                    int (*release)(void *arg, char *err, size_t errlen), void *release_arg,
                    struct jail_workspace **out, char *err, size_t errlen)
{
    *out = NULL;
    struct jail_workspace *ws = calloc(1, sizeof(*ws));
    if (ws == NULL || (ws->path = strdup(path)) == NULL ||
        uid_pool_add_guest(&ctx->uids, uid) != 0) {
        snprintf(err, errlen, "workspace: allocating: %s", strerror(errno));
        if (ws != NULL)
            free(ws->path);
        free(ws);
        return -1;
    }
    ws->ctx = ctx;
    ws->uid = uid;
    ws->dirfd = dirfd;
    ws->release = release;
    ws->release_arg = release_arg;
    ws->replace_files = true;
    *out = ws;
    return 0;
}

int jail_workspace_new(struct jail_context *ctx, uint64_t disk_bytes, struct jail_workspace **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (disk_bytes == 0) {
        snprintf(err, errlen, "workspace: disk_bytes is 0");
        return -1;
    }
    struct jail_workspace *ws = calloc(1, sizeof(*ws));
    if (ws == NULL) {
        snprintf(err, errlen, "workspace: allocating: %s", strerror(errno));
        return -1;
    }
    ws->ctx = ctx;
    ws->dirfd = -1;
    if (uid_pool_get(&ctx->uids, &ws->uid) != 0) {
        snprintf(err, errlen, "workspace: all %zu host uids of this jail context are in use",
                 ctx->uids.size);
        free(ws);
        return -1;
    }
    if (asprintf(&ws->path, "%s/%u", ctx->ws_dir, (unsigned)ws->uid) < 0) {
        ws->path = NULL;
        snprintf(err, errlen, "workspace: allocating: %s", strerror(errno));
        goto fail;
    }
    if (mkdir(ws->path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "workspace: creating %s: %s", ws->path, strerror(errno));
        goto fail;
    }
    /* The source names this process, for jail_reclaim after a crash. */
    char source[64];
    snprintf(source, sizeof(source), "%s", WORKSPACE_SOURCE_PREFIX);
    owner_format(&ctx->owner, source + strlen(source), sizeof(source) - strlen(source));
    if (workspace_mount(ws->path, source, ws->uid, disk_bytes, err, errlen) != 0) {
        rmdir(ws->path);
        goto fail;
    }
    ws->dirfd = open(ws->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ws->dirfd < 0) {
        snprintf(err, errlen, "workspace: opening %s: %s", ws->path, strerror(errno));
        umount2(ws->path, MNT_DETACH);
        rmdir(ws->path);
        goto fail;
    }
    *out = ws;
    return 0;

fail:
    uid_pool_put(&ctx->uids, ws->uid);
    free(ws->path);
    free(ws);
    return -1;
}

int jail_workspace_close(struct jail_workspace *ws, char *err, size_t errlen)
{
    if (ws == NULL)
        return 0;
    int rc = 0;
    if (ws->dirfd >= 0)
        close(ws->dirfd);
    if (ws->release != NULL) {
        uid_pool_remove_guest(&ws->ctx->uids, ws->uid);
        rc = ws->release(ws->release_arg, err, errlen);
    } else if (workspace_unmount(ws->path) == 0) {
        rmdir(ws->path);
        uid_pool_put(&ws->ctx->uids, ws->uid);
    } else {
        /* A uid that still owns a mounted tmpfs must not go to another job. */
        snprintf(err, errlen, "workspace: unmounting %s: %s (its uid stays taken)", ws->path,
                 strerror(errno));
        rc = -1;
    }
    free(ws->path);
    free(ws);
    return rc;
}

void jail_workspace_free(struct jail_workspace *ws)
{
    char ignored[256];
    jail_workspace_close(ws, ignored, sizeof(ignored));
}

void workspace_sweep_stale(struct jail_context *ctx)
{
    DIR *dir = opendir(ctx->ws_dir);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        unsigned long uid = strtoul(entry->d_name, &end, 10);
        if (*end != '\0' || end == entry->d_name || !uid_pool_owns(&ctx->uids, (uid_t)uid))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", ctx->ws_dir, entry->d_name);
        if (workspace_unmount(path) == 0)
            rmdir(path);
    }
    closedir(dir);
}

/* A relative path whose every component names an entry: no "", "." or "..". */
static int check_relpath(const char *relpath, char *err, size_t errlen)
{
    if (relpath == NULL || relpath[0] == '\0') {
        snprintf(err, errlen, "workspace: the path is empty");
        return -1;
    }
    if (relpath[0] == '/') {
        snprintf(err, errlen, "workspace: \"%s\" is absolute; paths are relative to /work",
                 relpath);
        return -1;
    }
    if (strlen(relpath) >= PATH_MAX) {
        snprintf(err, errlen, "workspace: the path is longer than %d bytes", PATH_MAX - 1);
        return -1;
    }
    for (const char *p = relpath;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            snprintf(err, errlen, "workspace: \"%s\" has an empty, \".\" or \"..\" component",
                     relpath);
            return -1;
        }
        if (len >= NAME_MAX + 1) {
            snprintf(err, errlen, "workspace: a component of \"%s\" is too long", relpath);
            return -1;
        }
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

/* Opens (making it when missing) directory name in dirfd, never through a symlink. */
static int open_subdir(const struct jail_workspace *ws, int dirfd, const char *name,
                       const char *relpath, char *err, size_t errlen)
{
    bool made = mkdirat(dirfd, name, 0755) == 0;
    if (!made && errno != EEXIST) {
        snprintf(err, errlen, "workspace: creating directory %s in %s: %s", name, relpath,
                 strerror(errno));
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        struct stat st;
        bool symlink = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        snprintf(err, errlen, "workspace: opening directory %s of %s: %s", name, relpath,
                 symlink ? "it is a symbolic link, which is never followed" : strerror(saved));
        return -1;
    }
    if (made && (fchown(fd, ws->uid, ws->uid) != 0 || fchmod(fd, 0755) != 0)) {
        snprintf(err, errlen, "workspace: giving directory %s of %s to the workspace: %s", name,
                 relpath, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int jail_workspace_write_file(struct jail_workspace *ws, const char *relpath, const void *data,
                              size_t len, unsigned mode, char *err, size_t errlen)
{
    if (check_relpath(relpath, err, errlen) != 0)
        return -1;
    if (mode > 0777) {
        snprintf(err, errlen, "workspace: mode %#o of %s has bits beyond 0777", mode, relpath);
        return -1;
    }
    char path[PATH_MAX];
    memcpy(path, relpath, strlen(relpath) + 1);
    int rc = -1, fd = -1;
    int dirfd = openat(ws->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "workspace: opening %s: %s", ws->path, strerror(errno));
        return -1;
    }
    char *name = path;
    for (char *slash; (slash = strchr(name, '/')) != NULL; name = slash + 1) {
        *slash = '\0';
        int next = open_subdir(ws, dirfd, name, relpath, err, errlen);
        close(dirfd);
        dirfd = next;
        if (dirfd < 0)
            return -1;
    }
    /* A session's workspace keeps what earlier jobs left there: a file (or a
     * symlink, itself, never its target) of the same name is unlinked from
     * the directory opened above, a directory is not. No job runs while the
     * host writes, and the create below refuses whatever might appear in
     * between. */
    if (ws->replace_files && unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "workspace: replacing %s: %s", relpath, strerror(errno));
        goto out;
    }
    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "workspace: creating %s: %s", relpath, strerror(errno));
        goto out;
    }
    if (write_all(fd, data, len) != 0) {
        snprintf(err, errlen, "workspace: writing %s: %s", relpath, strerror(errno));
        goto out;
    }
    if (fchown(fd, ws->uid, ws->uid) != 0 || fchmod(fd, mode) != 0) {
        snprintf(err, errlen, "workspace: giving %s to the workspace: %s", relpath,
                 strerror(errno));
        goto out;
    }
    rc = 0;

out:
    if (fd >= 0) {
        close(fd);
        if (rc != 0)
            unlinkat(dirfd, name, 0); /* no half-written file left behind */
    }
    close(dirfd);
    return rc;
}
