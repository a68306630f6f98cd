/* brig-image's work: the cache of unpacked images, and the sandboxed child
 * that unpacks one.
 *
 *   <images dir>/                 0711, root's, never group- or world-writable
 *     <key>.lock                  flock'd while the key is looked up or built
 *     .build-<key>/               0700 while it is built (left by a crash: removed)
 *       src                       the source, bound read-only in the child only
 *       rootfs/                   the tree
 *     <key>/                      0755, renamed from .build-<key> once complete
 *       rootfs/  digest  source
 *
 * The child unshares a user namespace (root mapped to root, nothing else)
 * and a mount namespace, binds the source at src, chroots into the build
 * directory and unpacks there, with no_new_privs and RLIMIT_FSIZE at the
 * largest file. It tells the parent, one line each, "note TEXT", then
 * "digest sha256:HEX" or "error TEXT". A bug in the writer could thus reach
 * no more than the build directory and a read-only source, and could make
 * no device node (a user namespace's root cannot). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/image_internal.h"

#define REPORT_MAX (64u << 10)

void image_limits_default(struct image_limits *limits)
{
    limits->file_bytes = 4ull << 30;
    limits->total_bytes = 32ull << 30;
    limits->entries = 2000000;
}

/* Creates dir and its missing parents (0755, the last 0711), and accepts it
 * only if root owns it and nobody else may write in it. */
static int open_images_dir(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (dir[0] != '/' || snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        snprintf(err, errlen, "the images directory \"%s\" must be an absolute path", dir);
        return -1;
    }
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash != NULL)
            *slash = '\0';
        if (mkdir(path, slash != NULL ? 0755 : 0711) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "creating %s: %s", path, strerror(errno));
            return -1;
        }
        if (slash == NULL)
            break;
        *slash = '/';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "opening the images directory %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
        snprintf(err, errlen,
                 "the images directory %s must be root's and writable by nobody else (it is uid "
                 "%u, mode %04o)",
                 dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    return fd;
}

/* The digest of a complete entry; -1 when there is none. */
static int read_digest(int dir_fd, const char *key, char digest[IMAGE_DIGEST_SIZE])
{
    char path[96], text[IMAGE_DIGEST_SIZE + 1];
    snprintf(path, sizeof(path), "%s/digest", key);
    int fd = openat(dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n != IMAGE_DIGEST_SIZE || text[n - 1] != '\n' || strncmp(text, "sha256:", 7) != 0)
        return -1;
    text[n - 1] = '\0';
    memcpy(digest, text, IMAGE_DIGEST_SIZE);
    return 0;
}

static int write_text(int dir_fd, const char *name, const char *text)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, text, strlen(text));
    int saved = errno;
    if (close(fd) != 0 && rc == 0)
        return -1;
    errno = saved;
    return rc;
}

static int write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, text, strlen(text));
    close(fd);
    return rc;
}

/* The child's walls: its own namespaces, the source at /src read-only, the
 * build directory as its root. */
static const char *isolate(const char *build_dir, const char *source,
                           const struct image_limits *limits)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return "setting its parent-death signal";
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return "unsharing a user and a mount namespace";
    if (write_proc("/proc/self/setgroups", "deny") != 0 ||
        write_proc("/proc/self/uid_map", "0 0 1\n") != 0 ||
        write_proc("/proc/self/gid_map", "0 0 1\n") != 0)
        return "mapping root in its user namespace";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return "making its mounts private";
    char src[PATH_MAX + 8];
    snprintf(src, sizeof(src), "%s/src", build_dir);
    int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                          MOUNT_ATTR_NOEXEC};
    if (tree < 0 || mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) ||
        move_mount(tree, "", AT_FDCWD, src, MOVE_MOUNT_F_EMPTY_PATH) != 0)
        return "binding the source read-only";
    close(tree);
    if (chdir(build_dir) != 0 || chroot(".") != 0 || chdir("/") != 0)
        return "entering the build directory";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return "setting no_new_privs";
    struct rlimit fsize = {limits->file_bytes, limits->file_bytes};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &fsize) != 0)
        return "limiting the size of files";
    return NULL;
}

static void report_note(void *ctx, const char *text)
{
    dprintf(*(int *)ctx, "note %s\n", text);
}

