/* The shared reporting of the attack programs (see attack.h). */
#include "tests/attacks/attack.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned attempts;
static unsigned escapes;

static void report(const char *verdict, const char *detail, const char *fmt, va_list ap)
{
    char what[512];
    vsnprintf(what, sizeof(what), fmt, ap);
    if (detail)
        dprintf(STDOUT_FILENO, "%s: %s: %s\n", verdict, what, detail);
    else
        dprintf(STDOUT_FILENO, "%s: %s\n", verdict, what);
}

void attack_contained(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("CONTAINED", NULL, fmt, ap);
    va_end(ap);
    attempts++;
}

void attack_escaped(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("ESCAPED", NULL, fmt, ap);
    va_end(ap);
    attempts++;
    escapes++;
}

void attack_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("NOTE", NULL, fmt, ap);
    va_end(ap);
}

void attack_must_fail(long result, const char *fmt, ...)
{
    int err = errno;
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    if (result < 0) {
        snprintf(detail, sizeof(detail), "%s (%s)", attack_errno_name(err), strerror(err));
        report("CONTAINED", detail, fmt, ap);
    } else {
        snprintf(detail, sizeof(detail), "succeeded (returned %ld)", result);
        report("ESCAPED", detail, fmt, ap);
        escapes++;
    }
    va_end(ap);
    attempts++;
}

void attack_open_must_fail(const char *path, int flags)
{
    const char *access = (flags & O_ACCMODE) == O_RDONLY   ? "read"
                         : (flags & O_ACCMODE) == O_WRONLY ? "write"
                                                           : "read-write";
    int fd = open(path, flags | O_CLOEXEC, 0644);
    attack_must_fail(fd, "open %s (%s%s)", path, access, flags & O_CREAT ? ", create" : "");
    if (fd >= 0)
        close(fd);
}

void attack_write_must_fail(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        attack_must_fail(fd, "open %s (write)", path);
        return;
    }
    attack_must_fail(write(fd, value, strlen(value)), "write \"%s\" into %s", value, path);
    close(fd);
}

int attack_finish(void)
{
    if (attempts == 0) {
        dprintf(STDOUT_FILENO, "ESCAPED: no attempt was made, nothing was shown\n");
        return 1;
    }
    return escapes == 0 ? 0 : 1;
}

void attack_usage(const char *usage)
{
    fprintf(stderr, "usage: %s\n", usage);
    exit(2);
}

const char *attack_errno_name(int err)
{
    const char *name = strerrorname_np(err);
    return name ? name : "E?";
}

void attack_touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "creating %s: %s\n", path, strerror(errno));
        exit(2);
    }
    close(fd);
}

bool attack_wait_for(const char *path, int timeout_ms)
{
    const struct timespec step = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (access(path, F_OK) == 0)
            return true;
        nanosleep(&step, NULL);
    }
    return false;
}

long attack_read_file(const char *path, char *buf, unsigned long size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned long used = 0;
    while (used + 1 < size) {
        ssize_t n = read(fd, buf + used, size - 1 - used);
        if (n < 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        used += (unsigned long)n;
    }
    buf[used] = '\0';
    close(fd);
    return (long)used;
}

int attack_list_pids(int *pids, int max)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    int count = 0;
    struct dirent *entry;
    while (count < max && (entry = readdir(proc)) != NULL) {
        if (isdigit((unsigned char)entry->d_name[0]))
            pids[count++] = atoi(entry->d_name);
    }
    closedir(proc);
    return count;
}
