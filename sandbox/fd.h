/* Small helpers on descriptors, shared by the host and the child side (all
 * of them async-signal-safe but dir_list_at). */
#ifndef BRIG_SANDBOX_FD_H
#define BRIG_SANDBOX_FD_H

#include <dirent.h>
#include <stddef.h>

#include "common/common.h"

/* Closes *fd when it is open and marks it closed (-1). */
void close_fd(int *fd);

/* The directory name in dirfd ("." for dirfd itself), opened for listing,
 * never through a symbolic link. NULL with errno, nothing left open. */
DIR *dir_list_at(int dirfd, const char *name);

#endif
