/* The state hash of a workspace (session.h): every entry's path, type and
 * permission bits, a regular file's size and content, a symlink's target,
 * depth first in sorted order, never following a symlink nor opening
 * anything but regular files and directories. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/session.h"

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
    DIR *dir = dir_list_at(dirfd, ".");
    if (dir == NULL)
        return hash_fail(h, "listing", errno);
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
