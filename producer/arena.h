/* Allocations that live as long as a job built by the CLI: they go into the
 * job's msgpack zone (brig_job.arena), so brig_job_free() releases them all
 * at once, the same way as for a decoded job. Each returns NULL when out of
 * memory. */
#ifndef BRIG_PRODUCER_ARENA_H
#define BRIG_PRODUCER_ARENA_H

#include <msgpack.h>
#include <stddef.h>

/* A zone for one job; NULL when out of memory. */
msgpack_zone *arena_new(void);

/* size zeroed bytes. */
void *arena_calloc(msgpack_zone *arena, size_t count, size_t size);

/* A copy of len bytes followed by a NUL, like a decoded brig_bytes. */
char *arena_memdup(msgpack_zone *arena, const void *data, size_t len);

char *arena_strdup(msgpack_zone *arena, const char *text);

#endif
