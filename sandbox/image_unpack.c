/* The writer of an image's tree: each entry of a layer, checked, written
 * below the tree's root (image.h lists what is refused, skipped and
 * neutralised).
 *
 * Every path is taken apart into components and walked from the root's
 * descriptor one openat(O_NOFOLLOW | O_DIRECTORY) at a time, so no link is
 * ever followed, whatever an earlier entry made, and no ".." is ever walked.
 * The last parent opened is kept (entries come grouped by directory) until a
 * removal could have taken it away. Files are created O_EXCL after whatever
 * was at their path is removed, so a write never lands on an earlier link.
 *
 * Whiteouts apply to lower layers only: the paths a layer wrote are kept in
 * a tree (tsearch) while it is applied, and neither .wh.NAME nor an opaque
 * marker removes one of them, whichever comes first in the archive. */
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/units.h"
#include "sandbox/fd.h"
#include "sandbox/image_internal.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

struct unpacker {
    int root_fd;
    struct image_limits limits;
    uint64_t entries;
    uint64_t bytes;
    image_note_fn note;
    void *note_ctx;
    unsigned notes;
    unsigned notes_dropped;
    void *layer_paths; /* what the layer being applied wrote (tsearch) */
    char parent_path[PATH_MAX];
    int parent_fd; /* of parent_path, or -1 */
};

/* What went wrong with one entry, for the message. */
struct entry_error {
    char *err;
    size_t errlen;
    const char *label;
    const char *name; /* printable */
};

__attribute__((format(printf, 2, 3))) static int entry_fail(const struct entry_error *e,
                                                            const char *format, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(why, sizeof(why), format, ap);
    va_end(ap);
    snprintf(e->err, e->errlen, "%s: entry \"%s\": %s", e->label, e->name, why);
    return -1;
}

void image_printable(const char *in, char *out, size_t len)
{
    size_t n = 0, max = len > 204 ? 200 : len - 1;
    for (; n < max && in[n] != '\0'; n++) {
        unsigned char c = (unsigned char)in[n];
        out[n] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    if (in[n] != '\0' && len > 204)
        strcpy(out + n, "...");
}

const char *image_path_normalise(const char *in, char *out, size_t len)
{
    size_t n = 0;
    if (in[0] == '/')
        return "is an absolute path";
    for (const char *p = in; *p != '\0';) {
        size_t c = strcspn(p, "/");
        if (c == 2 && p[0] == '.' && p[1] == '.')
            return "has a \"..\" component";
        if (c > NAME_MAX)
            return "has a component longer than 255 bytes";
        if (c > 0 && !(c == 1 && p[0] == '.')) {
            if (n + 1 + c >= len)
                return "is too long a path";
            if (n > 0)
                out[n++] = '/';
            memcpy(out + n, p, c);
            n += c;
        }
        p += c;
        while (*p == '/')
            p++;
    }
    out[n] = '\0';
    return NULL;
}

int remove_tree_at(int parent, const char *name)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    DIR *dir = dir_list_at(parent, name);
    if (dir == NULL)
        return -1;
    int rc = 0;
    for (struct dirent *d; rc == 0;) {
        errno = 0;
        if ((d = readdir(dir)) == NULL) {
            rc = errno != 0 ? -1 : 0;
            break;
        }
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            rc = remove_tree_at(dirfd(dir), d->d_name);
    }
    int saved = errno;
    closedir(dir);
    errno = saved;
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0)
        return -1;
    return rc;
}

int unpacker_new(int root_fd, const struct image_limits *limits, image_note_fn note, void *note_ctx,
                 struct unpacker **out, char *err, size_t errlen)
{
    struct unpacker *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        snprintf(err, errlen, "unpacking: out of memory");
        return -1;
    }
    u->root_fd = root_fd;
    u->limits = *limits;
    u->note = note;
    u->note_ctx = note_ctx;
    u->parent_fd = -1;
    *out = u;
    return 0;
}

static void forget_parent(struct unpacker *u)
{
    close_fd(&u->parent_fd);
    u->parent_path[0] = '\0';
}

