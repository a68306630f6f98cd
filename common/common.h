/* What every module of brig writes the same way: clocks, array sizes and
 * writing a whole buffer (here), and sizes and durations as people type
 * them (common/units.h). */
#ifndef BRIG_COMMON_H
#define BRIG_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and intervals. */
int64_t monotonic_ms(void);
/* Nanoseconds of CLOCK_MONOTONIC: for measuring short things. */
uint64_t monotonic_ns(void);
/* Seconds of CLOCK_MONOTONIC, with nanoseconds: for measuring. */
double monotonic_seconds(void);
/* Milliseconds since the epoch (CLOCK_REALTIME): for timestamps. */
int64_t wall_clock_ms(void);

/* Writes all len bytes to fd, retrying short writes and EINTR. Returns 0, or
 * -1 with errno set. */
int write_all(int fd, const void *data, size_t len);

#endif
