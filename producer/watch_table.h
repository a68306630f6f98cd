/* The jobs a client is waiting on, by id: what its consumer thread keeps for
 * each (a result not yet taken, the order of its log chunks). Not locked
 * itself: the client's mutex guards the table. */
#ifndef BRIG_PRODUCER_WATCH_TABLE_H
#define BRIG_PRODUCER_WATCH_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "producer/brig.h"
#include "producer/log_order.h"

struct watch {
    char id[BRIG_ID_SIZE];
    bool has_result;
    struct brig_result result;
    char *bad_result;  /* a result for this id that failed to decode: why */
    bool result_taken; /* a wait took the result; only its logs are still read */
    struct log_order logs;
    struct watch *next; /* in its bucket */
};

struct watch_table {
    struct watch **buckets;
    size_t n_buckets;
    size_t count;
};

int watch_table_init(struct watch_table *table);
/* Frees every watch with what it holds. */
void watch_table_free(struct watch_table *table);

/* The watch for id (id_len bytes, not NUL-terminated), or NULL. */
struct watch *watch_find(const struct watch_table *table, const char *id, size_t id_len);

/* The watch for id, created when missing; NULL when out of memory or when id
 * is not a job id (too long). */
struct watch *watch_add(struct watch_table *table, const char *id);

/* Unlinks and frees one watch. */
void watch_remove(struct watch_table *table, struct watch *watch);

#endif