/* After path was removed: the kept parent goes if it was path or below it. */
static void forget_below(struct unpacker *u, const char *path)
{
    size_t len = strlen(path);
    if (u->parent_fd >= 0 && strncmp(u->parent_path, path, len) == 0 &&
        (u->parent_path[len] == '\0' || u->parent_path[len] == '/'))
        forget_parent(u);
}

void unpacker_free(struct unpacker *u)
{
    if (u == NULL)
        return;
    if (u->notes_dropped > 0 && u->note != NULL) {
        char text[96];
        snprintf(text, sizeof(text), "and %u more entries skipped", u->notes_dropped);
        u->note(u->note_ctx, text);
    }
    forget_parent(u);
    tdestroy(u->layer_paths, free);
    free(u);
}

/* The directory dir (a normalised path, "" for the root) as a new
 * descriptor, walked one component at a time without following a link;
 * missing components are made (0755) when create. -1 with errno. */
static int walk_dirs(int root_fd, const char *dir, bool create, char *bad, size_t badlen)
{
    int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char component[NAME_MAX + 1];
    for (const char *p = dir; fd >= 0 && *p != '\0';) {
        size_t c = strcspn(p, "/");
        memcpy(component, p, c);
        component[c] = '\0';
        int next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create && mkdirat(fd, component, 0755) == 0) {
            next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next >= 0 && fchmod(next, 0755) != 0)
                close_fd(&next);
        }
        struct stat st;
        /* O_DIRECTORY says ENOTDIR of a link too: tell the link apart. */
        if (next < 0 && errno == ENOTDIR && fstatat(fd, component, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            errno = ELOOP;
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
        snprintf(bad, badlen, "%.*s", (int)(p + c - dir), dir);
        p += c + (p[c] == '/');
    }
    return fd;
}

/* Why walk_dirs failed, in words. */
static const char *walk_problem(int error)
{
    if (error == ELOOP)
        return "is a symbolic link, and links are never written through";
    if (error == ENOTDIR)
        return "is not a directory";
    return strerror(error);
}

/* The parent directory of path, kept for the next entries; *name is path's
 * last component. -1 with why in e, or with errno ENOENT when the parent is
 * missing and not to be made. */
static int open_parent(struct unpacker *u, const char *path, bool create, const char **name,
                       const struct entry_error *e)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash != NULL ? (size_t)(slash - path) : 0;
    *name = slash != NULL ? slash + 1 : path;
    if (u->parent_fd >= 0 && strlen(u->parent_path) == len &&
        memcmp(u->parent_path, path, len) == 0)
        return u->parent_fd;
    forget_parent(u);
    char dir[PATH_MAX], bad[PATH_MAX], printable[256];
    memcpy(dir, path, len);
    dir[len] = '\0';
    int fd = walk_dirs(u->root_fd, dir, create, bad, sizeof(bad));
    if (fd < 0) {
        int saved = errno;
        if (saved == ENOENT && !create)
            return -1;
        image_printable(bad, printable, sizeof(printable));
        entry_fail(e, "its parent %s %s", printable, walk_problem(saved));
        errno = saved;
        return -1;
    }
    memcpy(u->parent_path, dir, len + 1);
    u->parent_fd = fd;
    return fd;
}

static bool written_in_layer(const struct unpacker *u, const char *path)
{
    return tfind(path, &u->layer_paths, (int (*)(const void *, const void *))strcmp) != NULL;
}

static int remember(struct unpacker *u, const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    char **found = tsearch(copy, &u->layer_paths, (int (*)(const void *, const void *))strcmp);
    if (found == NULL) {
        free(copy);
        return -1;
    }
    if (*found != copy)
        free(copy);
    return 0;
}

/* buf holds PATH_MAX + NAME_MAX + 2 bytes, which a directory's path and a
 * name always fit in. */
static char *join_path(const char *dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s%s", dir, dir[0] ? "/" : "", name);
    if (n < 0 || (size_t)n >= len)
        buf[0] = '\0';
    return buf;
}