/* Runs in the child; the exit status. */
static int unpack_child(const char *build_dir, const char *source, const char *shown,
                        const struct image_limits *limits, int report)
{
    char err[1024], digest[IMAGE_DIGEST_SIZE];
    struct unpacker *u = NULL;
    const char *failed = isolate(build_dir, source, limits);
    if (failed != NULL) {
        dprintf(report, "error %s: %s\n", failed, strerror(errno));
        return 1;
    }
    int root = open("/rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc =
        root >= 0 && unpacker_new(root, limits, report_note, &report, &u, err, sizeof(err)) == 0
            ? image_unpack_source("/src", shown, u, err, sizeof(err))
            : -1;
    if (root < 0)
        snprintf(err, sizeof(err), "opening the tree: %s", strerror(errno));
    unpacker_free(u);
    /* Jails mount the image's /etc, with their own files written in. */
    if (rc == 0 && mkdirat(root, "etc", 0755) != 0 && errno != EEXIST)
        rc = -1, snprintf(err, sizeof(err), "creating /etc in the image: %s", strerror(errno));
    if (rc == 0)
        rc = image_tree_digest(root, digest, err, sizeof(err));
    if (rc == 0)
        dprintf(report, "digest %s\n", digest);
    else
        dprintf(report, "error %s\n", err);
    return rc == 0 ? 0 : 1;
}

char *image_read_all(int fd, size_t max)
{
    char *text = malloc(max + 1), spill[4096];
    size_t len = 0;
    for (;;) {
        bool room = text != NULL && len < max;
        ssize_t n = room ? read(fd, text + len, max - len) : read(fd, spill, sizeof(spill));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (room)
            len += (size_t)n;
    }
    if (text != NULL)
        text[len] = '\0';
    return text;
}

/* The child's report: notes passed on, the digest kept, an error in err. */
static int read_report(int fd, pid_t child, image_note_fn note, void *note_ctx,
                       char digest[IMAGE_DIGEST_SIZE], char *err, size_t errlen)
{
    char *text = image_read_all(fd, REPORT_MAX);
    size_t len = text != NULL ? strlen(text) : 0;
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = -1;
    snprintf(err, errlen, "the unpacker ended without a word");
    if (WIFSIGNALED(status))
        snprintf(err, errlen, "the unpacker was killed by signal %d", WTERMSIG(status));
    for (char *line = text, *end; text != NULL && line < text + len; line = end + 1) {
        end = strchr(line, '\n');
        if (end == NULL)
            break;
        *end = '\0';
        if (strncmp(line, "note ", 5) == 0 && note != NULL)
            note(note_ctx, line + 5);
        else if (strncmp(line, "error ", 6) == 0)
            snprintf(err, errlen, "%s", line + 6);
        else if (strncmp(line, "digest ", 7) == 0 && strlen(line + 7) == IMAGE_DIGEST_SIZE - 1 &&
                 WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            memcpy(digest, line + 7, IMAGE_DIGEST_SIZE);
            rc = 0;
        }
    }
    free(text);
    return rc;
}

static int build(int dir_fd, const char *images_dir, const char *key, const char *source,
                 const struct image_limits *limits, image_note_fn note, void *note_ctx,
                 char digest[IMAGE_DIGEST_SIZE], char *err, size_t errlen)
{
    char name[80], build_dir[PATH_MAX];
    struct stat st;
    snprintf(name, sizeof(name), ".build-%s", key);
    snprintf(build_dir, sizeof(build_dir), "%s/%s", images_dir, name);
    if (stat(source, &st) != 0) {
        snprintf(err, errlen, "%s: %s", source, strerror(errno));
        return -1;
    }
    /* A build a crash interrupted; the lock says nobody else is at it. */
    if (remove_tree_at(dir_fd, name) != 0 || remove_tree_at(dir_fd, key) != 0 ||
        mkdirat(dir_fd, name, 0700) != 0) {
        snprintf(err, errlen, "preparing %s: %s", build_dir, strerror(errno));
        return -1;
    }
    int build_fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int src_made = -1, report[2] = {-1, -1}, rc = -1;
    if (build_fd >= 0 && mkdirat(build_fd, "rootfs", 0755) == 0)
        src_made =
            S_ISDIR(st.st_mode) ? mkdirat(build_fd, "src", 0700) : write_text(build_fd, "src", "");
    if (src_made != 0 || pipe2(report, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "preparing %s: %s", build_dir, strerror(errno));
        goto out;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        _exit(unpack_child(build_dir, source, source, limits, report[1]));
    }
    close(report[1]);
    report[1] = -1;
    if (child < 0) {
        snprintf(err, errlen, "starting the unpacker: %s", strerror(errno));
        goto out;
    }
    if (read_report(report[0], child, note, note_ctx, digest, err, errlen) != 0)
        goto out;
    char digest_line[IMAGE_DIGEST_SIZE + 1], source_line[PATH_MAX + 1];
    snprintf(digest_line, sizeof(digest_line), "%s\n", digest);
    snprintf(source_line, sizeof(source_line), "%s\n", source);
    if ((S_ISDIR(st.st_mode) ? unlinkat(build_fd, "src", AT_REMOVEDIR)
                             : unlinkat(build_fd, "src", 0)) != 0 ||
        write_text(build_fd, "source", source_line) != 0 ||
        write_text(build_fd, "digest", digest_line) != 0 || fchmod(build_fd, 0755) != 0 ||
        renameat(dir_fd, name, dir_fd, key) != 0) {
        snprintf(err, errlen, "keeping the unpacked image in %s/%s: %s", images_dir, key,
                 strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (build_fd >= 0)
        close(build_fd);
    if (report[0] >= 0)
        close(report[0]);
    if (report[1] >= 0)
        close(report[1]);
    if (rc != 0)
        remove_tree_at(dir_fd, name);
    return rc;
}

int image_build(const char *source, const char *images_dir, const struct image_limits *limits,
                image_note_fn note, void *note_ctx, struct image_built *out, char *err,
                size_t errlen)
{
    char key[65], lock_name[80];
    memset(out, 0, sizeof(*out));
    if (source[0] != '/') {
        snprintf(err, errlen, "the image \"%s\" must be an absolute path", source);
        return -1;
    }
    int dir_fd = open_images_dir(images_dir, err, errlen);
    if (dir_fd < 0)
        return -1;
    int lock = -1, rc = -1;
    if (image_source_key(source, limits, key, err, errlen) != 0)
        goto out;
    snprintf(lock_name, sizeof(lock_name), "%s.lock", key);
    lock = openat(dir_fd, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        snprintf(err, errlen, "locking %s/%s: %s", images_dir, lock_name, strerror(errno));
        goto out;
    }
    out->cached = read_digest(dir_fd, key, out->digest) == 0;
    if (!out->cached && build(dir_fd, images_dir, key, source, limits, note, note_ctx, out->digest,
                              err, errlen) != 0)
        goto out;
    snprintf(out->rootfs, sizeof(out->rootfs), "%s/%s/rootfs", images_dir, key);
    rc = 0;
out:
    if (lock >= 0)
        close(lock);
    close(dir_fd);
    return rc;
}
