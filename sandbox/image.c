/* A worker's side of root images: brig-image unpacks (image_build.c in its
 * own process, so that no unpacking ever runs in a multi-threaded worker),
 * this file takes the result into jails.
 *
 * The jails of an image get the context's base plan with the host's system
 * tree taken out (what it binds or links at /usr, /bin, /sbin, /lib*, and
 * /etc with the files it writes there) and the image's top-level entries
 * put in right after the root's tmpfs: each a read-only bind, or the link it
 * is. The image's own dev, proc, sys, tmp, run and work are left out: the
 * jail has its own. The files the base plan would write into /etc (passwd,
 * group, hosts, ...) are written into the image's /etc here, each replaced
 * atomically when it differs, so jails mount that /etc whole. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/fd.h"
#include "sandbox/image_internal.h"
#include "sandbox/jail_host.h"

#define BUILDER_OUTPUT_MAX (64u << 10)

struct jail_image {
    const struct jail_context *ctx;
    char *source;
    char *rootfs;
    int rootfs_fd; /* O_PATH */
    char digest[IMAGE_DIGEST_SIZE];
    struct mnt_plan plan;
    char policy_hash[65];
};

const char *jail_image_source(const struct jail_image *image)
{
    return image->source;
}

const char *jail_image_digest(const struct jail_image *image)
{
    return image->digest;
}

const char *jail_image_rootfs(const struct jail_image *image)
{
    return image->rootfs;
}

const char *jail_image_policy_hash(const struct jail_image *image)
{
    return image->policy_hash;
}

const struct mnt_plan *jail_image_plan(const struct jail_image *image)
{
    return &image->plan;
}

const struct jail_context *jail_image_context(const struct jail_image *image)
{
    return image->ctx;
}

void jail_image_free(struct jail_image *image)
{
    if (image == NULL)
        return;
    mnt_plan_free(&image->plan);
    close_fd(&image->rootfs_fd);
    free(image->source);
    free(image->rootfs);
    free(image);
}

/* ---- brig-image ---- */

/* What brig-image said: "note: ", "digest: ", "rootfs: " lines on stdout,
 * "brig-image: " on stderr for what went wrong. */
static int parse_builder(char *output, int status, image_note_fn note, void *note_ctx,
                         struct jail_image *image, char *err, size_t errlen)
{
    char problem[512] = "";
    for (char *line = output, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
        *end = '\0';
        if (strncmp(line, "note: ", 6) == 0 && note != NULL)
            note(note_ctx, line + 6);
        else if (strncmp(line, "digest: ", 8) == 0)
            snprintf(image->digest, sizeof(image->digest), "%s", line + 8);
        else if (strncmp(line, "rootfs: ", 8) == 0 && image->rootfs == NULL)
            image->rootfs = strdup(line + 8);
        else if (strncmp(line, "brig-image: ", 12) == 0)
            snprintf(problem, sizeof(problem), "%s", line + 12);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && image->rootfs != NULL &&
        strncmp(image->digest, "sha256:", 7) == 0)
        return 0;
    if (problem[0] == '\0')
        snprintf(problem, sizeof(problem), "brig-image ended with status %#x and no word",
                 (unsigned)status);
    snprintf(err, errlen, "%s", problem);
    return -1;
}

