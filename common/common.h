/* What every module of brig writes the same way: clocks, array sizes,
 * writing a whole buffer and lists of strings (here), and sizes and durations as people type
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

/* NULL-terminated lists of strings (argv, environments): the length (0 for
 * NULL), a deep copy (NULL when out of memory), and freeing one (NULL is
 * fine). */
size_t strv_len(const char *const *list);
char **strv_copy(const char *const *list);
void strv_free(char **list);

#endif
