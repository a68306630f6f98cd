#include "sandbox/runtime_locate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/self_path.h"

int runtime_table_locate(const char *given, char *path, size_t len, char *err, size_t errlen)
{
    static const char installed[] = "../share/brig/runtimes.json";
    static const char in_tree[] = BRIG_SOURCE_DIR "/sandbox/runtimes.json";
    const char *env_path = getenv("BRIG_RUNTIMES");

    if (given || (env_path && *env_path)) {
        snprintf(path, len, "%s", given ? given : env_path);
        return 0;
    }
    char installed_path[PATH_MAX];
    if (self_relative_path(installed, installed_path, sizeof(installed_path), err, errlen) != 0)
        return -1;
    if (access(installed_path, R_OK) == 0) {
        snprintf(path, len, "%s", installed_path);
        return 0;
    }
    int n = snprintf(path, len, "%s", in_tree);
    if (n > 0 && (size_t)n < len && access(path, R_OK) == 0)
        return 0;
    snprintf(err, errlen,
             "no runtime table: give --runtimes FILE or set BRIG_RUNTIMES (none at %.400s nor %s)",
             installed_path, in_tree);
    return -1;
}
