/* Sessions (session.h): a tmpfs per session under a shared root, its
 * metadata and lock beside it, a host uid of its own for its whole life,
 * and a hash of the tree in it. The root directory is the host's (root-owned,
 * 0711): a job only ever sees the inside of its own tmpfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/magic.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/jail_host.h"
#include "sandbox/session.h"

/* Right after user.c's per-job range (0x70000000-0x70ffffff). */
#define SESSION_UID_FIRST 0x71000000u
#define SESSION_UID_LAST 0x71ffffffu
/* Host-wide, like user.c's uid locks, whatever the session root. */
#define SESSION_UID_DIR "/run/brig/session-uids"

#define SUFFIX_WORK ".work"
#define SUFFIX_META ".json"
#define SUFFIX_META_NEW ".json.new"
#define SUFFIX_LOCK ".lock"
/* An id and its longest suffix. */
#define SESSION_NAME_MAX (JAIL_SESSION_ID_MAX + sizeof(SUFFIX_META_NEW))

#define LOCK_POLL_MAX_MS 50

struct session_meta {
    unsigned uid;
    uint64_t quota_bytes;
    uint64_t created_ms;
    uint64_t last_used_ms;
};

/* The root directory of the sessions, open. */
struct store {
    int fd;
    char *path; /* canonical: uid records name sessions by it */
};

/* An acquired session, until its workspace is freed. */
struct session_hold {
    struct store store;
    char id[JAIL_SESSION_ID_MAX + 1];
    int lock_fd;
    struct session_meta meta;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool session_id_ok(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > JAIL_SESSION_ID_MAX)
        return false;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == len;
}

static int check_session_id(const char *id, char *err, size_t errlen)
{
    if (session_id_ok(id))
        return 0;
    snprintf(err, errlen, "session: session_id \"%.80s\" must be 1-%d bytes of [A-Za-z0-9._:-]",
             id ? id : "", JAIL_SESSION_ID_MAX);
    return -1;
}

static const char *session_file(char name[SESSION_NAME_MAX], const char *id, const char *suffix)
{
    snprintf(name, SESSION_NAME_MAX, "%s%s", id, suffix);
    return name;
}

/* ---- the root ---- */

static void store_close(struct store *store)
{
    if (store->fd >= 0)
        close(store->fd);
    free(store->path);
    store->fd = -1;
    store->path = NULL;
}

/* Opens root (creating it, 0711, when create is set), which must be a real
 * directory of ours that nobody else may write in. Returns 0, 1 when it does
 * not exist and create is not set, or -1. */
