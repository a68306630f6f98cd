/* Filling a brig_error. Each function returns -1, so that a decoder can say
 * `return error_set(...)`. */
#ifndef BRIG_SCHEMA_ERROR_H
#define BRIG_SCHEMA_ERROR_H

#include <stddef.h>

#include "schema/schema.h"

int error_set(struct brig_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* field is `field["key"]`, the key escaped and shortened as error_key_path()
 * does. */
int error_at_key(struct brig_error *err, const char *field, const char *key, size_t keylen,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes `parent["key"]` into out (sizeof struct brig_error.field bytes):
 * printable ASCII stays as it is but for `"` and `\`, which get a backslash;
 * every other byte becomes \xHH; a key too long to fit is cut between two
 * escapes and ends in "...". Untrusted keys thus never put control bytes or
 * broken UTF-8 into an error message. */
void error_key_path(char *out, const char *parent, const char *key, size_t keylen);

/* The path of a named field inside parent: "parent.key" (or "key" at the top)
 * when the key is made of [A-Za-z0-9_] and fits, else `parent["key"]`. */
void error_member_path(char *out, const char *parent, const char *key, size_t keylen);

#endif
