/* Two walks of a tree, each into one SHA-256:
 *
 * the image's digest, over the unpacked tree: for each entry its type,
 * mode, path, and the SHA-256 of a file's content or a link's target. The
 * order is canonical: a directory's entries in byte order of their names,
 * then each subdirectory's the same way. Owners are not in it (everything
 * is root's), nor times, so the same tree has the same digest whatever
 * archive it came from and whenever it was unpacked.
 *
 * the source's cache key: what stat says of each entry (type, mode, owner,
 * size, inode, modification and change times) and link targets, without
 * reading a byte of content. A change to a file changes its ctime, which no
 * one but root can set back.
 *
 * Walks never follow a link nor cross into another mount, and hold one
 * directory open at a time whatever the depth. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/image_internal.h"

/* Bumped when the unpacker's output changes, so that caches are rebuilt. */
#define UNPACKER_VERSION 1

struct walk {
    int root_fd;
    bool content; /* the digest; else the key */
    EVP_MD_CTX *md;
    char *err;
    size_t errlen;
};

static int update(struct walk *w, const void *data, size_t len)
{
    if (EVP_DigestUpdate(w->md, data, len) != 1) {
        snprintf(w->err, w->errlen, "hashing: libcrypto failed");
        return -1;
    }
    return 0;
}

/* "<64 hex>" of a file's content. */
static int hash_file(struct walk *w, int dirfd, const char *name, const char *path, char hex[65])
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE], buf[64 << 10];
    unsigned len = 0;
    ssize_t n = -1;
    if (fd >= 0 && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
            if (n > 0 && EVP_DigestUpdate(md, buf, (size_t)n) != 1)
                break;
        }
    }
    int saved = errno;
    if (n == 0 && EVP_DigestFinal_ex(md, digest, &len) == 1 && len == 32) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    } else {
        snprintf(w->err, w->errlen, "reading %s: %s", path, strerror(saved));
        len = 0;
    }
    EVP_MD_CTX_free(md);
    if (fd >= 0)
        close(fd);
    return len == 32 ? 0 : -1;
}

static char type_char(mode_t mode)
{
    return S_ISDIR(mode) ? 'd' : S_ISREG(mode) ? 'f' : S_ISLNK(mode) ? 'l' : 'o';
}