static int run_builder(const char *builder, const char *source, const char *images_dir,
                       const struct image_limits *limits, image_note_fn note, void *note_ctx,
                       struct jail_image *image, char *err, size_t errlen)
{
    char file[32], total[32], entries[32];
    snprintf(file, sizeof(file), "%llu", (unsigned long long)limits->file_bytes);
    snprintf(total, sizeof(total), "%llu", (unsigned long long)limits->total_bytes);
    snprintf(entries, sizeof(entries), "%llu", (unsigned long long)limits->entries);
    char *const argv[] = {(char *)builder,
                          "unpack",
                          "--images-dir",
                          (char *)images_dir,
                          "--max-file",
                          file,
                          "--max-total",
                          total,
                          "--max-entries",
                          entries,
                          "--",
                          (char *)source,
                          NULL};
    static char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "starting brig-image: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    if (rc == 0)
        rc = posix_spawn(&pid, builder, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        snprintf(err, errlen, "starting %s: %s", builder, strerror(rc));
        return -1;
    }
    char *output = image_read_all(out[0], BUILDER_OUTPUT_MAX);
    close(out[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (output == NULL) {
        snprintf(err, errlen, "reading brig-image: out of memory");
        return -1;
    }
    rc = parse_builder(output, status, note, note_ctx, image, err, errlen);
    free(output);
    return rc;
}

/* ---- the tree ---- */

/* The jail user (an unprivileged host uid) must reach the tree, and nobody
 * but root change it. */
static int check_rootfs(struct jail_image *image, char *err, size_t errlen)
{
    struct stat st;
    image->rootfs_fd = open(image->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (image->rootfs_fd < 0 || fstat(image->rootfs_fd, &st) != 0) {
        snprintf(err, errlen, "opening %s: %s", image->rootfs, strerror(errno));
        return -1;
    }
    if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
        snprintf(err, errlen, "%s must be root's and writable by nobody else", image->rootfs);
        return -1;
    }
    return jail_check_reachable("the image", image->rootfs, err, errlen);
}

/* name in etc_fd holds exactly text, replaced in one rename when not. */
static int put_etc_file(int etc_fd, const char *name, const char *text, char *err, size_t errlen)
{
    size_t len = strlen(text);
    char *have = malloc(len + 1), tmp[NAME_MAX + 1];
    int fd = openat(etc_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n = fd >= 0 && have != NULL ? read(fd, have, len + 1) : -1;
    if (fd >= 0)
        close(fd);
    bool same = n == (ssize_t)len && memcmp(have, text, len) == 0;
    free(have);
    if (same)
        return 0;
    snprintf(tmp, sizeof(tmp), ".brig-%.200s.%d", name, (int)getpid());
    unlinkat(etc_fd, tmp, 0);
    fd = openat(etc_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = fd >= 0 && fchmod(fd, 0644) == 0 ? write_all(fd, text, len) : -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = renameat(etc_fd, tmp, etc_fd, name);
    if (rc != 0) {
        snprintf(err, errlen, "writing /etc/%s into the image: %s", name, strerror(errno));
        unlinkat(etc_fd, tmp, 0);
    }
    return rc;
}

static bool is_etc_file(const struct mnt_op *op)
{
    return op->kind == MNT_FILE && strncmp(op->dest, "/etc/", 5) == 0 &&
           strchr(op->dest + 5, '/') == NULL;
}

static int write_jail_etc(struct jail_image *image, const struct mnt_plan *base, char *err,
                          size_t errlen)
{
    int etc = openat(image->rootfs_fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (etc < 0) {
        snprintf(err, errlen, "the image's /etc: %s",
                 errno == ELOOP || errno == ENOTDIR ? "not a directory" : strerror(errno));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < base->count; i++) {
        if (is_etc_file(&base->ops[i]))
            rc = put_etc_file(etc, base->ops[i].dest + 5, base->ops[i].source, err, errlen);
    }
    close(etc);
    return rc;
}

/* ---- the plan ---- */

/* What the base plan takes from the host's system tree. */
static bool host_system_op(const struct mnt_op *op)
{
    static const char *const roots[] = {"/usr",   "/bin",   "/sbin",   "/lib",
                                        "/lib32", "/lib64", "/libx32", "/etc"};
    if (op->kind != MNT_BIND && op->kind != MNT_SYMLINK && op->kind != MNT_FILE)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
        size_t len = strlen(roots[i]);
        if (strncmp(op->dest, roots[i], len) == 0 &&
            (op->dest[len] == '\0' || op->dest[len] == '/'))
            return true;
    }
    return false;
}

/* Top-level names the jail has its own of. */
static bool jail_owns(const char *name)
{
    static const char *const own[] = {"dev", "proc", "sys", "tmp", "run", "work"};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
        if (strcmp(name, own[i]) == 0)
            return true;
    }
    return false;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One top-level entry of the image into the plan. */
static int plan_entry(struct jail_image *image, const char *root, const char *name)
{
    struct stat st;
    char dest[NAME_MAX + 2], source[PATH_MAX], label[PATH_MAX + 32];
    snprintf(dest, sizeof(dest), "/%s", name);
    if (jail_owns(name) || fstatat(image->rootfs_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(image->rootfs_fd, name, source, sizeof(source) - 1);
        if (n < 0)
            return -1;
        source[n] = '\0';
        snprintf(label, sizeof(label), "link %s of the image", dest);
        return mnt_plan_add(&image->plan, root, MNT_SYMLINK, source, dest, 0, false, label);
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return 0;
    snprintf(source, sizeof(source), "%s/%s", image->rootfs, name);
    snprintf(label, sizeof(label), "bind %s of the image", dest);
    return mnt_plan_add(&image->plan, root, MNT_BIND, source, dest,
                        MS_RDONLY | MS_NOSUID | MS_NODEV, false, label);
}

static int plan_image_roots(struct jail_image *image, const char *root)
{
    DIR *dir = dir_list_at(image->rootfs_fd, ".");
    char **names = NULL;
    size_t count = 0, capacity = 0;
    int rc = dir != NULL ? 0 : -1;
    for (struct dirent *d; rc == 0 && (d = readdir(dir)) != NULL;) {
        if (d->d_name[0] == '.' && (d->d_name[1] == '\0' || strcmp(d->d_name, "..") == 0))
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 32;
            char **grown = realloc(names, capacity * sizeof(*grown));
            if (grown == NULL) {
                rc = -1;
                break;
            }
            names = grown;
        }
        if ((names[count] = strdup(d->d_name)) == NULL)
            rc = -1;
        else
            count++;
    }
    if (dir != NULL)
        closedir(dir);
    /* Sorted, so that the plan and its hash do not depend on readdir. */
    if (count > 0)
        qsort(names, count, sizeof(*names), compare_names);
    for (size_t i = 0; i < count; i++) {
        if (rc == 0)
            rc = plan_entry(image, root, names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int plan_image(struct jail_image *image, const struct jail_context *ctx, char *err,
                      size_t errlen)
{
    const struct mnt_plan *base = &ctx->base_plan;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < base->count; i++) {
        const struct mnt_op *op = &base->ops[i];
        if (host_system_op(op))
            continue;
        rc = mnt_plan_add(&image->plan, ctx->root_dir, op->kind, op->source, op->dest, op->flags,
                          op->optional, op->label);
        if (rc == 0 && op->kind == MNT_TMPFS && strcmp(op->dest, "/") == 0)
            rc = plan_image_roots(image, ctx->root_dir);
    }
    if (rc != 0)
        snprintf(err, errlen, "planning the jails' filesystem on %s: %s", image->rootfs,
                 strerror(errno));
    return rc;
}

/* The context's hash, the digest, and the plan with the tree's host path
 * written "image:", so that where the cache is does not change the hash. */
static int hash_image_policy(struct jail_image *image, struct jail_context *ctx, char *err,
                             size_t errlen)
{
    char *text = mnt_plan_describe(&image->plan);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    int rc = -1;
    if (text != NULL && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        const char *context_hash = jail_policy_hash(ctx);
        size_t prefix = strlen(image->rootfs);
        rc = EVP_DigestUpdate(md, "brig image policy 1\n", 20) == 1 &&
                     EVP_DigestUpdate(md, context_hash, strlen(context_hash)) == 1 &&
                     EVP_DigestUpdate(md, image->digest, strlen(image->digest)) == 1
                 ? 0
                 : -1;
        for (const char *p = text, *hit; rc == 0 && *p != '\0'; p = hit + prefix) {
            hit = strstr(p, image->rootfs);
            if (hit == NULL) {
                rc = EVP_DigestUpdate(md, p, strlen(p)) == 1 ? 0 : -1;
                break;
            }
            if (EVP_DigestUpdate(md, p, (size_t)(hit - p)) != 1 ||
                EVP_DigestUpdate(md, "image:", 6) != 1)
                rc = -1;
        }
        if (rc == 0 && (EVP_DigestFinal_ex(md, digest, &len) != 1 || len != 32))
            rc = -1;
    }
    if (rc == 0) {
        for (unsigned i = 0; i < 32; i++)
            snprintf(image->policy_hash + 2 * i, 3, "%02x", digest[i]);
    } else {
        snprintf(err, errlen, "hashing the jail policy of %s failed", image->source);
    }
    EVP_MD_CTX_free(md);
    free(text);
    return rc;
}

int jail_image_open(struct jail_context *ctx, const char *builder, const char *source,
                    const char *images_dir, const struct image_limits *limits, image_note_fn note,
                    void *note_ctx, struct jail_image **out, char *err, size_t errlen)
{
    struct jail_image *image = calloc(1, sizeof(*image));
    *out = NULL;
    if (image == NULL || (image->source = strdup(source)) == NULL) {
        snprintf(err, errlen, "opening the image %s: out of memory", source);
        free(image);
        return -1;
    }
    image->ctx = ctx;
    image->rootfs_fd = -1;
    if (run_builder(builder, source, images_dir, limits, note, note_ctx, image, err, errlen) != 0 ||
        check_rootfs(image, err, errlen) != 0 ||
        write_jail_etc(image, &ctx->base_plan, err, errlen) != 0 ||
        plan_image(image, ctx, err, errlen) != 0 ||
        hash_image_policy(image, ctx, err, errlen) != 0) {
        jail_image_free(image);
        return -1;
    }
    *out = image;
    return 0;
}

/* ---- programs ---- */

static bool executable_at(const struct jail_image *image, const char *path)
{
    struct open_how how = {
        .flags = O_PATH | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, image->rootfs_fd, path, &how, sizeof(how));
    struct stat st;
    bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXOTH);
    if (fd >= 0)
        close(fd);
    return ok;
}

int jail_image_find_program(const struct jail_image *image, const char *program, char *err,
                            size_t errlen)
{
    if (strchr(program, '/') != NULL) {
        if (executable_at(image, program))
            return 0;
        snprintf(err, errlen, "%s is not an executable file in the image", program);
        return -1;
    }
    const char *path = JAIL_DEFAULT_PATH;
    for (const char *dir = path; *dir != '\0';) {
        size_t len = strcspn(dir, ":");
        char candidate[PATH_MAX];
        snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, dir, program);
        if (executable_at(image, candidate))
            return 0;
        dir += len + (dir[len] == ':');
    }
    snprintf(err, errlen, "%s is not an executable file of the image's PATH (%s)", program, path);
    return -1;
}
