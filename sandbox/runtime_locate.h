/* Where the runtime table is, for every program that loads it: the given
 * path, else $BRIG_RUNTIMES, else the installed copy (<exe>/../share/brig/),
 * else the source tree's that the program was built from. */
#ifndef BRIG_SANDBOX_RUNTIME_LOCATE_H
#define BRIG_SANDBOX_RUNTIME_LOCATE_H

#include <stddef.h>

int runtime_table_locate(const char *given, char *path, size_t len, char *err, size_t errlen);

#endif
