/* Sessions (session.h): a tmpfs per session under a shared root, its
 * metadata and lock beside it (session_store.c), a host uid of its own for its
 * whole life (session_uid.c). The root directory is the host's (root-owned,
 * 0711): a job only ever sees the inside of its own tmpfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"
#include "sandbox/session_impl.h"
#include "common/common.h"

/* An acquired session, until its workspace is freed. */
struct session_hold {
    struct store store;
    char id[JAIL_SESSION_ID_MAX + 1];
    int lock_fd;
    struct session_meta meta;
};

/* ---- the tmpfs ---- */

enum mount_point { MOUNT_CHECK_FAILED = -1, NOT_MOUNTED, MOUNTED };

/* Opens the session's mount point: MOUNTED and an O_PATH descriptor when a
 * file system is mounted there. */
static enum mount_point open_mounted(const struct store *store, const char *id, int *fd_out,
                                     char *err, size_t errlen)
{
    char name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_WORK);
    int fd = openat(store->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return NOT_MOUNTED;
        snprintf(err, errlen, "session %s: opening %s/%s: %s", id, store->path, name,
                 strerror(errno));
        return MOUNT_CHECK_FAILED;
    }
    struct stat mount_point, root;
    if (fstat(fd, &mount_point) != 0 || fstat(store->fd, &root) != 0) {
        snprintf(err, errlen, "session %s: checking %s/%s: %s", id, store->path, name,
                 strerror(errno));
        close(fd);
        return MOUNT_CHECK_FAILED;
    }
    if (mount_point.st_dev == root.st_dev) {
        close(fd);
        return NOT_MOUNTED;
    }
    *fd_out = fd;
    return MOUNTED;
}

/* The session's tmpfs as it is, or a new one when it has none (first use,
 * or its tmpfs went with a reboot). Fills hold->meta. */
static int open_tmpfs(struct session_hold *hold, uint64_t quota_bytes, int *fd_out, char *err,
                      size_t errlen)
{
    const struct store *store = &hold->store;
    const char *id = hold->id;
    struct session_meta old;
    enum meta_read had = read_meta(store, id, &old, err, errlen);
    if (had == META_FAILED)
        return -1;
    if (had == META_READ) {
        enum mount_point mounted = open_mounted(store, id, fd_out, err, errlen);
        if (mounted == MOUNT_CHECK_FAILED)
            return -1;
        if (mounted == MOUNTED) {
            struct statfs fs;
            struct stat st;
            if (fstatfs(*fd_out, &fs) != 0 || fstat(*fd_out, &st) != 0) {
                snprintf(err, errlen, "session %s: checking its tmpfs: %s", id, strerror(errno));
            } else if (fs.f_type != TMPFS_MAGIC || st.st_uid != old.uid) {
                snprintf(err, errlen,
                         "session %s: what is mounted at %s/%s%s is not its tmpfs (owner %u, "
                         "the session's uid is %u): remove the session",
                         id, store->path, id, SUFFIX_WORK, (unsigned)st.st_uid, old.uid);
            } else {
                hold->meta = old;
                return 0;
            }
            close(*fd_out);
            *fd_out = -1;
            return -1;
        }
    }

    int rc = -1;
    char *owner = NULL, *path = work_path(store, id);
    if (path == NULL || asprintf(&owner, "%s/%s", store->path, id) < 0) {
        owner = NULL;
        snprintf(err, errlen, "session %s: allocating: %s", id, strerror(errno));
        goto out;
    }
    struct session_meta meta = {.quota_bytes = quota_bytes};
    if (session_uid_for(owner, had == META_READ ? &old.uid : NULL, &meta.uid, err, errlen) != 0)
        goto out;
    meta.created_ms = meta.last_used_ms = (uint64_t)wall_clock_ms();
    /* Recorded before the mount: a crash in between leaves metadata that
     * keeps the uid this session's, and a next acquire mounts again. */
    if (write_meta(store, id, &meta, err, errlen) != 0)
        goto out;
    char name[SESSION_NAME_MAX];
    if (mkdirat(store->fd, session_file(name, id, SUFFIX_WORK), 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "session %s: creating %s: %s", id, path, strerror(errno));
        goto out;
    }
    if (workspace_mount(path, "brig-session", meta.uid, quota_bytes, err, errlen) != 0)
        goto out;
    enum mount_point mounted = open_mounted(store, id, fd_out, err, errlen);
    if (mounted == NOT_MOUNTED)
        snprintf(err, errlen, "session %s: %s is not a mount point after mounting it", id, path);
    if (mounted != MOUNTED)
        goto out;
    hold->meta = meta;
    rc = 0;

out:
    free(owner);
    free(path);
    return rc;
}

