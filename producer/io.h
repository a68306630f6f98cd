/* Small I/O helpers the CLI shares. */
#ifndef BRIG_PRODUCER_IO_H
#define BRIG_PRODUCER_IO_H

#include <stddef.h>

/* Reads fd to its end into a malloc'd buffer of *len bytes plus a NUL.
 * Returns 0, or -1 with errno: EFBIG when fd holds more than max bytes. */
int read_fully(int fd, size_t max, char **data, size_t *len);

#endif
