/* The collector works in two passes. The walk reads the workspace's
 * directories through descriptors, enters only those below which a pattern
 * can still match, and notes every matching entry by path. The notes are then
 * sorted and examined in path order, so which files fit the byte and file
 * budgets never depends on the order readdir happens to return. Each
 * examination resolves its path again from the root with openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV, so nothing the
 * walk saw can lead it elsewhere. */
#include "worker/collect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "schema/text.h"
#include "worker/glob_match.h"

/* The walk enters a directory only while its children's paths can still be
 * result paths (at most BRIG_PATH_MAX bytes), so a path it builds is at most
 * that, a "/" and a name of up to 255 bytes. */
#define PATH_BUFFER (BRIG_PATH_MAX + 1 + 255 + 1)

enum note_kind {
    NOTE_ENTRY,          /* a file, or a symlink, FIFO...: examined after the walk */
    NOTE_TOO_DEEP,       /* a directory the walk did not enter */
    NOTE_TOO_LONG,       /* likewise: paths below it could not be result paths */
    NOTE_NOT_SEARCHABLE, /* a directory that could not be opened: error says why */
};

struct note {
    char *path;
    enum note_kind kind;
    int error;
};

struct collector {
    int root_fd;
    dev_t root_dev;
    uint64_t max_bytes;
    struct glob_set patterns;

    char path[PATH_BUFFER]; /* of the entry being visited */
    size_t path_len;
    uint64_t entries;
    uint64_t match_steps;
    char *stopped_at; /* where the walk stopped early, and why */
    char stop_reason[128];

    /* Sorted and cut to the first COLLECT_CANDIDATES_MAX whenever it fills. */
    struct note *notes;
    size_t note_count;
    bool dropped; /* some were cut */

    size_t omitted_room; /* entries omit() may fill */

    struct collection *out;
    char *err;
    size_t errlen;
};

static bool host_failure(int error)
{
    return error == ENOMEM || error == EMFILE || error == ENFILE;
}

static int fail(struct collector *c, const char *what, int error)
{
    snprintf(c->err, c->errlen, "collecting files: %s: %s", what, strerror(error));
    return -1;
}

/* The fallback for kernels without openat2: one component at a time, with
 * O_NOFOLLOW, each checked to be on the root's device. A directory on the
 * way is opened O_PATH | O_DIRECTORY, which refuses a symlink. Paths here
 * come from readdir, so they hold no "." or "..". */
static int open_by_components(int dirfd, const char *path, int flags, dev_t dev)
{
    char copy[PATH_BUFFER];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int at = dirfd;
    for (char *component = copy;;) {
        char *slash = strchr(component, '/');
        if (slash)
            *slash = '\0';
        int fd =
            openat(at, component, slash ? O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC : flags);
        struct stat st;
        int error = 0;
        if (fd < 0 || fstat(fd, &st) != 0)
            error = errno;
        else if (st.st_dev != dev)
            error = EXDEV;
        if (at != dirfd)
            close(at);
        if (error) {
            if (fd >= 0)
                close(fd);
            errno = error;
            return -1;
        }
        if (!slash)
            return fd;
        at = fd;
        component = slash + 1;
    }
}

/* Opens path below dirfd without following any symlink or crossing into
 * another mount. flags must hold O_NOFOLLOW: a final symlink then fails with
 * ELOOP, or is opened itself with O_PATH, as openat2 does. */