static void hold_free(struct session_hold *hold)
{
    if (hold->lock_fd >= 0)
        close(hold->lock_fd);
    store_close(&hold->store);
    free(hold);
}

/* jail_workspace_close() of a session's workspace: the tmpfs stays. */
static int release_session(void *arg, char *err, size_t errlen)
{
    struct session_hold *hold = arg;
    hold->meta.last_used_ms = (uint64_t)wall_clock_ms();
    int rc = write_meta(&hold->store, hold->id, &hold->meta, err, errlen);
    hold_free(hold);
    return rc;
}

enum jail_session_result jail_session_acquire(struct jail_context *ctx, const char *root,
                                              const char *session_id, uint64_t quota_bytes,
                                              uint64_t timeout_ms, struct jail_workspace **out,
                                              char *err, size_t errlen)
{
    *out = NULL;
    if (check_session_id(session_id, err, errlen) != 0)
        return JAIL_SESSION_FAILED;
    if (quota_bytes == 0) {
        snprintf(err, errlen, "session %s: quota_bytes is 0", session_id);
        return JAIL_SESSION_FAILED;
    }
    struct session_hold *hold = calloc(1, sizeof(*hold));
    if (hold == NULL) {
        snprintf(err, errlen, "session %s: allocating: %s", session_id, strerror(errno));
        return JAIL_SESSION_FAILED;
    }
    hold->lock_fd = -1;
    snprintf(hold->id, sizeof(hold->id), "%s", session_id);
    enum jail_session_result rc = JAIL_SESSION_FAILED;
    int workfd = -1;
    char *path = NULL;
    if (store_open(root, true, &hold->store, err, errlen) != STORE_OPENED)
        goto fail;
    rc = lock_session(&hold->store, session_id, timeout_ms, &hold->lock_fd, err, errlen);
    if (rc != JAIL_SESSION_OK)
        goto fail;
    rc = JAIL_SESSION_FAILED;
    if (open_tmpfs(hold, quota_bytes, &workfd, err, errlen) != 0)
        goto fail;
    if ((path = work_path(&hold->store, session_id)) == NULL) {
        snprintf(err, errlen, "session %s: allocating: %s", session_id, strerror(errno));
        goto fail;
    }
    if (workspace_adopt(ctx, hold->meta.uid, path, workfd, release_session, hold, out, err,
                        errlen) != 0)
        goto fail;
    free(path);
    return JAIL_SESSION_OK;

fail:
    if (workfd >= 0)
        close(workfd);
    free(path);
    hold_free(hold);
    return rc;
}

/* ---- removal ---- */

enum removal { REMOVE_FAILED = -1, REMOVED, NO_SUCH_SESSION };

/* Removes the locked session: its tmpfs, mount point, metadata, uid record
 * and, last, its lock file. */
