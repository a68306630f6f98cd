#include "producer/watch_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Enough that chains stay short for thousands of jobs in flight; the table
 * does not grow. */
#define WATCH_BUCKETS 4096

static size_t bucket_of(const struct watch_table *table, const char *id, size_t len)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)id[i];
        hash *= 1099511628211ull;
    }
    return (size_t)(hash % table->n_buckets);
}

int watch_table_init(struct watch_table *table)
{
    table->buckets = calloc(WATCH_BUCKETS, sizeof *table->buckets);
    table->n_buckets = table->buckets ? WATCH_BUCKETS : 0;
    table->count = 0;
    return table->buckets ? 0 : -1;
}

static void watch_free(struct watch *watch)
{
    brig_result_free(&watch->result);
    free(watch->bad_result);
    log_order_free(&watch->logs);
    free(watch);
}

void watch_table_free(struct watch_table *table)
{
    for (size_t b = 0; b < table->n_buckets; b++) {
        struct watch *watch = table->buckets[b];
        while (watch) {
            struct watch *next = watch->next;
            watch_free(watch);
            watch = next;
        }
    }
    free(table->buckets);
    memset(table, 0, sizeof *table);
}

struct watch *watch_find(const struct watch_table *table, const char *id, size_t id_len)
{
    if (id_len >= BRIG_ID_SIZE)
        return NULL;
    for (struct watch *w = table->buckets[bucket_of(table, id, id_len)]; w; w = w->next) {
        if (strncmp(w->id, id, id_len) == 0 && w->id[id_len] == '\0')
            return w;
    }
    return NULL;
}

struct watch *watch_add(struct watch_table *table, const char *id)
{
    size_t len = strlen(id);
    struct watch *watch = watch_find(table, id, len);
    if (watch || len >= BRIG_ID_SIZE)
        return watch;
    watch = calloc(1, sizeof *watch);
    if (!watch)
        return NULL;
    memcpy(watch->id, id, len + 1);
    size_t b = bucket_of(table, id, len);
    watch->next = table->buckets[b];
    table->buckets[b] = watch;
    table->count++;
    return watch;
}

void watch_remove(struct watch_table *table, struct watch *watch)
{
    struct watch **link = &table->buckets[bucket_of(table, watch->id, strlen(watch->id))];
    while (*link && *link != watch)
        link = &(*link)->next;
    if (*link) {
        *link = watch->next;
        table->count--;
    }
    watch_free(watch);
}