static int store_open(const char *root, bool create, struct store *store, char *err, size_t errlen)
{
    store->fd = -1;
    store->path = NULL;
    if (root == NULL || root[0] != '/') {
        snprintf(err, errlen, "session: the root \"%s\" must be an absolute path",
                 root ? root : "");
        return -1;
    }
    if (create && mkdir(root, 0711) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "session: creating %s: %s", root, strerror(errno));
        return -1;
    }
    store->fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (store->fd < 0) {
        if (errno == ENOENT && !create)
            return 1;
        snprintf(err, errlen, "session: opening %s: %s", root, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(store->fd, &st) != 0) {
        snprintf(err, errlen, "session: checking %s: %s", root, strerror(errno));
        goto fail;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "session: %s must be owned by uid %u, not %u", root,
                 (unsigned)geteuid(), (unsigned)st.st_uid);
        goto fail;
    }
    if (create && (st.st_mode & 07777) != 0711 && fchmod(store->fd, 0711) != 0) {
        snprintf(err, errlen, "session: setting the mode of %s to 0711: %s", root, strerror(errno));
        goto fail;
    }
    if (!create && (st.st_mode & 022)) {
        snprintf(err, errlen, "session: %s is writable by others (mode %04o)", root,
                 (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    if ((store->path = realpath(root, NULL)) == NULL) {
        snprintf(err, errlen, "session: resolving %s: %s", root, strerror(errno));
        goto fail;
    }
    return 0;

fail:
    store_close(store);
    return -1;
}

static char *work_path(const struct store *store, const char *id)
{
    char *path;
    return asprintf(&path, "%s/%s%s", store->path, id, SUFFIX_WORK) < 0 ? NULL : path;
}

/* ---- the lock ---- */

/* Whether fd is still the file at name: a remover unlinks the lock file
 * while others may be waiting on it, and they must then lock its successor. */
static int lock_still_linked(int dirfd, const char *name, int fd)
{
    struct stat held, linked;
    if (fstat(fd, &held) != 0)
        return -1;
    if (fstatat(dirfd, name, &linked, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    return held.st_dev == linked.st_dev && held.st_ino == linked.st_ino;
}

/* Takes the session's flock, waiting up to timeout_ms by polling (flock has
 * no timeout of its own). Returns 0, JAIL_SESSION_BUSY or -1. */
static int lock_session(const struct store *store, const char *id, uint64_t timeout_ms,
                        int *lock_fd, char *err, size_t errlen)
{
    char name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_LOCK);
    uint64_t start_ms = monotonic_ns() / 1000000;
    uint64_t pause_ms = 1;
    for (;;) {
        int fd = openat(store->fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "session %s: opening its lock %s/%s: %s", id, store->path, name,
                     strerror(errno));
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            int linked = lock_still_linked(store->fd, name, fd);
            if (linked == 1) {
                *lock_fd = fd;
                return 0;
            }
            int saved = errno;
            close(fd);
            if (linked < 0) {
                snprintf(err, errlen, "session %s: checking its lock %s/%s: %s", id, store->path,
                         name, strerror(saved));
                return -1;
            }
            continue;
        }
        int saved = errno;
        close(fd);
        if (saved != EWOULDBLOCK) {
            snprintf(err, errlen, "session %s: locking %s/%s: %s", id, store->path, name,
                     strerror(saved));
            return -1;
        }
        uint64_t waited_ms = monotonic_ns() / 1000000 - start_ms;
        if (waited_ms >= timeout_ms) {
            snprintf(err, errlen, "session %s is in use by another job (waited %llu ms)", id,
                     (unsigned long long)waited_ms);
            return JAIL_SESSION_BUSY;
        }
        uint64_t left_ms = timeout_ms - waited_ms;
        pause_ms = pause_ms * 2 > LOCK_POLL_MAX_MS ? LOCK_POLL_MAX_MS : pause_ms * 2;
        uint64_t nap_ms = pause_ms < left_ms ? pause_ms : left_ms;
        struct timespec nap = {.tv_sec = 0, .tv_nsec = (long)nap_ms * 1000000};
        nanosleep(&nap, NULL);
    }
}

/* ---- metadata ---- */

/* Returns 0, 1 when the session has no metadata, or -1. */
static int read_meta(const struct store *store, const char *id, struct session_meta *meta,
                     char *err, size_t errlen)
{
    char name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_META);
    int fd = openat(store->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "session %s: opening %s/%s: %s", id, store->path, name,
                 strerror(errno));
        return -1;
    }
    json_error_t error;
    json_t *doc = json_loadfd(fd, 0, &error);
    close(fd);
    json_int_t uid, quota, created, last_used;
    if (doc == NULL ||
        json_unpack_ex(doc, &error, 0, "{s:I, s:I, s:I, s:I}", "uid", &uid, "quota_bytes", &quota,
                       "created_ms", &created, "last_used_ms", &last_used) != 0) {
        snprintf(err, errlen, "session %s: reading %s/%s: %s", id, store->path, name, error.text);
        json_decref(doc);
        return -1;
    }
    json_decref(doc);
    if (uid < SESSION_UID_FIRST || uid > SESSION_UID_LAST || quota <= 0 || created < 0 ||
        last_used < 0) {
        snprintf(err, errlen,
                 "session %s: %s/%s: uid, quota_bytes, created_ms or last_used_ms is out of range",
                 id, store->path, name);
        return -1;
    }
    meta->uid = (unsigned)uid;
    meta->quota_bytes = (uint64_t)quota;
    meta->created_ms = (uint64_t)created;
    meta->last_used_ms = (uint64_t)last_used;
    return 0;
}

