/* Processes named by pid and start time (owner.h). */
#include "sandbox/owner.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* State and start time from /proc/<pid>/stat: 0, -1 with errno ESRCH when
 * there is no such process, or -1 with another errno. */
static int read_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        if (errno == ENOENT)
            errno = ESRCH;
        return -1;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[n] = '\0';
    /* The command name (field 2) may hold anything, ')' included: the fields
     * that follow start after the last ')'. State is field 3, start time 22. */
    const char *after = strrchr(text, ')');
    unsigned long long ticks;
    if (after == NULL ||
        sscanf(after + 1,
               " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
               "%*s %llu",
               state, &ticks) != 2) {
        errno = EPROTO;
        return -1;
    }
    *start = ticks;
    return 0;
}

int owner_of(pid_t pid, struct owner *out)
{
    char state;
    out->pid = pid;
    return read_stat(pid, &state, &out->start);
}

int owner_self(struct owner *out, char *err, size_t errlen)
{
    if (owner_of(getpid(), out) != 0) {
        snprintf(err, errlen, "reading this process's start time from /proc/%d/stat: %s",
                 (int)getpid(), strerror(errno));
        return -1;
    }
    return 0;
}

bool owner_alive(const struct owner *owner)
{
    char state;
    uint64_t start;
    if (read_stat(owner->pid, &state, &start) != 0)
        return errno != ESRCH;
    if (state == 'Z' || state == 'X')
        return false;
    return owner->start == 0 || start == owner->start;
}

void owner_format(const struct owner *owner, char *buf, size_t len)
{
    snprintf(buf, len, "%d-%" PRIu64, (int)owner->pid, owner->start);
}

/* A decimal number without sign or leading zero, up to max. */
static bool parse_number(const char *text, uint64_t max, uint64_t *value, const char **rest)
{
    if (text[0] < '0' || text[0] > '9' || (text[0] == '0' && text[1] >= '0' && text[1] <= '9'))
        return false;
    char *end;
    errno = 0;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || parsed > max)
        return false;
    *value = parsed;
    *rest = end;
    return true;
}

bool owner_parse(const char *text, struct owner *out, const char **rest)
{
    uint64_t pid, start;
    const char *after;
    if (!parse_number(text, INT32_MAX, &pid, &after) || pid == 0 || *after != '-' ||
        !parse_number(after + 1, UINT64_MAX, &start, rest))
        return false;
    out->pid = (pid_t)pid;
    out->start = start;
    return true;
}
