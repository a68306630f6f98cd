#include "sandbox/runtime_locate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int runtime_table_locate(const char *given, char *path, size_t len, char *err, size_t errlen)
{
    static const char installed[] = "../share/brig/runtimes.json";
    static const char in_tree[] = BRIG_SOURCE_DIR "/sandbox/runtimes.json";
    const char *env_path = getenv("BRIG_RUNTIMES");
    char exe[PATH_MAX];

    if (given || (env_path && *env_path)) {
        snprintf(path, len, "%s", given ? given : env_path);
        return 0;
    }
    ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (exe_len < 0) {
        snprintf(err, errlen, "finding the runtime table: reading /proc/self/exe: %s",
                 strerror(errno));
        return -1;
    }
    exe[exe_len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    int n = snprintf(path, len, "%s/%s", exe, installed);
    if (n > 0 && (size_t)n < len && access(path, R_OK) == 0)
        return 0;
    n = snprintf(path, len, "%s", in_tree);
    if (n > 0 && (size_t)n < len && access(path, R_OK) == 0)
        return 0;
    snprintf(err, errlen,
             "no runtime table: give --runtimes FILE or set BRIG_RUNTIMES (none at %.400s/%s nor "
             "%s)",
             exe, installed, in_tree);
    return -1;
}
