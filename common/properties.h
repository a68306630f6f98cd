/* Kafka client properties as people give them: "key=value" on a command
 * line (-X) or one per line in a properties file (--kafka-config), as
 * librdkafka's and Kafka's own tools read them. */
#ifndef BRIG_COMMON_PROPERTIES_H
#define BRIG_COMMON_PROPERTIES_H

#include <stddef.h>

struct property {
    char *key;
    char *value;
};

struct property_list {
    struct property *items;
    size_t count;
};

/* Appends "key=value" (text) to list. -1 with err naming the text when it
 * has no '=' or an empty key, or when out of memory. */
int properties_add(struct property_list *list, const char *text, char *err, size_t errlen);

/* Appends every property of the file at path: lines "key=value" (spaces
 * around the key and the value are dropped), blank lines and lines starting
 * with '#' or '!' skipped. -1 with err naming the file and line. */
int properties_read_file(struct property_list *list, const char *path, char *err, size_t errlen);

/* The properties of the file at path (NULL or "": $BRIG_KAFKA_CONFIG, or
 * none), then those of overrides, which win (librdkafka applies the last
 * value of a key): --kafka-config then -X. overrides is emptied. */
int properties_load(struct property_list *list, const char *path, struct property_list *overrides,
                    char *err, size_t errlen);

void properties_free(struct property_list *list);

#endif