/* Removes path (name in parent_fd) and whatever is below it. */
static int remove_entry(struct unpacker *u, int parent_fd, const char *name, const char *path,
                        const struct entry_error *e)
{
    char printable[256];
    if (remove_tree_at(parent_fd, name) != 0) {
        image_printable(path, printable, sizeof(printable));
        return entry_fail(e, "removing %s: %s", printable, strerror(errno));
    }
    forget_below(u, path);
    return 0;
}

/* Empties the directory parent (at dir) of what lower layers put there. */
static int apply_opaque(struct unpacker *u, int parent, const char *dir,
                        const struct entry_error *e)
{
    char victim[PATH_MAX + NAME_MAX + 2];
    DIR *listing = dir_list_at(parent, ".");
    if (listing == NULL)
        return entry_fail(e, "listing its directory: %s", strerror(errno));
    size_t count = 0, capacity = 0;
    char **names = NULL;
    int rc = 0;
    for (struct dirent *d; rc == 0 && (d = readdir(listing)) != NULL;) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0 ||
            written_in_layer(u, join_path(dir, d->d_name, victim, sizeof(victim))))
            continue;
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            char **grown = realloc(names, capacity * sizeof(*names));
            if (grown == NULL) {
                rc = entry_fail(e, "out of memory");
                break;
            }
            names = grown;
        }
        if ((names[count] = strdup(d->d_name)) == NULL)
            rc = entry_fail(e, "out of memory");
        else
            count++;
    }
    closedir(listing);
    for (size_t i = 0; i < count; i++) {
        if (rc == 0)
            rc = remove_entry(u, parent, names[i], join_path(dir, names[i], victim, sizeof(victim)),
                              e);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* .wh.NAME removes NAME of lower layers; .wh..wh..opq empties its directory
 * of what lower layers put there; other .wh..wh. names are aufs's own. */
static int apply_whiteout(struct unpacker *u, const char *path, const struct entry_error *e)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    bool opaque = strcmp(base, WHITEOUT_OPAQUE) == 0;
    const char *hidden = base + strlen(WHITEOUT_PREFIX);
    if (!opaque && strncmp(base, WHITEOUT_META, strlen(WHITEOUT_META)) == 0)
        return 0;
    if (!opaque && (hidden[0] == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0))
        return entry_fail(e, "a whiteout of nothing, \".\" or \"..\"");
    const char *name;
    int parent = open_parent(u, path, false, &name, e);
    if (parent < 0)
        return errno == ENOENT ? 0 : -1; /* nothing below to hide */
    char dir[PATH_MAX], victim[PATH_MAX + NAME_MAX + 2];
    snprintf(dir, sizeof(dir), "%.*s", (int)(name - path - (name > path)), path);
    if (opaque)
        return apply_opaque(u, parent, dir, e);
    join_path(dir, hidden, victim, sizeof(victim));
    if (written_in_layer(u, victim))
        return 0;
    return remove_entry(u, parent, hidden, victim, e);
}

/* Makes room at name for a new entry; a directory stays for a directory. */
static int make_room(struct unpacker *u, int parent, const char *name, const char *path,
                     bool directory, bool *is_dir, const struct entry_error *e)
{
    struct stat st;
    *is_dir = false;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        return entry_fail(e, "examining what is there: %s", strerror(errno));
    }
    if (directory && S_ISDIR(st.st_mode)) {
        *is_dir = true;
        return 0;
    }
    return remove_entry(u, parent, name, path, e);
}