/* Replaces the metadata at once (a new file renamed over the old), so that a
 * reader without the lock never sees half of it. */
static int write_meta(const struct store *store, const char *id, const struct session_meta *meta,
                      char *err, size_t errlen)
{
    char name[SESSION_NAME_MAX], new_name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_META);
    session_file(new_name, id, SUFFIX_META_NEW);
    json_t *doc =
        json_pack("{s:s, s:I, s:I, s:I, s:I}", "id", id, "uid", (json_int_t)meta->uid,
                  "quota_bytes", (json_int_t)meta->quota_bytes, "created_ms",
                  (json_int_t)meta->created_ms, "last_used_ms", (json_int_t)meta->last_used_ms);
    if (doc == NULL) {
        snprintf(err, errlen, "session %s: building its metadata: out of memory", id);
        return -1;
    }
    int rc = -1;
    int fd =
        openat(store->fd, new_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "session %s: creating %s/%s: %s", id, store->path, new_name,
                 strerror(errno));
        goto out;
    }
    if (json_dumpfd(doc, fd, JSON_COMPACT) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "session %s: writing %s/%s: %s", id, store->path, new_name,
                 strerror(errno));
        goto out;
    }
    if (renameat(store->fd, new_name, store->fd, name) != 0) {
        snprintf(err, errlen, "session %s: renaming %s/%s to %s: %s", id, store->path, new_name,
                 name, strerror(errno));
        goto out;
    }
    rc = 0;

out:
    if (fd >= 0) {
        close(fd);
        if (rc != 0)
            unlinkat(store->fd, new_name, 0);
    }
    json_decref(doc);
    return rc;
}

/* ---- session uids ---- */

static int compare_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

static int open_uid_dir(char *err, size_t errlen)
{
    if (mkdir(SESSION_UID_DIR, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "session: creating %s: %s", SESSION_UID_DIR, strerror(errno));
        return -1;
    }
    int fd = open(SESSION_UID_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        snprintf(err, errlen, "session: opening %s: %s", SESSION_UID_DIR, strerror(errno));
    return fd;
}

/* The session uids recorded in dirfd, sorted. */
static int taken_uids(int dirfd, unsigned **out, size_t *count, char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    int listfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = listfd >= 0 ? fdopendir(listfd) : NULL;
    if (dir == NULL) {
        snprintf(err, errlen, "session: listing %s: %s", SESSION_UID_DIR, strerror(errno));
        if (listfd >= 0)
            close(listfd);
        return -1;
    }
    size_t capacity = 0;
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        unsigned long uid = strtoul(entry->d_name, &end, 10);
        if (*end != '\0' || end == entry->d_name || uid < SESSION_UID_FIRST ||
            uid > SESSION_UID_LAST)
            continue;
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            unsigned *grown = realloc(*out, capacity * sizeof(*grown));
            if (grown == NULL) {
                snprintf(err, errlen, "session: listing %s: %s", SESSION_UID_DIR, strerror(errno));
                rc = -1;
                break;
            }
            *out = grown;
        }
        (*out)[(*count)++] = (unsigned)uid;
    }
    closedir(dir);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *count = 0;
        return -1;
    }
    if (*count > 1)
        qsort(*out, *count, sizeof(**out), compare_unsigned);
    return 0;
}

/* Claims the lowest free session uid for owner ("<root>/<id>"): creating its
 * record with O_EXCL is the claim, so two processes never get the same. */
