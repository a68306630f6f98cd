#include "producer/input_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "producer/arena.h"
#include "producer/io.h"
#include "schema/paths.h"
#include "schema/text.h"

/* One --file option while it is read. */
struct spec {
    const char *text; /* the option's value, for messages */
    const char *local;
    const char *dest;
    /* The path below LOCAL being looked at ("" for LOCAL itself); room for
     * one name past the longest path a job may hold, which is refused. */
    char rel[BRIG_PATH_MAX + NAME_MAX + 2];
    msgpack_zone *arena;
    char *err;
    size_t errlen;
};

static int fail(struct spec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "--file SPEC: <message>" */
static int fail(struct spec *s, const char *fmt, ...)
{
    int n = snprintf(s->err, s->errlen, "--file %s: ", s->text);
    if (n >= 0 && (size_t)n < s->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err + n, s->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The local path of what is being looked at, for messages. */
static const char *local_path(const struct spec *s, char *buf, size_t len)
{
    if (!s->rel[0])
        return s->local;
    snprintf(buf, len, "%s/%s", s->local, s->rel);
    return buf;
}

/* The path in the job of what is being looked at, refused unless a job may
 * hold it. */
static int job_path(struct spec *s, char *path, size_t len)
{
    char why[160], where[PATH_MAX + sizeof s->rel];
    int n = snprintf(path, len, "%s%s%s", s->dest, s->rel[0] ? "/" : "", s->rel);
    size_t bad_at;
    if (n < 0 || (size_t)n > BRIG_PATH_MAX)
        return fail(s, "its path in the job would be over %d bytes: %s", BRIG_PATH_MAX,
                    local_path(s, where, sizeof where));
    if (!utf8_valid(path, (size_t)n, &bad_at))
        return fail(s, "%s: its path in the job would not be valid UTF-8",
                    local_path(s, where, sizeof where));
    if (!check_relative_path(path, (size_t)n, why, sizeof why))
        return fail(s, "%s: \"%s\" cannot be a path in the job: %s",
                    local_path(s, where, sizeof where), path, why);
    return 0;
}

/* Reads fd, whose path in the job is path, into files. */
static int add_file(struct input_files *files, struct spec *s, int fd)
{
    char path[BRIG_PATH_MAX + 2], where[PATH_MAX + sizeof s->rel];
    char *data;
    size_t len;
    if (job_path(s, path, sizeof path) < 0)
        return -1;
    if (files->count == BRIG_FILES_MAX)
        return fail(s, "more than %d files: a job carries at most %d", BRIG_FILES_MAX,
                    BRIG_FILES_MAX);
    if (read_fully(fd, BRIG_JOB_MAX_BYTES - files->total_bytes, &data, &len) < 0) {
        if (errno == EFBIG)
            return fail(s,
                        "%s: the input files would come to more than the %u bytes a job may "
                        "carry",
                        local_path(s, where, sizeof where), BRIG_JOB_MAX_BYTES);
        return fail(s, "reading %s: %s", local_path(s, where, sizeof where), strerror(errno));
    }
    if (files->count == files->cap) {
        size_t cap = files->cap ? files->cap * 2 : 8;
        struct brig_file *items = realloc(files->items, cap * sizeof *items);
        if (items)
            files->items = items;
        const char **executable =
            items ? realloc(files->executable, cap * sizeof *executable) : NULL;
        if (!executable) {
            free(data);
            return fail(s, "%s", strerror(ENOMEM));
        }
        files->executable = executable;
        files->cap = cap;
    }
    struct brig_file *file = &files->items[files->count];
    file->path = arena_strdup(s->arena, path);
    file->content.data = arena_memdup(s->arena, data, len);
    file->content.len = len;
    free(data);
    if (!file->path || !file->content.data)
        return fail(s, "%s", strerror(ENOMEM));
    /* Standard input, a pipe, has no execute bits to keep. */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
        files->executable[files->executable_count++] = file->path;
    files->count++;
    files->total_bytes += len;
    return 0;
}

static const char *kind_of(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link, which brig never follows (send its target with a --file of "
               "its own)";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "of an unknown kind";
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in d but . and .., sorted; NULL with errno on failure. */
static char **read_names(DIR *d, size_t *count)
{
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    if (!names)
        return NULL;
    for (;;) {
        /* Only readdir's own failure may leave errno set here. */
        errno = 0;
        struct dirent *entry = readdir(d);
        if (!entry && errno)
            goto fail;
        if (!entry)
            break;
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap *= 2;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                goto fail;
            names = grown;
        }
        if (!(names[n] = strdup(entry->d_name)))
            goto fail;
        n++;
    }
    qsort(names, n, sizeof *names, compare_names);
    *count = n;
    return names;
fail:;
    int saved = errno;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    errno = saved;
    return NULL;
}

static int walk(struct input_files *files, struct spec *s, int fd);

/* One entry of the directory open as dirfd, whose path below LOCAL is in
 * s->rel. */
static int take_entry(struct input_files *files, struct spec *s, int dirfd, const char *name)
{
    char where[PATH_MAX + sizeof s->rel], path[BRIG_PATH_MAX + 2];
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(s, "reading %s: %s", local_path(s, where, sizeof where), strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return fail(s, "%s is %s: brig sends regular files only",
                    local_path(s, where, sizeof where), kind_of(st.st_mode));
    if (S_ISDIR(st.st_mode) && job_path(s, path, sizeof path) < 0)
        return -1;
    /* O_NOFOLLOW and a second look through the descriptor: what was
     * checked may have been replaced by a link or a FIFO since. */
    int fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                        (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    if (fd < 0)
        return fail(s, "opening %s: %s", local_path(s, where, sizeof where), strerror(errno));
    struct stat opened;
    if (fstat(fd, &opened) < 0 || (opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
        close(fd);
        return fail(s, "%s changed while it was read", local_path(s, where, sizeof where));
    }
    if (S_ISDIR(st.st_mode))
        return walk(files, s, fd);
    int rc = add_file(files, s, fd);
    close(fd);
    return rc;
}

/* Every file below the directory open as fd (which it closes), whose path
 * below LOCAL is in s->rel. */
static int walk(struct input_files *files, struct spec *s, int fd)
{
    char where[PATH_MAX + sizeof s->rel];
    DIR *d = fdopendir(fd);
    size_t n = 0, rel_len = strlen(s->rel);
    char **names = d ? read_names(d, &n) : NULL;
    int rc = 0;
    if (!names) {
        rc = fail(s, "reading the directory %s: %s", local_path(s, where, sizeof where),
                  strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* It fits: a directory is entered only when its path is valid in a
         * job, hence at most BRIG_PATH_MAX bytes, and a name is at most
         * NAME_MAX. */
        snprintf(s->rel + rel_len, sizeof s->rel - rel_len, "%s%s", rel_len ? "/" : "", names[i]);
        rc = take_entry(files, s, dirfd(d), names[i]);
        s->rel[rel_len] = '\0';
    }
out:
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    else
        close(fd);
    return rc;
}

/* LOCAL's last component, without the slashes that may end it. */
static char *last_component(msgpack_zone *arena, const char *local)
{
    size_t end = strlen(local);
    while (end > 1 && local[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && local[start - 1] != '/')
        start--;
    return arena_memdup(arena, local + start, end - start);
}

int input_files_add(struct input_files *files, const char *text, msgpack_zone *arena, char *err,
                    size_t errlen)
{
    struct spec s = {.text = text, .arena = arena, .err = err, .errlen = errlen};
    const char *colon = strrchr(text, ':');
    char *local = arena_memdup(arena, text, colon ? (size_t)(colon - text) : strlen(text));
    s.local = local;
    s.dest = colon ? colon + 1 : local ? last_component(arena, local) : NULL;
    if (!local || !s.dest)
        return fail(&s, "%s", strerror(ENOMEM));
    if (!*local || (colon && !*s.dest))
        return fail(&s, "expected LOCAL or LOCAL:PATH");
    if (strcmp(local, "-") == 0)
        return add_file(files, &s, STDIN_FILENO);
    /* LOCAL itself is followed if it is a link: the user named it. */
    int fd = open(local, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return fail(&s, "%s", strerror(saved));
    }
    if (S_ISDIR(st.st_mode)) {
        if (!*s.dest || strcmp(s.dest, ".") == 0 || strcmp(s.dest, "..") == 0) {
            close(fd);
            return fail(&s, "name the directory in the job: --file %s:NAME", local);
        }
        return walk(files, &s, fd);
    }
    int rc = add_file(files, &s, fd);
    close(fd);
    return rc;
}

void input_files_free(struct input_files *files)
{
    free(files->items);
    free(files->executable);
    memset(files, 0, sizeof *files);
}
