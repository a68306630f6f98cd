/* Sessions' root directory, each session's lock and its metadata (see
 * session.h and session_impl.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/jail_host.h"
#include "sandbox/session_impl.h"
#include "common/common.h"

#define LOCK_POLL_MAX_MS 50

bool session_id_ok(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > JAIL_SESSION_ID_MAX)
        return false;
    return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == len;
}

int check_session_id(const char *id, char *err, size_t errlen)
{
    if (session_id_ok(id))
        return 0;
    snprintf(err, errlen, "session: session_id \"%.80s\" must be 1-%d bytes of [A-Za-z0-9._:-]",
             id ? id : "", JAIL_SESSION_ID_MAX);
    return -1;
}

const char *session_file(char name[SESSION_NAME_MAX], const char *id, const char *suffix)
{
    snprintf(name, SESSION_NAME_MAX, "%s%s", id, suffix);
    return name;
}

/* ---- the root ---- */

void store_close(struct store *store)
{
    if (store->fd >= 0)
        close(store->fd);
    free(store->path);
    store->fd = -1;
    store->path = NULL;
}

enum store_opened store_open(const char *root, bool create, struct store *store, char *err,
                             size_t errlen)
{
    store->fd = -1;
    store->path = NULL;
    if (root == NULL || root[0] != '/') {
        snprintf(err, errlen, "session: the root \"%s\" must be an absolute path",
                 root ? root : "");
        return STORE_FAILED;
    }
    if (create && mkdir(root, 0711) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "session: creating %s: %s", root, strerror(errno));
        return STORE_FAILED;
    }
    store->fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (store->fd < 0) {
        if (errno == ENOENT && !create)
            return STORE_ABSENT;
        snprintf(err, errlen, "session: opening %s: %s", root, strerror(errno));
        return STORE_FAILED;
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
    return STORE_OPENED;

fail:
    store_close(store);
    return STORE_FAILED;
}

char *work_path(const struct store *store, const char *id)
{
    char *path;
    return asprintf(&path, "%s/%s%s", store->path, id, SUFFIX_WORK) < 0 ? NULL : path;
}

/* ---- the lock ---- */

enum lock_file { LOCK_CHECK_FAILED = -1, LOCK_UNLINKED, LOCK_LINKED };

/* Whether fd is still the file at name: a remover unlinks the lock file
 * while others may be waiting on it, and they must then lock its successor. */
static enum lock_file lock_still_linked(int dirfd, const char *name, int fd)
{
    struct stat held, linked;
    if (fstat(fd, &held) != 0)
        return LOCK_CHECK_FAILED;
    if (fstatat(dirfd, name, &linked, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? LOCK_UNLINKED : LOCK_CHECK_FAILED;
    return held.st_dev == linked.st_dev && held.st_ino == linked.st_ino ? LOCK_LINKED
                                                                        : LOCK_UNLINKED;
}

enum jail_session_result lock_session(const struct store *store, const char *id,
                                      uint64_t timeout_ms, int *lock_fd, char *err, size_t errlen)
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
            return JAIL_SESSION_FAILED;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            enum lock_file linked = lock_still_linked(store->fd, name, fd);
            if (linked == LOCK_LINKED) {
                *lock_fd = fd;
                return JAIL_SESSION_OK;
            }
            int saved = errno;
            close(fd);
            if (linked == LOCK_CHECK_FAILED) {
                snprintf(err, errlen, "session %s: checking its lock %s/%s: %s", id, store->path,
                         name, strerror(saved));
                return JAIL_SESSION_FAILED;
            }
            continue;
        }
        int saved = errno;
        close(fd);
        if (saved != EWOULDBLOCK) {
            snprintf(err, errlen, "session %s: locking %s/%s: %s", id, store->path, name,
                     strerror(saved));
            return JAIL_SESSION_FAILED;
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

enum meta_read read_meta(const struct store *store, const char *id, struct session_meta *meta,
                         char *err, size_t errlen)
{
    char name[SESSION_NAME_MAX];
    session_file(name, id, SUFFIX_META);
    int fd = openat(store->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return META_ABSENT;
        snprintf(err, errlen, "session %s: opening %s/%s: %s", id, store->path, name,
                 strerror(errno));
        return META_FAILED;
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
        return META_FAILED;
    }
    json_decref(doc);
    if (uid < SESSION_UID_FIRST || uid > SESSION_UID_LAST || quota <= 0 || created < 0 ||
        last_used < 0) {
        snprintf(err, errlen,
                 "session %s: %s/%s: uid, quota_bytes, created_ms or last_used_ms is out of range",
                 id, store->path, name);
        return META_FAILED;
    }
    meta->uid = (unsigned)uid;
    meta->quota_bytes = (uint64_t)quota;
    meta->created_ms = (uint64_t)created;
    meta->last_used_ms = (uint64_t)last_used;
    return META_READ;
}

int write_meta(const struct store *store, const char *id, const struct session_meta *meta,
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