static enum removal remove_locked(const struct store *store, const char *id, char *err,
                                  size_t errlen)
{
    char work[SESSION_NAME_MAX], meta_name[SESSION_NAME_MAX], new_name[SESSION_NAME_MAX],
        lock[SESSION_NAME_MAX];
    session_file(work, id, SUFFIX_WORK);
    session_file(meta_name, id, SUFFIX_META);
    session_file(new_name, id, SUFFIX_META_NEW);
    session_file(lock, id, SUFFIX_LOCK);
    /* Unreadable metadata does not keep a session alive: only its uid
     * record is left behind then, and that uid goes unused. */
    struct session_meta meta;
    char meta_err[256];
    bool have_meta = read_meta(store, id, &meta, meta_err, sizeof(meta_err)) == META_READ;
    struct stat st;
    bool have_work = fstatat(store->fd, work, &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool have_meta_file = fstatat(store->fd, meta_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have_work && !have_meta_file) {
        snprintf(err, errlen, "there is no session %s in %s", id, store->path);
        unlinkat(store->fd, lock, 0);
        return NO_SUCH_SESSION;
    }
    if (have_work) {
        char *path = work_path(store, id);
        if (path == NULL) {
            snprintf(err, errlen, "session %s: allocating: %s", id, strerror(errno));
            return REMOVE_FAILED;
        }
        int rc = workspace_unmount(path);
        if (rc != 0)
            snprintf(err, errlen, "session %s: unmounting %s: %s", id, path, strerror(errno));
        free(path);
        if (rc != 0)
            return REMOVE_FAILED;
        if (unlinkat(store->fd, work, AT_REMOVEDIR) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "session %s: removing %s/%s: %s", id, store->path, work,
                     strerror(errno));
            return REMOVE_FAILED;
        }
    }
    if ((unlinkat(store->fd, meta_name, 0) != 0 && errno != ENOENT) ||
        (unlinkat(store->fd, new_name, 0) != 0 && errno != ENOENT)) {
        snprintf(err, errlen, "session %s: removing its metadata from %s: %s", id, store->path,
                 strerror(errno));
        return REMOVE_FAILED;
    }
    if (have_meta) {
        char *owner;
        if (asprintf(&owner, "%s/%s", store->path, id) < 0) {
            snprintf(err, errlen, "session %s: allocating: %s", id, strerror(errno));
            return REMOVE_FAILED;
        }
        session_uid_release(meta.uid, owner);
        free(owner);
    }
    if (unlinkat(store->fd, lock, 0) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "session %s: removing %s/%s: %s", id, store->path, lock,
                 strerror(errno));
        return REMOVE_FAILED;
    }
    return REMOVED;
}

enum jail_session_result jail_session_remove(const char *root, const char *session_id,
                                             uint64_t timeout_ms, char *err, size_t errlen)
{
    if (check_session_id(session_id, err, errlen) != 0)
        return JAIL_SESSION_FAILED;
    struct store store;
    enum store_opened opened = store_open(root, false, &store, err, errlen);
    if (opened != STORE_OPENED) {
        if (opened == STORE_ABSENT)
            snprintf(err, errlen, "there is no session %s: %s does not exist", session_id, root);
        return JAIL_SESSION_FAILED;
    }
    int lock_fd = -1;
    enum jail_session_result rc =
        lock_session(&store, session_id, timeout_ms, &lock_fd, err, errlen);
    if (rc == JAIL_SESSION_OK) {
        if (remove_locked(&store, session_id, err, errlen) != REMOVED)
            rc = JAIL_SESSION_FAILED;
        close(lock_fd);
    }
    store_close(&store);
    return rc;
}

/* ---- listing and sweeping ---- */

struct id_list {
    char (*ids)[JAIL_SESSION_ID_MAX + 1];
    size_t count;
};

/* The ids of the sessions under the root: those with metadata. */
static int list_ids(const struct store *store, struct id_list *list, char *err, size_t errlen)
{
    list->ids = NULL;
    list->count = 0;
    DIR *dir = dir_list_at(store->fd, ".");
    if (dir == NULL) {
        snprintf(err, errlen, "session: listing %s: %s", store->path, strerror(errno));
        return -1;
    }
    size_t capacity = 0, suffix_len = strlen(SUFFIX_META);
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= suffix_len || len - suffix_len > JAIL_SESSION_ID_MAX ||
            strcmp(entry->d_name + len - suffix_len, SUFFIX_META) != 0)
            continue;
        char id[JAIL_SESSION_ID_MAX + 1];
        memcpy(id, entry->d_name, len - suffix_len);
        id[len - suffix_len] = '\0';
        if (!session_id_ok(id))
            continue;
        if (list->count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            void *grown = realloc(list->ids, capacity * sizeof(*list->ids));
            if (grown == NULL) {
                snprintf(err, errlen, "session: listing %s: %s", store->path, strerror(errno));
                rc = -1;
                break;
            }
            list->ids = grown;
        }
        memcpy(list->ids[list->count++], id, sizeof(id));
    }
    closedir(dir);
    if (rc != 0) {
        free(list->ids);
        list->ids = NULL;
        list->count = 0;
    }
    return rc;
}