static int claim_uid(const char *owner, unsigned *uid, char *err, size_t errlen)
{
    int dirfd = open_uid_dir(err, errlen);
    if (dirfd < 0)
        return -1;
    unsigned *taken;
    size_t n_taken;
    if (taken_uids(dirfd, &taken, &n_taken, err, errlen) != 0) {
        close(dirfd);
        return -1;
    }
    int rc = -1;
    bool exhausted = true;
    size_t next_taken = 0;
    for (uint64_t candidate = SESSION_UID_FIRST; candidate <= SESSION_UID_LAST; candidate++) {
        while (next_taken < n_taken && taken[next_taken] < candidate)
            next_taken++;
        if (next_taken < n_taken && taken[next_taken] == candidate)
            continue;
        char name[16];
        snprintf(name, sizeof(name), "%u", (unsigned)candidate);
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        exhausted = false;
        if (fd < 0) {
            snprintf(err, errlen, "session: creating %s/%s: %s", SESSION_UID_DIR, name,
                     strerror(errno));
            break;
        }
        bool written = dprintf(fd, "%s\n", owner) == (int)strlen(owner) + 1;
        int saved = errno;
        close(fd);
        if (!written) {
            unlinkat(dirfd, name, 0);
            snprintf(err, errlen, "session: writing %s/%s: %s", SESSION_UID_DIR, name,
                     strerror(saved));
            break;
        }
        *uid = (unsigned)candidate;
        rc = 0;
        break;
    }
    if (exhausted)
        snprintf(err, errlen, "session: all %u session uids of the host are taken",
                 SESSION_UID_LAST - SESSION_UID_FIRST + 1);
    free(taken);
    close(dirfd);
    return rc;
}

/* Whether the record of uid exists and names owner. */
static bool uid_recorded_for(int dirfd, unsigned uid, const char *owner)
{
    char name[16];
    snprintf(name, sizeof(name), "%u", uid);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len = strlen(owner);
    char buf[PATH_MAX + JAIL_SESSION_ID_MAX + 4];
    ssize_t n = len + 2 <= sizeof(buf) ? read(fd, buf, len + 2) : -1;
    close(fd);
    return n == (ssize_t)len + 1 && memcmp(buf, owner, len) == 0 && buf[len] == '\n';
}

/* Gives uid back, if its record is still owner's. */
static void release_uid(unsigned uid, const char *owner)
{
    int dirfd = open(SESSION_UID_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0)
        return;
    if (uid_recorded_for(dirfd, uid, owner)) {
        char name[16];
        snprintf(name, sizeof(name), "%u", uid);
        unlinkat(dirfd, name, 0);
    }
    close(dirfd);
}

/* The uid for a session whose tmpfs is to be made: the one it had, while its
 * record still names it (it loses it when /run was cleared by a reboot), else
 * a fresh one. */
static int uid_for_new_tmpfs(const char *owner, const struct session_meta *old, unsigned *uid,
                             char *err, size_t errlen)
{
    if (old != NULL) {
        int dirfd = open_uid_dir(err, errlen);
        if (dirfd < 0)
            return -1;
        bool kept = uid_recorded_for(dirfd, old->uid, owner);
        close(dirfd);
        if (kept) {
            *uid = old->uid;
            return 0;
        }
    }
    return claim_uid(owner, uid, err, errlen);
}

/* ---- the tmpfs ---- */

/* Opens the session's mount point. Returns 1 and an O_PATH descriptor when a
 * file system is mounted there, 0 when not, or -1. */
