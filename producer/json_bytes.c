#include "producer/json_bytes.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "producer/arena.h"
#include "schema/text.h"

json_t *json_from_bytes(const char *data, size_t len)
{
    size_t bad_at;
    if (utf8_valid(data, len, &bad_at))
        return json_stringn(data, len);
    return json_base64(data, len);
}

json_t *json_base64(const char *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 4 * 3 - 3)
        return NULL;
    unsigned char *text = malloc(4 * ((len + 2) / 3) + 1);
    if (!text)
        return NULL;
    EVP_EncodeBlock(text, (const unsigned char *)data, (int)len);
    json_t *object = json_pack("{s:s}", "base64", (const char *)text);
    free(text);
    return object;
}

static int decode_base64(const json_t *value, msgpack_zone *arena, struct brig_bytes *out,
                         char *why, size_t whylen)
{
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (!text) {
        snprintf(why, whylen, "base64: expected a string");
        return -1;
    }
    if (len % 4 != 0 || len > (size_t)INT32_MAX || strlen(text) != len) {
        snprintf(why, whylen, "base64: not standard padded base64 (length %zu)", len);
        return -1;
    }
    size_t padding = 0;
    while (padding < 2 && padding < len && text[len - 1 - padding] == '=')
        padding++;
    char *data = arena_calloc(arena, len / 4 * 3 + 1, 1);
    if (!data) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int n = len ? EVP_DecodeBlock((unsigned char *)data, (const unsigned char *)text, (int)len) : 0;
    if (n < 0 || (size_t)n < padding) {
        snprintf(why, whylen, "base64: not valid base64");
        return -1;
    }
    out->len = (size_t)n - padding;
    data[out->len] = '\0';
    out->data = data;
    return 0;
}

int json_to_bytes(const json_t *value, msgpack_zone *arena, struct brig_bytes *out, char *why,
                  size_t whylen)
{
    if (json_is_string(value)) {
        out->len = json_string_length(value);
        out->data = arena_memdup(arena, json_string_value(value), out->len);
        if (!out->data) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        return 0;
    }
    const json_t *encoded = json_object_get(value, "base64");
    if (!json_is_object(value) || json_object_size(value) != 1 || !encoded) {
        snprintf(why, whylen, "expected a string or {\"base64\": \"...\"}");
        return -1;
    }
    return decode_base64(encoded, arena, out, why, whylen);
}
