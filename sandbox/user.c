/* Host uids for jails, and the user namespace that maps one of them to the
 * job's uid inside.
 *
 * Jails run as host uids in 0x70000000-0x70ffffff: above the range systemd
 * gives containers (0x00080000-0x6fffffff) and below its "foreign" range
 * (0x7ffe0000), so no account, file or other tool owns them. The range is cut
 * into chunks of 1024 uids; a context claims the chunks it needs by holding an
 * exclusive flock on /run/brig/uids/<chunk> (whatever its state directory),
 * so two processes on one host never share a uid, and a crashed process's
 * chunks are free again the moment it is gone. The gid of a jail is the same
 * number as its uid. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/jail_host.h"

#define UID_RANGE_FIRST 0x70000000u
#define UID_CHUNK 1024u
#define UID_CHUNK_COUNT 16384u

/* Headroom over max_jails: a workspace can be made for the next step of a job
 * while the last jail of its previous step is still being torn down. */
#define UIDS_PER_JAIL 2

static uid_t chunk_uid(uint32_t chunk, size_t offset)
{
    return (uid_t)(UID_RANGE_FIRST + chunk * UID_CHUNK + offset);
}

int uid_pool_claim(struct uid_pool *pool, const char *dir, unsigned max_jails, char *err,
                   size_t errlen)
{
    memset(pool, 0, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    size_t wanted = ((size_t)max_jails * UIDS_PER_JAIL + UID_CHUNK - 1) / UID_CHUNK;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(err, errlen, "opening %s: %s", dir, strerror(errno));
        return -1;
    }
    pool->chunks = calloc(wanted, sizeof(*pool->chunks));
    pool->lock_fds = calloc(wanted, sizeof(*pool->lock_fds));
    pool->in_use = calloc(wanted * UID_CHUNK, 1);
    if (pool->chunks == NULL || pool->lock_fds == NULL || pool->in_use == NULL) {
        snprintf(err, errlen, "allocating the uid pool: %s", strerror(errno));
        goto fail;
    }
    for (uint32_t chunk = 0; chunk < UID_CHUNK_COUNT && pool->n_chunks < wanted; chunk++) {
        char name[16];
        snprintf(name, sizeof(name), "%u", chunk);
        int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "opening the uid lock %s/%s: %s", dir, name, strerror(errno));
            goto fail;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int saved = errno;
            close(fd);
            if (saved == EWOULDBLOCK)
                continue;
            snprintf(err, errlen, "locking %s/%s: %s", dir, name, strerror(saved));
            goto fail;
        }
        pool->chunks[pool->n_chunks] = chunk;
        pool->lock_fds[pool->n_chunks] = fd;
        pool->n_chunks++;
    }
    if (pool->n_chunks < wanted) {
        snprintf(err, errlen,
                 "only %zu of the %zu chunks of %u host uids this context needs are free "
                 "(other brig processes hold the rest)",
                 pool->n_chunks, wanted, UID_CHUNK);
        goto fail;
    }
    pool->size = wanted * UID_CHUNK;
    close(dirfd);
    return 0;

fail:
    close(dirfd);
    uid_pool_release(pool);
    return -1;
}

void uid_pool_release(struct uid_pool *pool)
{
    for (size_t i = 0; i < pool->n_chunks; i++)
        close(pool->lock_fds[i]);
    free(pool->chunks);
    free(pool->lock_fds);
    free(pool->in_use);
    free(pool->guests);
    pthread_mutex_destroy(&pool->lock);
    memset(pool, 0, sizeof(*pool));
}