static int open_mounted(const struct store *store, const char *id, int *fd_out, char *err,
                        size_t errlen)
{
    char name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_WORK);
    int fd = openat(store->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "session %s: opening %s/%s: %s", id, store->path, name,
                 strerror(errno));
        return -1;
    }
    struct stat mount_point, root;
    if (fstat(fd, &mount_point) != 0 || fstat(store->fd, &root) != 0) {
        snprintf(err, errlen, "session %s: checking %s/%s: %s", id, store->path, name,
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (mount_point.st_dev == root.st_dev) {
        close(fd);
        return 0;
    }
    *fd_out = fd;
    return 1;
}

/* The session's tmpfs as it is, or a new one when it has none (first use,
 * or its tmpfs went with a reboot). Fills hold->meta. */
static int open_tmpfs(struct session_hold *hold, uint64_t quota_bytes, int *fd_out, char *err,
                      size_t errlen)
{
    const struct store *store = &hold->store;
    const char *id = hold->id;
    struct session_meta old;
    int missing = read_meta(store, id, &old, err, errlen);
    if (missing < 0)
        return -1;
    if (!missing) {
        int mounted = open_mounted(store, id, fd_out, err, errlen);
        if (mounted < 0)
            return -1;
        if (mounted) {
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
    if (uid_for_new_tmpfs(owner, missing ? NULL : &old, &meta.uid, err, errlen) != 0)
        goto out;
    meta.created_ms = meta.last_used_ms = wall_ms();
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
    int mounted = open_mounted(store, id, fd_out, err, errlen);
    if (mounted == 0)
        snprintf(err, errlen, "session %s: %s is not a mount point after mounting it", id, path);
    if (mounted != 1)
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

/* jail_workspace_free() of a session's workspace: the tmpfs stays. */
static void release_session(void *arg)
{
    struct session_hold *hold = arg;
    hold->meta.last_used_ms = wall_ms();
    char err[512];
    if (write_meta(&hold->store, hold->id, &hold->meta, err, sizeof(err)) != 0)
        fprintf(stderr, "brig: recording the last use of a session: %s\n", err);
    hold_free(hold);
}

int jail_session_acquire(struct jail_context *ctx, const char *root, const char *session_id,
                         uint64_t quota_bytes, uint64_t timeout_ms, struct jail_workspace **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    if (check_session_id(session_id, err, errlen) != 0)
        return -1;
    if (quota_bytes == 0) {
        snprintf(err, errlen, "session %s: quota_bytes is 0", session_id);
        return -1;
    }
    struct session_hold *hold = calloc(1, sizeof(*hold));
    if (hold == NULL) {
        snprintf(err, errlen, "session %s: allocating: %s", session_id, strerror(errno));
        return -1;
    }
    hold->lock_fd = -1;
    snprintf(hold->id, sizeof(hold->id), "%s", session_id);
    int rc = -1, workfd = -1;
    char *path = NULL;
    if (store_open(root, true, &hold->store, err, errlen) != 0)
        goto fail;
    if ((rc = lock_session(&hold->store, session_id, timeout_ms, &hold->lock_fd, err, errlen)) != 0)
        goto fail;
    rc = -1;
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
    return 0;

fail:
    if (workfd >= 0)
        close(workfd);
    free(path);
    hold_free(hold);
    return rc;
}

/* ---- removal ---- */

/* Removes the locked session: its tmpfs, mount point, metadata, uid record
 * and, last, its lock file. Returns 0, 1 when there was no session, or -1. */
static int remove_locked(const struct store *store, const char *id, char *err, size_t errlen)
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
    bool have_meta = read_meta(store, id, &meta, meta_err, sizeof(meta_err)) == 0;
    struct stat st;
    bool have_work = fstatat(store->fd, work, &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool have_meta_file = fstatat(store->fd, meta_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have_work && !have_meta_file) {
        snprintf(err, errlen, "there is no session %s in %s", id, store->path);
        unlinkat(store->fd, lock, 0);
        return 1;
    }
    if (have_work) {
        char *path = work_path(store, id);
        if (path == NULL) {
            snprintf(err, errlen, "session %s: allocating: %s", id, strerror(errno));
            return -1;
        }
        int rc = workspace_unmount(path);
        if (rc != 0)
            snprintf(err, errlen, "session %s: unmounting %s: %s", id, path, strerror(errno));
        free(path);
        if (rc != 0)
            return -1;
        if (unlinkat(store->fd, work, AT_REMOVEDIR) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "session %s: removing %s/%s: %s", id, store->path, work,
                     strerror(errno));
            return -1;
        }
    }
    if ((unlinkat(store->fd, meta_name, 0) != 0 && errno != ENOENT) ||
        (unlinkat(store->fd, new_name, 0) != 0 && errno != ENOENT)) {
        snprintf(err, errlen, "session %s: removing its metadata from %s: %s", id, store->path,
                 strerror(errno));
        return -1;
    }
    if (have_meta) {
        char *owner;
        if (asprintf(&owner, "%s/%s", store->path, id) < 0) {
            snprintf(err, errlen, "session %s: allocating: %s", id, strerror(errno));
            return -1;
        }
        release_uid(meta.uid, owner);
        free(owner);
    }
    if (unlinkat(store->fd, lock, 0) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "session %s: removing %s/%s: %s", id, store->path, lock,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int jail_session_remove(const char *root, const char *session_id, uint64_t timeout_ms, char *err,
                        size_t errlen)
{
    if (check_session_id(session_id, err, errlen) != 0)
        return -1;
    struct store store;
    int opened = store_open(root, false, &store, err, errlen);
    if (opened != 0) {
        if (opened == 1)
            snprintf(err, errlen, "there is no session %s: %s does not exist", session_id, root);
        return -1;
    }
    int lock_fd = -1;
    int rc = lock_session(&store, session_id, timeout_ms, &lock_fd, err, errlen);
    if (rc == 0) {
        rc = remove_locked(&store, session_id, err, errlen) == 0 ? 0 : -1;
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
    int listfd = openat(store->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = listfd >= 0 ? fdopendir(listfd) : NULL;
    if (dir == NULL) {
        snprintf(err, errlen, "session: listing %s: %s", store->path, strerror(errno));
        if (listfd >= 0)
            close(listfd);
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
    int opened = store_open(root, false, &store, err, errlen);
    if (opened != 0)
        return opened == 1 ? 0 : -1;
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
        int missing = read_meta(&store, list.ids[i], &meta, item_err, sizeof(item_err));
        if (missing == 0) {
            int fd;
            int mounted = open_mounted(&store, list.ids[i], &fd, item_err, sizeof(item_err));
            if (mounted >= 0) {
                report_session(list.ids[i], &meta, mounted ? fd : -1, fn, arg);
                count++;
                continue;
            }
        } else if (missing == 1) { /* removed since the listing */
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
    int opened = store_open(root, false, &store, err, errlen);
    if (opened != 0)
        return opened == 1 ? 0 : -1;
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
        int locked = lock_session(&store, id, 0, &lock_fd, item_err, sizeof(item_err));
        if (locked == JAIL_SESSION_BUSY)
            continue;
        int outcome = locked;
        if (locked == 0) {
            /* Read again under the lock: it may have been used since the listing. */
            struct session_meta meta;
            int missing = read_meta(&store, id, &meta, item_err, sizeof(item_err));
            outcome = missing < 0 ? -1 : 0;
            if (missing == 1 || (missing == 0 && now_ms > meta.last_used_ms &&
                                 now_ms - meta.last_used_ms > ttl_ms)) {
                int gone = remove_locked(&store, id, item_err, sizeof(item_err));
                if (gone == 0)
                    (*removed)++;
                outcome = gone < 0 ? -1 : 0;
            }
            close(lock_fd);
        }
        if (outcome != 0 && rc == 0)
            snprintf(err, errlen, "%s", item_err);
        if (outcome != 0)
            rc = -1;
    }
    free(list.ids);
    store_close(&store);
    return rc;
}

/* ---- the state hash ---- */

#define HASH_MAX_DEPTH 128
#define HASH_MAX_ENTRIES 1000000
#define HASH_READ_BYTES 65536

struct tree_hash {
    EVP_MD_CTX *tree;
    EVP_MD_CTX *file;
    unsigned char *buf; /* HASH_READ_BYTES */
    size_t entries;
    char path[PATH_MAX]; /* of the entry at hand, relative to /work */
    char *err;
    size_t errlen;
};

static void put_be(unsigned char *out, uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, value >>= 8)
        out[i] = (unsigned char)value;
}

static int hash_fail(struct tree_hash *h, const char *what, int error)
{
    snprintf(h->err, h->errlen, "hashing the workspace: %s /work/%s: %s", what, h->path,
             strerror(error));
    return -1;
}

static int feed(struct tree_hash *h, const void *data, size_t len)
{
    if (EVP_DigestUpdate(h->tree, data, len) != 1) {
        snprintf(h->err, h->errlen, "hashing the workspace: libcrypto failed");
        return -1;
    }
    return 0;
}

static char type_letter(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return 'f';
    case S_IFDIR:
        return 'd';
    case S_IFLNK:
        return 'l';
    case S_IFIFO:
        return 'p';
    case S_IFSOCK:
        return 's';
    case S_IFCHR:
        return 'c';
    case S_IFBLK:
        return 'b';
    default:
        return '?';
    }
}

/* What every entry contributes first: type, permission bits and path, each
 * length-prefixed so that no two trees feed the same bytes. */
static int feed_header(struct tree_hash *h, const struct stat *st)
{
    size_t path_len = strlen(h->path);
    unsigned char header[9];
    header[0] = (unsigned char)type_letter(st->st_mode);
    put_be(header + 1, st->st_mode & 07777, 4);
    put_be(header + 5, path_len, 4);
    if (feed(h, header, sizeof(header)) != 0 || feed(h, h->path, path_len) != 0)
        return -1;
    return 0;
}

/* Opens name in dirfd, never through a symlink and never blocking, and
 * checks it is still the entry that was stat'ed. */
static int open_entry(struct tree_hash *h, int dirfd, const char *name, const struct stat *seen,
                      int flags)
{
    int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return hash_fail(h, "opening", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return hash_fail(h, "checking", saved);
    }
    if (st.st_ino != seen->st_ino || st.st_dev != seen->st_dev ||
        (st.st_mode & S_IFMT) != (seen->st_mode & S_IFMT)) {
        close(fd);
        return hash_fail(h, "opening", ESTALE);
    }
    return fd;
}

static int feed_file(struct tree_hash *h, int dirfd, const char *name, const struct stat *st)
{
    int fd = open_entry(h, dirfd, name, st, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = -1;
    uint64_t size = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    if (EVP_DigestInit_ex(h->file, EVP_sha256(), NULL) != 1)
        goto crypto_fail;
    for (;;) {
        ssize_t n = read(fd, h->buf, HASH_READ_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            hash_fail(h, "reading", errno);
            goto out;
        }
        if (n == 0)
            break;
        size += (uint64_t)n;
        if (EVP_DigestUpdate(h->file, h->buf, (size_t)n) != 1)
            goto crypto_fail;
    }
    if (EVP_DigestFinal_ex(h->file, digest, &digest_len) != 1)
        goto crypto_fail;
    unsigned char size_be[8];
    put_be(size_be, size, 8);
    if (feed(h, size_be, sizeof(size_be)) == 0 && feed(h, digest, digest_len) == 0)
        rc = 0;
    goto out;

crypto_fail:
    snprintf(h->err, h->errlen, "hashing the workspace: libcrypto failed on /work/%s", h->path);
out:
    close(fd);
    return rc;
}

static int feed_symlink(struct tree_hash *h, int dirfd, const char *name)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, target, sizeof(target));
    if (n < 0)
        return hash_fail(h, "reading the link", errno);
    if ((size_t)n == sizeof(target))
        return hash_fail(h, "reading the link", ENAMETOOLONG);
    unsigned char len_be[4];
    put_be(len_be, (uint64_t)n, 4);
    if (feed(h, len_be, sizeof(len_be)) != 0 || feed(h, target, (size_t)n) != 0)
        return -1;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory dirfd, sorted. */
static int read_names(struct tree_hash *h, int dirfd, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    int listfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = listfd >= 0 ? fdopendir(listfd) : NULL;
    if (dir == NULL) {
        int saved = errno;
        if (listfd >= 0)
            close(listfd);
        return hash_fail(h, "listing", saved);
    }
    size_t capacity = 0;
    int rc = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (++h->entries > HASH_MAX_ENTRIES) {
            snprintf(h->err, h->errlen, "hashing the workspace: it has more than %d entries",
                     HASH_MAX_ENTRIES);
            rc = -1;
            break;
        }
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 32;
            char **grown = realloc(*names, capacity * sizeof(*grown));
            if (grown == NULL) {
                rc = hash_fail(h, "listing", errno);
                break;
            }
            *names = grown;
        }
        if (((*names)[*count] = strdup(entry->d_name)) == NULL) {
            rc = hash_fail(h, "listing", errno);
            break;
        }
        (*count)++;
    }
    closedir(dir);
    if (rc == 0 && *count > 1)
        qsort(*names, *count, sizeof(**names), compare_names);
    return rc;
}

/* Feeds the entries of the directory dirfd (h->path), depth first. */
static int feed_dir(struct tree_hash *h, int dirfd, unsigned depth)
{
    char **names;
    size_t count;
    int rc = read_names(h, dirfd, &names, &count);
    size_t path_len = strlen(h->path);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *name = names[i];
        int n = snprintf(h->path + path_len, sizeof(h->path) - path_len, "%s%s",
                         path_len ? "/" : "", name);
        if (n < 0 || (size_t)n >= sizeof(h->path) - path_len) {
            h->path[path_len] = '\0';
            rc = hash_fail(h, "naming an entry of", ENAMETOOLONG);
            break;
        }
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = hash_fail(h, "checking", errno);
            break;
        }
        if ((rc = feed_header(h, &st)) != 0)
            break;
        if (S_ISREG(st.st_mode)) {
            rc = feed_file(h, dirfd, name, &st);
        } else if (S_ISLNK(st.st_mode)) {
            rc = feed_symlink(h, dirfd, name);
        } else if (S_ISDIR(st.st_mode)) {
            if (depth + 1 > HASH_MAX_DEPTH) {
                snprintf(h->err, h->errlen,
                         "hashing the workspace: /work/%s is more than %d directories deep",
                         h->path, HASH_MAX_DEPTH);
                rc = -1;
                break;
            }
            int subdir = open_entry(h, dirfd, name, &st, O_RDONLY | O_DIRECTORY);
            if (subdir < 0) {
                rc = -1;
                break;
            }
            rc = feed_dir(h, subdir, depth + 1);
            close(subdir);
        }
        h->path[path_len] = '\0';
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

int jail_workspace_state_hash(const struct jail_workspace *ws, char hex[65], char *err,
                              size_t errlen)
{
    hex[0] = '\0';
    struct tree_hash h = {.err = err, .errlen = errlen};
    int rc = -1, dirfd = -1;
    h.tree = EVP_MD_CTX_new();
    h.file = EVP_MD_CTX_new();
    h.buf = malloc(HASH_READ_BYTES);
    if (h.tree == NULL || h.file == NULL || h.buf == NULL) {
        snprintf(err, errlen, "hashing the workspace: out of memory");
        goto out;
    }
    dirfd = openat(jail_workspace_dirfd(ws), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (dirfd < 0 || fstat(dirfd, &st) != 0) {
        hash_fail(&h, "opening", errno);
        goto out;
    }
    static const char version[] = "brig workspace state v1";
    if (EVP_DigestInit_ex(h.tree, EVP_sha256(), NULL) != 1) {
        snprintf(err, errlen, "hashing the workspace: libcrypto failed");
        goto out;
    }
    if (feed(&h, version, sizeof(version)) != 0 || feed_header(&h, &st) != 0 ||
        feed_dir(&h, dirfd, 0) != 0)
        goto out;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    if (EVP_DigestFinal_ex(h.tree, digest, &digest_len) != 1 || digest_len != 32) {
        snprintf(err, errlen, "hashing the workspace: libcrypto failed");
        goto out;
    }
    for (unsigned i = 0; i < digest_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    rc = 0;

out:
    if (dirfd >= 0)
        close(dirfd);
    EVP_MD_CTX_free(h.tree);
    EVP_MD_CTX_free(h.file);
    free(h.buf);
    return rc;
}
