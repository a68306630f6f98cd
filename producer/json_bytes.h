/* Binary data (code, stdin, stdout, stderr, file contents) in brig's JSON:
 * a JSON string when the bytes are valid UTF-8, else an object
 * {"base64": "<standard base64 with padding>"}. A reader tells the two apart
 * by the JSON type, so no string is ever ambiguous. */
#ifndef BRIG_PRODUCER_JSON_BYTES_H
#define BRIG_PRODUCER_JSON_BYTES_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#include "schema/schema.h"

/* A new reference, or NULL when out of memory. */
json_t *json_from_bytes(const char *data, size_t len);

/* Always the {"base64": ...} form: for data that is binary by its type (a
 * PNG), which a reader should not have to tell from text by luck. */
json_t *json_base64(const char *data, size_t len);

/* Either form into a copy in arena (NUL-terminated, as decoded bytes are).
 * Returns 0, or -1 with the reason in why. */
int json_to_bytes(const json_t *value, msgpack_zone *arena, struct brig_bytes *out, char *why,
                  size_t whylen);

#endif