/* One entry's record. */
static int record(struct walk *w, int dirfd, const char *name, const char *path,
                  const struct stat *st)
{
    char line[PATH_MAX + 256], extra[PATH_MAX + 96] = "";
    int n;
    if (w->content)
        n = snprintf(line, sizeof(line), "%c %04o %s", type_char(st->st_mode),
                     (unsigned)(st->st_mode & 07777), path);
    else
        n = snprintf(line, sizeof(line), "%c %o %u %u %lld %llu %lld.%09ld %lld.%09ld %s",
                     type_char(st->st_mode), (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid,
                     (unsigned)st->st_gid, (long long)st->st_size, (unsigned long long)st->st_ino,
                     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                     (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec, path);
    if (S_ISLNK(st->st_mode)) {
        ssize_t len = readlinkat(dirfd, name, extra, sizeof(extra) - 1);
        if (len < 0) {
            snprintf(w->err, w->errlen, "reading the link %s: %s", path, strerror(errno));
            return -1;
        }
        extra[len] = '\0';
    } else if (S_ISREG(st->st_mode) && w->content) {
        char hex[65];
        if (hash_file(w, dirfd, name, path, hex) != 0)
            return -1;
        snprintf(extra, sizeof(extra), "%lld %s", (long long)st->st_size, hex);
    }
    /* NULs end the fields: paths and targets may hold any other byte. */
    return update(w, line, (size_t)n + 1) != 0 || update(w, extra, strlen(extra) + 1) != 0 ? -1 : 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* rel's names, sorted; its descriptor stays open in *fd. */
static int list_dir(struct walk *w, const char *rel, int *fd, char ***names, size_t *count)
{
    struct open_how how = {
        .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    *names = NULL;
    *count = 0;
    *fd = (int)syscall(SYS_openat2, w->root_fd, rel[0] ? rel : ".", &how, sizeof(how));
    if (*fd < 0)
        return errno == EXDEV ? 0 : -1; /* another file system: not walked */
    DIR *dir = fdopendir(dup(*fd));
    size_t capacity = 0;
    if (dir == NULL)
        return -1;
    for (struct dirent *d; (errno = 0, d = readdir(dir)) != NULL;) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 32;
            char **grown = realloc(*names, capacity * sizeof(*grown));
            if (grown == NULL)
                break;
            *names = grown;
        }
        if (((*names)[*count] = strdup(d->d_name)) == NULL)
            break;
        (*count)++;
    }
    int saved = errno;
    closedir(dir);
    if (saved != 0) {
        errno = saved;
        return -1;
    }
    if (*count > 0)
        qsort(*names, *count, sizeof(**names), compare_names);
    return 0;
}

static int walk_dir(struct walk *w, const char *rel)
{
    int fd = -1;
    char **names;
    size_t count;
    if (list_dir(w, rel, &fd, &names, &count) != 0) {
        snprintf(w->err, w->errlen, "listing %s: %s", rel[0] ? rel : "/", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = 0;
    /* Records first, then the subdirectories, closed here first. */
    char **subdirs = calloc(count + 1, sizeof(*subdirs));
    size_t n_subdirs = 0;
    if (subdirs == NULL) {
        snprintf(w->err, w->errlen, "walking the tree: out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            snprintf(w->err, w->errlen, "examining %s: %s", path, strerror(errno));
            rc = -1;
        } else if ((rc = record(w, fd, names[i], path, &st)) == 0 && S_ISDIR(st.st_mode) &&
                   (subdirs[n_subdirs] = strdup(path)) != NULL) {
            n_subdirs++;
        }
    }
    if (fd >= 0)
        close(fd);
    free_names(names, count);
    for (size_t i = 0; rc == 0 && i < n_subdirs; i++)
        rc = walk_dir(w, subdirs[i]);
    free_names(subdirs, n_subdirs);
    return rc;
}

static int finish(struct walk *w, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(w->md, digest, &len) != 1 || len != 32) {
        snprintf(w->err, w->errlen, "hashing: libcrypto failed");
        return -1;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

static int start(struct walk *w)
{
    if ((w->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
        snprintf(w->err, w->errlen, "hashing: out of memory");
        return -1;
    }
    return 0;
}

int image_tree_digest(int root_fd, char digest[IMAGE_DIGEST_SIZE], char *err, size_t errlen)
{
    struct walk w = {.root_fd = root_fd, .content = true, .err = err, .errlen = errlen};
    char hex[65];
    int rc = start(&w) == 0 && walk_dir(&w, "") == 0 && finish(&w, hex) == 0 ? 0 : -1;
    if (rc == 0)
        snprintf(digest, IMAGE_DIGEST_SIZE, "sha256:%s", hex);
    EVP_MD_CTX_free(w.md);
    return rc;
}

int image_source_key(const char *source, const struct image_limits *limits, char key[65], char *err,
                     size_t errlen)
{
    struct walk w = {.root_fd = -1, .content = false, .err = err, .errlen = errlen};
    struct stat st;
    char head[PATH_MAX + 128];
    int n =
        snprintf(head, sizeof(head), "brig image cache %d %llu %llu %llu %s", UNPACKER_VERSION,
                 (unsigned long long)limits->file_bytes, (unsigned long long)limits->total_bytes,
                 (unsigned long long)limits->entries, source);
    int rc = -1;
    if (stat(source, &st) != 0) {
        snprintf(err, errlen, "%s: %s", source, strerror(errno));
        return -1;
    }
    if (start(&w) != 0 || update(&w, head, (size_t)n + 1) != 0 ||
        record(&w, AT_FDCWD, source, ".", &st) != 0)
        goto out;
    if (S_ISDIR(st.st_mode)) {
        if ((w.root_fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            snprintf(err, errlen, "opening %s: %s", source, strerror(errno));
            goto out;
        }
        if (walk_dir(&w, "") != 0)
            goto out;
    }
    rc = finish(&w, key);
out:
    if (w.root_fd >= 0)
        close(w.root_fd);
    EVP_MD_CTX_free(w.md);
    return rc;
}
