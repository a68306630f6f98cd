#include "sandbox/self_path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int self_relative_path(const char *relative, char *path, size_t len, char *err, size_t errlen)
{
    char exe[PATH_MAX];
    ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (exe_len < 0) {
        snprintf(err, errlen, "finding this program: reading /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[exe_len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    int n = snprintf(path, len, "%s/%s", exe, relative);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the path %.200s/%s is too long", exe, relative);
        return -1;
    }
    return 0;
}
