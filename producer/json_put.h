/* Building JSON objects without checking every call: each json_put*()
 * clears *ok on failure (out of memory), and json_done() returns the object
 * only when everything went in. */
#ifndef BRIG_PRODUCER_JSON_PUT_H
#define BRIG_PRODUCER_JSON_PUT_H

#include <jansson.h>
#include <stdbool.h>

/* Sets key to value, taking the reference; a NULL value clears *ok. */
void json_put(json_t *object, const char *key, json_t *value, bool *ok);

/* Sets key to the string, or leaves it out when text is NULL. */
void json_put_string(json_t *object, const char *key, const char *text, bool *ok);

/* A JSON array of the strings, or NULL when out of memory. */
json_t *json_string_array(const char *const *items, size_t count);

/* object when ok, else NULL (object released). */
json_t *json_done(json_t *object, bool ok);

#endif