static int write_data(struct unpacker *u, struct archive *a, int fd, int64_t declared,
                      const struct entry_error *e)
{
    const void *block;
    size_t len;
    la_int64_t offset;
    uint64_t end = declared > 0 ? (uint64_t)declared : 0;
    char size[32];
    for (;;) {
        int r = archive_read_data_block(a, &block, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return entry_fail(e, "reading its data: %s", archive_error_string(a));
        if (offset < 0 || (uint64_t)offset + len > u->limits.file_bytes) {
            units_format_size(u->limits.file_bytes, size, sizeof(size));
            return entry_fail(e, "its data go past the image's largest file (%s)", size);
        }
        if (u->bytes + (uint64_t)offset + len > u->limits.total_bytes) {
            units_format_size(u->limits.total_bytes, size, sizeof(size));
            return entry_fail(e, "the image's files come to more than its total (%s)", size);
        }
        for (size_t done = 0; done < len;) {
            ssize_t n = pwrite(fd, (const char *)block + done, len - done, offset + (off_t)done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return entry_fail(e, "writing it: %s", n < 0 ? strerror(errno) : "no progress");
            done += (size_t)n;
        }
        if ((uint64_t)offset + len > end)
            end = (uint64_t)offset + len;
    }
    /* A sparse file's last hole. */
    if (ftruncate(fd, (off_t)end) != 0)
        return entry_fail(e, "setting its size: %s", strerror(errno));
    u->bytes += end;
    return 0;
}

static int write_file(struct unpacker *u, struct archive *a, struct archive_entry *entry,
                      int parent, const char *name, mode_t mode, const struct entry_error *e)
{
    int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    char limit[32], have[32];
    if (size < 0)
        return entry_fail(e, "a negative size");
    if ((uint64_t)size > u->limits.file_bytes) {
        units_format_size((uint64_t)size, have, sizeof(have));
        units_format_size(u->limits.file_bytes, limit, sizeof(limit));
        return entry_fail(e, "%s is larger than the image's largest file (%s)", have, limit);
    }
    if (u->bytes + (uint64_t)size > u->limits.total_bytes) {
        units_format_size(u->limits.total_bytes, limit, sizeof(limit));
        return entry_fail(e, "the image's files come to more than its total (%s)", limit);
    }
    int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_fail(e, "creating it: %s", strerror(errno));
    int rc = write_data(u, a, fd, size, e);
    if (rc == 0 && fchmod(fd, mode) != 0)
        rc = entry_fail(e, "setting its mode: %s", strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = entry_fail(e, "writing it: %s", strerror(errno));
    return rc;
}

/* A hardlink may only name a regular file already in the tree. */
static int write_hardlink(struct unpacker *u, const char *target, int parent, const char *name,
                          const char *path, const struct entry_error *e)
{
    char normal[PATH_MAX], bad[PATH_MAX], printable[256];
    image_printable(target, printable, sizeof(printable));
    const char *why = image_path_normalise(target, normal, sizeof(normal));
    if (why != NULL)
        return entry_fail(e, "a hardlink to \"%s\", which %s", printable, why);
    if (strcmp(normal, path) == 0 || normal[0] == '\0')
        return entry_fail(e, "a hardlink to itself or to the root");
    char *slash = strrchr(normal, '/');
    const char *target_name = slash != NULL ? slash + 1 : normal;
    if (slash != NULL)
        *slash = '\0';
    int dir = walk_dirs(u->root_fd, slash != NULL ? normal : "", false, bad, sizeof(bad));
    struct stat st;
    if (dir < 0 || fstatat(dir, target_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
        if (dir >= 0)
            close(dir);
        return entry_fail(e, "a hardlink to \"%s\", which is not a regular file unpacked before it",
                          printable);
    }
    bool is_dir;
    int rc = make_room(u, parent, name, path, false, &is_dir, e);
    if (rc == 0 && linkat(dir, target_name, parent, name, 0) != 0)
        rc = entry_fail(e, "linking it to \"%s\": %s", printable, strerror(errno));
    close(dir);
    return rc;
}

static int write_directory(int parent, const char *name, bool exists, mode_t mode,
                           const struct entry_error *e)
{
    if (!exists && mkdirat(parent, name, 0700) != 0)
        return entry_fail(e, "creating it: %s", strerror(errno));
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, mode) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return entry_fail(e, "setting its mode: %s", strerror(saved));
    }
    close(fd);
    return 0;
}

static void note_skipped(struct unpacker *u, const struct entry_error *e, const char *kind)
{
    if (u->note == NULL)
        return;
    if (u->notes >= IMAGE_MAX_NOTES) {
        u->notes_dropped++;
        return;
    }
    char text[512];
    snprintf(text, sizeof(text), "%s: skipped the %s %s", e->label, kind, e->name);
    u->note(u->note_ctx, text);
    u->notes++;
}

static const char *special_kind(mode_t type)
{
    switch (type) {
    case AE_IFCHR:
        return "character device";
    case AE_IFBLK:
        return "block device";
    case AE_IFIFO:
        return "FIFO";
    case AE_IFSOCK:
        return "socket";
    default:
        return NULL;
    }
}

static int apply_entry(struct unpacker *u, struct archive *a, struct archive_entry *entry,
                       const char *path, bool whiteouts, const struct entry_error *e)
{
    mode_t type = archive_entry_filetype(entry);
    const char *hardlink = archive_entry_hardlink(entry);
    const char *kind = special_kind(type);
    if (path[0] == '\0')
        return 0; /* the root: its mode is brig's */
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (whiteouts && strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
        return apply_whiteout(u, path, e);
    if (hardlink == NULL && kind != NULL) {
        note_skipped(u, e, kind);
        return 0;
    }
    if (hardlink == NULL && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return entry_fail(e, "an entry of unknown type %#o", (unsigned)type);
    const char *name;
    int parent = open_parent(u, path, true, &name, e);
    if (parent < 0)
        return -1;
    if (remember(u, path) != 0)
        return entry_fail(e, "out of memory");
    if (hardlink != NULL)
        return write_hardlink(u, hardlink, parent, name, path, e);
    bool is_dir;
    if (make_room(u, parent, name, path, type == AE_IFDIR, &is_dir, e) != 0)
        return -1;
    mode_t mode = archive_entry_perm(entry) & 0755;
    if (type == AE_IFDIR)
        return write_directory(parent, name, is_dir, mode, e);
    if (type == AE_IFREG)
        return write_file(u, a, entry, parent, name, mode, e);
    const char *target = archive_entry_symlink(entry);
    if (target == NULL || target[0] == '\0' || strlen(target) >= PATH_MAX)
        return entry_fail(e, "a symbolic link without a target, or with a target too long");
    if (symlinkat(target, parent, name) != 0)
        return entry_fail(e, "creating the link: %s", strerror(errno));
    return 0;
}

int unpacker_apply(struct unpacker *u, struct archive *layer, const char *label,
                   enum image_layer_kind kind, char *err, size_t errlen)
{
    bool whiteouts = kind == IMAGE_LAYER_TAR;
    char last[256] = "", printable[256], path[PATH_MAX];
    int rc = 0;
    tdestroy(u->layer_paths, free);
    u->layer_paths = NULL;
    for (;;) {
        struct archive_entry *entry;
        int r = archive_read_next_header(layer, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            snprintf(err, errlen, "%s: reading the archive%s%s%s: %s", label,
                     last[0] ? " after \"" : "", last, last[0] ? "\"" : "",
                     archive_error_string(layer));
            rc = -1;
            break;
        }
        const char *raw = archive_entry_pathname(entry);
        image_printable(raw != NULL ? raw : "?", printable, sizeof(printable));
        struct entry_error e = {err, errlen, label, printable};
        if (++u->entries > u->limits.entries) {
            rc = entry_fail(&e, "the image has more than %llu entries",
                            (unsigned long long)u->limits.entries);
            break;
        }
        const char *why = raw != NULL ? image_path_normalise(raw, path, sizeof(path))
                                      : "has a name that cannot be read";
        if (why != NULL) {
            rc = entry_fail(&e, "%s", why);
            break;
        }
        if (apply_entry(u, layer, entry, path, whiteouts, &e) != 0) {
            rc = -1;
            break;
        }
        snprintf(last, sizeof(last), "%s", printable);
        /* A tree on disk is walked into only when asked. */
        if (kind == IMAGE_LAYER_DISK && archive_entry_filetype(entry) == AE_IFDIR &&
            archive_read_disk_descend(layer) < ARCHIVE_WARN) {
            snprintf(err, errlen, "%s: entering %s: %s", label, printable,
                     archive_error_string(layer));
            rc = -1;
            break;
        }
    }
    forget_parent(u);
    return rc;
}