static int open_beneath(int dirfd, const char *path, int flags, dev_t dev)
{
    struct open_how how = {
        .flags = (uint64_t)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    if (fd >= 0 || errno != ENOSYS)
        return fd;
    return open_by_components(dirfd, path, flags, dev);
}

static bool has_control_characters(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

/* raw as result text: when it is not valid UTF-8 or holds control
 * characters, those bytes and every backslash are written \xhh and \\; past
 * BRIG_PATH_MAX bytes it is cut, between two characters, and ends in "...". */
static void display_path(const char *raw, char *out, size_t outlen)
{
    size_t len = strlen(raw), bad_at;
    bool escape = !utf8_valid(raw, len, &bad_at) || has_control_characters(raw);
    char text[PATH_BUFFER * 4];
    size_t n = 0, cut = 0, valid_until = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char byte = (unsigned char)raw[i];
        if (i >= valid_until)
            valid_until = utf8_valid(raw + i, len - i, &bad_at) ? len : i + bad_at;
        bool starts_character = i == valid_until || (byte & 0xc0) != 0x80;
        if (starts_character && n <= BRIG_PATH_MAX - 3)
            cut = n;
        if (i == valid_until || (escape && (byte < 0x20 || byte == 0x7f)))
            n += (size_t)sprintf(text + n, "\\x%02x", byte);
        else if (escape && byte == '\\')
            n += (size_t)sprintf(text + n, "\\\\");
        else
            text[n++] = (char)byte;
    }
    if (n > BRIG_PATH_MAX)
        n = cut + (size_t)sprintf(text + cut, "...");
    snprintf(out, outlen, "%.*s", (int)n, text);
}

static int omit(struct collector *c, const char *raw_path, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a files_omitted entry for raw_path, shown as display_path() does, or
 * marks the list truncated when it is full. */
static int omit(struct collector *c, const char *raw_path, const char *format, ...)
{
    if (c->out->omitted_count == c->omitted_room) {
        c->out->omitted_truncated = true;
        return 0;
    }
    char shown[BRIG_PATH_MAX + 1], reason[BRIG_OMITTED_REASON_MAX + 1];
    display_path(raw_path, shown, sizeof(shown));
    va_list ap;
    va_start(ap, format);
    vsnprintf(reason, sizeof(reason), format, ap);
    va_end(ap);
    struct brig_omitted_file *entry = &c->out->omitted[c->out->omitted_count];
    entry->path = strdup(shown);
    entry->reason = strdup(reason);
    if (!entry->path || !entry->reason) {
        free((char *)entry->path);
        free((char *)entry->reason);
        return fail(c, "recording an omitted file", ENOMEM);
    }
    c->out->omitted_count++;
    return 0;
}

static int omit_for_error(struct collector *c, const char *raw_path, int error)
{
    switch (error) {
    case ELOOP:
        return omit(c, raw_path, "symlink: never followed");
    case EXDEV:
        return omit(c, raw_path, "on another file system: a mount point is never crossed");
    case ENOENT:
    case ENOTDIR:
        return omit(c, raw_path, "changed while the workspace was read");
    default:
        return omit(c, raw_path, "could not be opened: %s", strerror(error));
    }
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct note *)a)->path, ((const struct note *)b)->path);
}

/* Sorts the notes and keeps the first COLLECT_CANDIDATES_MAX. */
static void keep_first_notes(struct collector *c)
{
    qsort(c->notes, c->note_count, sizeof(*c->notes), by_path);
    if (c->note_count <= COLLECT_CANDIDATES_MAX)
        return;
    for (size_t i = COLLECT_CANDIDATES_MAX; i < c->note_count; i++)
        free(c->notes[i].path);
    c->dropped = true;
    c->note_count = COLLECT_CANDIDATES_MAX;
}

static int add_note(struct collector *c, enum note_kind kind, int error)
{
    char *path = strdup(c->path);
    if (!path)
        return fail(c, "recording a matching file", ENOMEM);
    c->notes[c->note_count++] = (struct note){.path = path, .kind = kind, .error = error};
    if (c->note_count == 2 * COLLECT_CANDIDATES_MAX)
        keep_first_notes(c);
    return 0;
}

static int stop_walk(struct collector *c, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Ends the walk at the entry being visited, with a reason for the report. */
static int stop_walk(struct collector *c, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(c->stop_reason, sizeof(c->stop_reason), format, ap);
    va_end(ap);
    c->stopped_at = strdup(c->path);
    return c->stopped_at ? 0 : fail(c, "recording where the walk stopped", ENOMEM);
}

static int walk_directory(struct collector *c, int fd, const struct glob_position *here,
                          unsigned depth);

/* depth is the directory's: 1 for a directory in /work. */
static int enter_directory(struct collector *c, int parent_fd, const char *name,
                           const struct glob_position *at, unsigned depth)
{
    if (depth > COLLECT_DEPTH_MAX)
        return add_note(c, NOTE_TOO_DEEP, 0);
    if (c->path_len + 2 > BRIG_PATH_MAX)
        return add_note(c, NOTE_TOO_LONG, 0);
    int fd = open_beneath(
        parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, c->root_dev);
    if (fd < 0) {
        if (host_failure(errno))
            return fail(c, "opening a directory of the workspace", errno);
        return errno == ENOENT ? 0 : add_note(c, NOTE_NOT_SEARCHABLE, errno);
    }
    return walk_directory(c, fd, at, depth);
}

static int visit(struct collector *c, int dirfd, const char *name, unsigned char type,
                 const struct glob_position *at, unsigned depth)
{
    struct stat st;
    if (type == DT_UNKNOWN && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        type = IFTODT(st.st_mode);
    bool can_continue = glob_position_can_continue(&c->patterns, at);
    if (type == DT_DIR)
        return can_continue ? enter_directory(c, dirfd, name, at, depth + 1) : 0;
    /* A symlink where a pattern would have searched on is reported too: the
     * job's author learns why "out/a.txt" found nothing when out is a link. */
    if (glob_position_matches(&c->patterns, at) || (type == DT_LNK && can_continue))
        return add_note(c, NOTE_ENTRY, 0);
    return 0;
}

/* Reads the directory fd (which it closes) and everything below it that a
 * pattern can match; c->path is the directory's path. */
static int walk_directory(struct collector *c, int fd, const struct glob_position *here,
                          unsigned depth)
{
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int error = errno;
        close(fd);
        return fail(c, "reading a directory of the workspace", error);
    }
    int rc = 0;
    size_t dir_len = c->path_len;
    while (rc == 0 && !c->stopped_at) {
        errno = 0;
        struct dirent *entry = readdir(dir);
        if (!entry) {
            if (errno)
                rc = fail(c, "reading a directory of the workspace", errno);
            break;
        }
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        c->path_len += (size_t)sprintf(c->path + c->path_len, "%s%s", dir_len ? "/" : "", name);
        struct glob_position at;
        if (c->entries++ == COLLECT_ENTRIES_MAX) {
            rc = stop_walk(c,
                           "walk stopped here: the workspace holds more than %d directory entries",
                           COLLECT_ENTRIES_MAX);
        } else if ((c->match_steps += glob_position_step(&c->patterns, here, name, &at)) >
                   COLLECT_MATCH_STEPS_MAX) {
            rc =
                stop_walk(c, "walk stopped here: the patterns needed more than %d name comparisons",
                          COLLECT_MATCH_STEPS_MAX);
        } else {
            rc = visit(c, dirfd(dir), name, entry->d_type, &at, depth);
        }
        c->path_len = dir_len;
        c->path[dir_len] = '\0';
    }
    closedir(dir);
    return rc;
}

static const char *file_type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR:
        return "a directory";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    default:
        return "of an unknown type";
    }
}