/* Calls fn with what there is to know of a session; closes mount_fd. */
static void report_session(const char *id, const struct session_meta *meta, int mount_fd,
                           jail_session_fn fn, void *arg)
{
    struct jail_session_info info = {
        .uid = meta->uid,
        .quota_bytes = meta->quota_bytes,
        .created_ms = meta->created_ms,
        .last_used_ms = meta->last_used_ms,
    };
    snprintf(info.id, sizeof(info.id), "%s", id);
    if (mount_fd >= 0) {
        struct statfs fs;
        if (fstatfs(mount_fd, &fs) == 0)
            info.used_bytes = (uint64_t)(fs.f_blocks - fs.f_bfree) * (uint64_t)fs.f_bsize;
        close(mount_fd);
    }
    fn(arg, &info);
}

long jail_session_list(const char *root, jail_session_fn fn, void *arg, char *err, size_t errlen)
{
    struct store store;
    enum store_opened opened = store_open(root, false, &store, err, errlen);
    if (opened != STORE_OPENED)
        return opened == STORE_ABSENT ? 0 : -1;
    struct id_list list;
    long count = -1;
    if (list_ids(&store, &list, err, errlen) != 0)
        goto out;
    count = 0;
    bool failed = false;
    /* One unreadable session does not hide the others: err keeps the first. */
    char item_err[512];
    for (size_t i = 0; i < list.count; i++) {
        struct session_meta meta;
        enum meta_read had = read_meta(&store, list.ids[i], &meta, item_err, sizeof(item_err));
        if (had == META_READ) {
            int fd;
            enum mount_point mounted =
                open_mounted(&store, list.ids[i], &fd, item_err, sizeof(item_err));
            if (mounted != MOUNT_CHECK_FAILED) {
                report_session(list.ids[i], &meta, mounted == MOUNTED ? fd : -1, fn, arg);
                count++;
                continue;
            }
        } else if (had == META_ABSENT) { /* removed since the listing */
            continue;
        }
        if (!failed)
            snprintf(err, errlen, "%s", item_err);
        failed = true;
    }
    if (failed)
        count = -1;
    free(list.ids);

out:
    store_close(&store);
    return count;
}

int jail_session_sweep(const char *root, uint64_t ttl_ms, uint64_t now_ms, size_t *removed,
                       char *err, size_t errlen)
{
    *removed = 0;
    struct store store;
    enum store_opened opened = store_open(root, false, &store, err, errlen);
    if (opened != STORE_OPENED)
        return opened == STORE_ABSENT ? 0 : -1;
    struct id_list list;
    if (list_ids(&store, &list, err, errlen) != 0) {
        store_close(&store);
        return -1;
    }
    /* One session that cannot be swept does not keep the others: err keeps
     * the first failure. */
    int rc = 0;
    char item_err[512];
    for (size_t i = 0; i < list.count; i++) {
        const char *id = list.ids[i];
        int lock_fd;
        enum jail_session_result locked =
            lock_session(&store, id, 0, &lock_fd, item_err, sizeof(item_err));
        if (locked == JAIL_SESSION_BUSY)
            continue;
        bool failed = locked == JAIL_SESSION_FAILED;
        if (locked == JAIL_SESSION_OK) {
            /* Read again under the lock: it may have been used since the listing. */
            struct session_meta meta;
            enum meta_read had = read_meta(&store, id, &meta, item_err, sizeof(item_err));
            failed = had == META_FAILED;
            if (had == META_ABSENT || (had == META_READ && now_ms > meta.last_used_ms &&
                                       now_ms - meta.last_used_ms > ttl_ms)) {
                enum removal gone = remove_locked(&store, id, item_err, sizeof(item_err));
                if (gone == REMOVED)
                    (*removed)++;
                failed = gone == REMOVE_FAILED;
            }
            close(lock_fd);
        }
        if (failed && rc == 0)
            snprintf(err, errlen, "%s", item_err);
        if (failed)
            rc = -1;
    }
    free(list.ids);
    store_close(&store);
    return rc;
}
