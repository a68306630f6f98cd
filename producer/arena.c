#include "producer/arena.h"

#include <stdint.h>
#include <string.h>

#define ARENA_CHUNK 8192

msgpack_zone *arena_new(void)
{
    return msgpack_zone_new(ARENA_CHUNK);
}

void *arena_calloc(msgpack_zone *arena, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    size_t bytes = count * size;
    if (bytes == 0)
        bytes = 1;
    void *p = msgpack_zone_malloc(arena, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

char *arena_memdup(msgpack_zone *arena, const void *data, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *copy = msgpack_zone_malloc(arena, len + 1);
    if (copy) {
        if (len)
            memcpy(copy, data, len);
        copy[len] = '\0';
    }
    return copy;
}

char *arena_strdup(msgpack_zone *arena, const char *text)
{
    return arena_memdup(arena, text, strlen(text));
}