/* Reads the regular file that st describes at path into c->out->files. */
static int read_file(struct collector *c, const char *path, const struct stat *st)
{
    /* A second open, since an O_PATH descriptor cannot be reopened without
     * /proc. Should the entry be swapped in between, O_NONBLOCK keeps a FIFO
     * from blocking, a socket cannot be opened, the workspace's tmpfs is
     * nodev, and the inode check below refuses whatever was swapped in. */
    int fd = open_beneath(c->root_fd, path,
                          O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, c->root_dev);
    if (fd < 0) {
        if (host_failure(errno))
            return fail(c, "opening a file to collect", errno);
        return omit_for_error(c, path, errno);
    }
    struct stat now;
    char *data = NULL;
    size_t size = (size_t)st->st_size, got = 0;
    int rc = 0;
    if (fstat(fd, &now) != 0) {
        rc = fail(c, "checking a file to collect", errno);
        goto out;
    }
    if (now.st_dev != st->st_dev || now.st_ino != st->st_ino || !S_ISREG(now.st_mode) ||
        now.st_nlink != st->st_nlink) {
        rc = omit(c, path, "changed while the workspace was read");
        goto out;
    }
    data = malloc(size + 1);
    if (!data) {
        rc = fail(c, "reading a file to collect", ENOMEM);
        goto out;
    }
    /* One byte more than fstat promised tells a file that grew. */
    while (got < size + 1) {
        ssize_t n = read(fd, data + got, size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = omit(c, path, "could not be read: %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != size) {
        rc = omit(c, path, "changed while read: %zu bytes where %zu were expected", got, size);
        goto out;
    }
    data[size] = '\0';
    struct brig_file *file = &c->out->files[c->out->file_count];
    file->path = strdup(path);
    if (!file->path) {
        rc = fail(c, "recording a collected file", ENOMEM);
        goto out;
    }
    file->content = (struct brig_bytes){.data = data, .len = size};
    data = NULL;
    c->out->file_count++;
    c->out->total_bytes += size;
out:
    free(data);
    close(fd);
    return rc;
}

static int examine(struct collector *c, const char *path)
{
    size_t len = strlen(path), bad_at;
    if (!utf8_valid(path, len, &bad_at))
        return omit(c, path, "path is not valid UTF-8 (shown with \\xhh escapes)");
    if (has_control_characters(path))
        return omit(c, path, "path holds control characters (shown with \\xhh escapes)");
    if (len > BRIG_PATH_MAX)
        return omit(c, path, "path too long: %zu bytes (max %d)", len, BRIG_PATH_MAX);

    /* O_PATH looks at the entry without opening it: no FIFO blocks, no
     * device driver runs. */
    int fd = open_beneath(c->root_fd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, c->root_dev);
    if (fd < 0) {
        if (host_failure(errno))
            return fail(c, "looking at a file to collect", errno);
        return omit_for_error(c, path, errno);
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int error = errno;
    close(fd);
    if (rc != 0)
        return fail(c, "looking at a file to collect", error);

    if (S_ISLNK(st.st_mode))
        return omit(c, path, "symlink: never followed");
    if (!S_ISREG(st.st_mode))
        return omit(c, path, "not a regular file: %s", file_type_name(st.st_mode));
    /* Only another workspace file can share the inode of a file on the
     * workspace's own tmpfs, but a link count above 1 is refused wherever
     * the workspace lives: it could name a file the job cannot read. */
    if (st.st_nlink > 1)
        return omit(c, path, "multiple links: the file has %ju hard links", (uintmax_t)st.st_nlink);
    if (st.st_dev != c->root_dev)
        return omit_for_error(c, path, EXDEV);
    uint64_t room = c->max_bytes - c->out->total_bytes;
    if ((uint64_t)st.st_size > room)
        return omit(c, path, "too large: %ju bytes over the collect_bytes budget of %ju",
                    (uintmax_t)((uint64_t)st.st_size - room), (uintmax_t)c->max_bytes);
    return read_file(c, path, &st);
}

static int report_note(struct collector *c, struct note *note)
{
    switch (note->kind) {
    case NOTE_ENTRY:
        if (c->out->file_count < BRIG_FILES_MAX)
            return examine(c, note->path);
        return omit(c, note->path, "too many files: a result returns at most %d", BRIG_FILES_MAX);
    case NOTE_TOO_DEEP:
        return omit(c, note->path, "not searched: directories deeper than %d levels are not",
                    COLLECT_DEPTH_MAX);
    case NOTE_TOO_LONG:
        return omit(c, note->path, "not searched: paths below it would be longer than %d bytes",
                    BRIG_PATH_MAX);
    case NOTE_NOT_SEARCHABLE:
        return omit_for_error(c, note->path, note->error);
    }
    return 0;
}

static int collect(struct collector *c)
{
    struct stat st;
    if (fstat(c->root_fd, &st) != 0)
        return fail(c, "looking at the workspace", errno);
    if (!S_ISDIR(st.st_mode))
        return fail(c, "looking at the workspace", ENOTDIR);
    c->root_dev = st.st_dev;
    c->notes = calloc(2 * COLLECT_CANDIDATES_MAX, sizeof(*c->notes));
    c->out->files = calloc(BRIG_FILES_MAX, sizeof(*c->out->files));
    c->out->omitted = calloc(BRIG_OMITTED_MAX, sizeof(*c->out->omitted));
    if (!c->notes || !c->out->files || !c->out->omitted)
        return fail(c, "allocating", ENOMEM);

    int fd = open_beneath(
        c->root_fd, ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, c->root_dev);
    if (fd < 0)
        return fail(c, "opening the workspace", errno);
    struct glob_position start;
    glob_position_start(&c->patterns, &start);
    if (walk_directory(c, fd, &start, 0) < 0)
        return -1;

    keep_first_notes(c);
    /* The place where a stopped walk stopped gets the last entry. */
    c->omitted_room = BRIG_OMITTED_MAX - (c->stopped_at != NULL);
    for (size_t i = 0; i < c->note_count; i++) {
        if (report_note(c, &c->notes[i]) < 0)
            return -1;
    }
    /* Matches past the first COLLECT_CANDIDATES_MAX, and those a stopped walk
     * never saw, are missing from the list. */
    if (c->dropped || c->stopped_at)
        c->out->omitted_truncated = true;
    c->omitted_room = BRIG_OMITTED_MAX;
    return c->stopped_at ? omit(c, c->stopped_at, "%s", c->stop_reason) : 0;
}

int collect_files(int root_fd, const char *const *patterns, size_t pattern_count,
                  uint64_t max_bytes, struct collection *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct collector *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "collecting files: allocating: %s", strerror(ENOMEM));
        return -1;
    }
    c->root_fd = root_fd;
    c->max_bytes = max_bytes;
    c->out = out;
    c->err = err;
    c->errlen = errlen;
    int rc = glob_set_compile(&c->patterns, patterns, pattern_count, err, errlen);
    if (rc == 0 && pattern_count > 0)
        rc = collect(c);
    for (size_t i = 0; i < c->note_count; i++)
        free(c->notes[i].path);
    free(c->notes);
    free(c->stopped_at);
    free(c);
    if (rc < 0)
        collection_free(out);
    return rc;
}

void collection_free(struct collection *c)
{
    for (size_t i = 0; i < c->file_count; i++) {
        free((char *)c->files[i].path);
        free((char *)c->files[i].content.data);
    }
    for (size_t i = 0; i < c->omitted_count; i++) {
        free((char *)c->omitted[i].path);
        free((char *)c->omitted[i].reason);
    }
    free(c->files);
    free(c->omitted);
    memset(c, 0, sizeof(*c));
}
