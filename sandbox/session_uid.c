/* Session uids (session.h): 0x71000000-0x71ffffff, next to the per-job
 * uids of user.c, each recorded host-wide, whatever the session root, as a
 * file /run/brig/session-uids/<uid> naming its session, so that no two live
 * sessions on a host ever share one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/session_impl.h"

/* Host-wide, like user.c's uid locks, whatever the session root. */
#define SESSION_UID_DIR "/run/brig/session-uids"

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
    DIR *dir = dir_list_at(dirfd, ".");
    if (dir == NULL) {
        snprintf(err, errlen, "session: listing %s: %s", SESSION_UID_DIR, strerror(errno));
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

void session_uid_release(unsigned uid, const char *owner)
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

int session_uid_for(const char *owner, const unsigned *old, unsigned *uid, char *err, size_t errlen)
{
    if (old != NULL) {
        int dirfd = open_uid_dir(err, errlen);
        if (dirfd < 0)
            return -1;
        bool kept = uid_recorded_for(dirfd, *old, owner);
        close(dirfd);
        if (kept) {
            *uid = *old;
            return 0;
        }
    }
    return claim_uid(owner, uid, err, errlen);
}