int uid_pool_get(struct uid_pool *pool, uid_t *out)
{
    int rc = -1;
    pthread_mutex_lock(&pool->lock);
    /* Round-robin, so that a uid just given back is the last to be reused. */
    for (size_t tried = 0; tried < pool->size; tried++) {
        size_t slot = (pool->next + tried) % pool->size;
        if (!pool->in_use[slot]) {
            pool->in_use[slot] = 1;
            pool->next = (slot + 1) % pool->size;
            *out = chunk_uid(pool->chunks[slot / UID_CHUNK], slot % UID_CHUNK);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

static bool uid_slot(const struct uid_pool *pool, uid_t uid, size_t *slot)
{
    if (uid < UID_RANGE_FIRST)
        return false;
    uint32_t chunk = (uid - UID_RANGE_FIRST) / UID_CHUNK;
    for (size_t i = 0; i < pool->n_chunks; i++) {
        if (pool->chunks[i] == chunk) {
            *slot = i * UID_CHUNK + (uid - UID_RANGE_FIRST) % UID_CHUNK;
            return true;
        }
    }
    return false;
}

void uid_pool_put(struct uid_pool *pool, uid_t uid)
{
    size_t slot;
    pthread_mutex_lock(&pool->lock);
    if (uid_slot(pool, uid, &slot))
        pool->in_use[slot] = 0;
    pthread_mutex_unlock(&pool->lock);
}

bool uid_pool_owns(struct uid_pool *pool, uid_t uid)
{
    size_t slot;
    if (uid_slot(pool, uid, &slot))
        return true;
    bool guest = false;
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->n_guests && !guest; i++)
        guest = pool->guests[i] == uid;
    pthread_mutex_unlock(&pool->lock);
    return guest;
}

int uid_pool_add_guest(struct uid_pool *pool, uid_t uid)
{
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->n_guests == pool->guests_capacity) {
        size_t capacity = pool->guests_capacity ? 2 * pool->guests_capacity : 8;
        uid_t *grown = realloc(pool->guests, capacity * sizeof(*grown));
        if (grown == NULL) {
            rc = -1;
            goto out;
        }
        pool->guests = grown;
        pool->guests_capacity = capacity;
    }
    pool->guests[pool->n_guests++] = uid;

out:
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void uid_pool_remove_guest(struct uid_pool *pool, uid_t uid)
{
    pthread_mutex_lock(&pool->lock);
    for (size_t i = 0; i < pool->n_guests; i++) {
        if (pool->guests[i] == uid) {
            pool->guests[i] = pool->guests[--pool->n_guests];
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

static int write_proc_file(pid_t pid, const char *file, const char *text, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) {
        snprintf(err, errlen, "writing \"%.*s\" to %s: %s", (int)strcspn(text, "\n"), text, path,
                 n < 0 ? strerror(saved) : "short write");
        return -1;
    }
    return 0;
}

int user_write_id_maps(pid_t pid, uid_t host_uid, char *err, size_t errlen)
{
    /* setgroups stays "allow": the child inherited the worker's supplementary
     * groups (root's among them) and must be able to drop them. Writing
     * "deny" would freeze them in place for the job. Only the mapped gid can
     * ever be added back. */
    char map[64];
    snprintf(map, sizeof(map), "%d %u 1\n", JAIL_INSIDE_ID, (unsigned)host_uid);
    if (write_proc_file(pid, "uid_map", map, err, errlen) != 0)
        return -1;
    return write_proc_file(pid, "gid_map", map, err, errlen);
}

int user_become_jail_user(struct jail_fail *fail)
{
    /* Raw system calls: glibc's wrappers would try to signal the threads of
     * the process this child was forked from. Capabilities survive the
     * switch: uid 0 is not mapped in this namespace, so the kernel does not
     * treat this as root giving up its uid. */
    if (syscall(SYS_setgroups, 0, NULL) != 0)
        return fail_at(fail, "drop supplementary groups", errno);
    if (syscall(SYS_setresgid, JAIL_INSIDE_ID, JAIL_INSIDE_ID, JAIL_INSIDE_ID) != 0)
        return fail_at(fail, "setresgid to the jail group", errno);
    if (syscall(SYS_setresuid, JAIL_INSIDE_ID, JAIL_INSIDE_ID, JAIL_INSIDE_ID) != 0)
        return fail_at(fail, "setresuid to the jail user", errno);
    return 0;
}
