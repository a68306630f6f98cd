/* Reclaiming what dead brig processes left (reclaim.h): their workspace
 * mounts here, their jail cgroups in cgroup_reclaim.c.
 *
 * The mounts are found in /proc/self/mountinfo, not by walking the state
 * directory: only a tmpfs whose source names a brig workspace and its maker,
 * at a mount point strictly under the state directory, is a candidate, and
 * only one whose maker is dead is touched. Each is reached from the state
 * directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), checked to be
 * the very file system mountinfo listed (its device), and detached through
 * that descriptor, so no path is resolved twice and no link is followed. The
 * list is walked from its end: mountinfo lists mounts in the order they were
 * made, and of several stacked on one point the last is on top. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox/jail_host.h"
#include "sandbox/reclaim.h"

static void reclaim_failed(struct jail_reclaimed *out, char *err, size_t errlen, const char *fmt,
                           ...)
{
    if (out->failures++ > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

struct found_mount {
    char *point; /* absolute, as mountinfo names it */
    dev_t dev;
    struct owner owner;
};

struct found_mounts {
    struct found_mount *items;
    size_t count, capacity;
};

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape(char *text)
{
    char *to = text;
    for (const char *from = text; *from != '\0'; to++) {
        if (from[0] == '\\' && from[1] >= '0' && from[1] <= '3' && from[2] >= '0' &&
            from[2] <= '7' && from[3] >= '0' && from[3] <= '7') {
            *to = (char)((from[1] - '0') * 64 + (from[2] - '0') * 8 + (from[3] - '0'));
            from += 4;
        } else {
            *to = *from++;
        }
    }
    *to = '\0';
}

/* A workspace mount strictly under `under` (which ends with '/'), from one
 * line: "id parent major:minor root point options [tags...] - type source
 * super-options". */
static bool parse_line(char *line, const char *under, struct found_mount *out)
{
    char *save = NULL, *fields[6];
    for (int i = 0; i < 6; i++) {
        if ((fields[i] = strtok_r(i == 0 ? line : NULL, " \n", &save)) == NULL)
            return false;
    }
    char *word;
    while ((word = strtok_r(NULL, " \n", &save)) != NULL && strcmp(word, "-") != 0)
        ;
    char *type = strtok_r(NULL, " \n", &save);
    char *source = strtok_r(NULL, " \n", &save);
    if (word == NULL || type == NULL || source == NULL || strcmp(type, "tmpfs") != 0)
        return false;
    unescape(source);
    size_t prefix_len = strlen(WORKSPACE_SOURCE_PREFIX);
    const char *rest;
    if (strncmp(source, WORKSPACE_SOURCE_PREFIX, prefix_len) != 0 ||
        !owner_parse(source + prefix_len, &out->owner, &rest) || *rest != '\0')
        return false;
    char *point = fields[4];
    unescape(point);
    size_t under_len = strlen(under);
    unsigned major, minor;
    if (strncmp(point, under, under_len) != 0 || point[under_len] == '\0' ||
        sscanf(fields[2], "%u:%u", &major, &minor) != 2)
        return false;
    out->dev = makedev(major, minor);
    out->point = point;
    return true;
}

static void found_free(struct found_mounts *found)
{
    for (size_t i = 0; i < found->count; i++)
        free(found->items[i].point);
    free(found->items);
}

static int found_add(struct found_mounts *found, const struct found_mount *mount)
{
    if (found->count == found->capacity) {
        size_t capacity = found->capacity ? 2 * found->capacity : 16;
        struct found_mount *grown = realloc(found->items, capacity * sizeof(*grown));
        if (grown == NULL)
            return -1;
        found->items = grown;
        found->capacity = capacity;
    }
    struct found_mount *item = &found->items[found->count];
    *item = *mount;
    if ((item->point = strdup(mount->point)) == NULL)
        return -1;
    found->count++;
    return 0;
}

/* The workspace mounts of dead processes under `under`, as mountinfo lists them. */
static int find_dead(const char *mountinfo, const char *under, struct found_mounts *found,
                     char *err, size_t errlen)
{
    FILE *file = fopen(mountinfo, "re");
    if (file == NULL) {
        snprintf(err, errlen, "reclaiming workspaces: opening %s: %s", mountinfo, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, file) > 0) {
        struct found_mount mount;
        if (parse_line(line, under, &mount) && !owner_alive(&mount.owner) &&
            found_add(found, &mount) != 0) {
            snprintf(err, errlen, "reclaiming workspaces: %s", strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && ferror(file)) {
        snprintf(err, errlen, "reclaiming workspaces: reading %s: %s", mountinfo, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(file);
    return rc;
}

/* rel below dirfd as an O_PATH directory, never through a symbolic link nor
 * out of dirfd. */
static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
}

/* Detaches the mount at state/rel if the file system on top there is the one
 * listed. */
static void detach(int state_fd, const char *rel, const struct found_mount *mount,
                   struct jail_reclaimed *out, char *err, size_t errlen)
{
    char who[48];
    owner_format(&mount->owner, who, sizeof(who));
    int fd = open_beneath(state_fd, rel);
    if (fd < 0) {
        int saved = errno;
        if (saved != ENOENT) /* unmounted and removed since the listing */
            reclaim_failed(out, err, errlen, "reaching %s, a workspace of dead process %s: %s%s",
                           mount->point, who, strerror(saved),
                           saved == ELOOP ? " (symbolic links are never followed)" : "");
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        reclaim_failed(out, err, errlen, "checking %s, a workspace of dead process %s: %s",
                       mount->point, who, strerror(errno));
        close(fd);
        return;
    }
    /* Another file system on top, or none any more: not this one's to detach. */
    if (st.st_dev != mount->dev) {
        close(fd);
        return;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int rc = umount2(path, MNT_DETACH);
    int saved = errno;
    close(fd);
    if (rc != 0) {
        reclaim_failed(out, err, errlen, "unmounting %s, a workspace of dead process %s: %s",
                       mount->point, who, strerror(saved));
        return;
    }
    /* The empty mount point stays: a live process that took the dead one's
     * uids since may be about to mount there (whoever holds them next
     * removes it, workspace_sweep_stale). */
    out->mounts++;
}

int reclaim_mounts(const char *mountinfo, const char *state_dir, struct jail_reclaimed *out,
                   char *err, size_t errlen)
{
    char *state = realpath(state_dir, NULL);
    int state_fd = state ? open(state, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    char under[PATH_MAX];
    if (state_fd < 0) {
        reclaim_failed(out, err, errlen,
                       "reclaiming workspaces: opening the state directory %s: %s", state_dir,
                       strerror(errno));
        free(state);
        return -1;
    }
    snprintf(under, sizeof(under), "%s/", strcmp(state, "/") == 0 ? "" : state);
    struct found_mounts found = {0};
    char find_err[256];
    if (find_dead(mountinfo, under, &found, find_err, sizeof(find_err)) != 0)
        reclaim_failed(out, err, errlen, "%s", find_err);
    for (size_t i = found.count; i-- > 0;)
        detach(state_fd, found.items[i].point + strlen(under), &found.items[i], out, err, errlen);
    found_free(&found);
    close(state_fd);
    free(state);
    return out->failures > 0 ? -1 : 0;
}

int jail_reclaim(struct jail_context *ctx, struct jail_reclaimed *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    reclaim_mounts("/proc/self/mountinfo", ctx->state_dir, out, err, errlen);
    cgroup_reclaim(ctx->cgroups, &out->cgroups, &out->failures, err, errlen);
    if (out->failures > 1) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (and %zu more)", out->failures - 1);
    }
    return out->failures > 0 ? -1 : 0;
}
