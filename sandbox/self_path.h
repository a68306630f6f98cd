/* How brig's programs find what is installed next to them: a path relative
 * to the directory of the running program (/proc/self/exe). */
#ifndef BRIG_SANDBOX_SELF_PATH_H
#define BRIG_SANDBOX_SELF_PATH_H

#include <stddef.h>

/* "<directory of this program>/relative" into path. Returns 0, or -1 with a
 * sentence in err (no /proc/self/exe, or path too small). */
int self_relative_path(const char *relative, char *path, size_t len, char *err, size_t errlen);

#endif
