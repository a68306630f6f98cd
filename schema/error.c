#include "schema/error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FIELD_SIZE sizeof(((struct brig_error *)0)->field)

static void error_vset(struct brig_error *err, const char *field, const char *fmt, va_list ap)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
}

int error_set(struct brig_error *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, field, fmt, ap);
    va_end(ap);
    return -1;
}

int error_at_key(struct brig_error *err, const char *field, const char *key, size_t keylen,
                 const char *fmt, ...)
{
    char path[FIELD_SIZE];
    error_key_path(path, field, key, keylen);
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, path, fmt, ap);
    va_end(ap);
    return -1;
}

/* One key byte as it appears in a field path; returns its length. */
static size_t escape_byte(unsigned char c, char *out)
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    snprintf(out, 5, "\\x%02x", c);
    return 4;
}

void error_key_path(char *out, const char *parent, const char *key, size_t keylen)
{
    static const char ellipsis[] = "...";
    int prefix = snprintf(out, FIELD_SIZE, "%s[\"", parent);
    /* room for the key, keeping `"]` and the NUL */
    if (prefix < 0 || (size_t)prefix + 2 + (sizeof ellipsis - 1) >= FIELD_SIZE) {
        snprintf(out, FIELD_SIZE, "%s", parent);
        return;
    }
    size_t room = FIELD_SIZE - 1 - (size_t)prefix - 2;
    size_t escaped_len = 0;
    char piece[5];
    for (size_t i = 0; i < keylen; i++)
        escaped_len += escape_byte((unsigned char)key[i], piece);
    size_t budget = escaped_len <= room ? room : room - (sizeof ellipsis - 1);
    char *p = out + prefix;
    for (size_t i = 0; i < keylen; i++) {
        size_t n = escape_byte((unsigned char)key[i], piece);
        if ((size_t)(p - (out + prefix)) + n > budget)
            break;
        memcpy(p, piece, n);
        p += n;
    }
    if (escaped_len > room) {
        memcpy(p, ellipsis, sizeof ellipsis - 1);
        p += sizeof ellipsis - 1;
    }
    memcpy(p, "\"]", 3);
}

static bool is_plain_key(const char *key, size_t keylen)
{
    if (keylen == 0)
        return false;
    for (size_t i = 0; i < keylen; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

void error_member_path(char *out, const char *parent, const char *key, size_t keylen)
{
    size_t parent_len = strlen(parent);
    size_t needed = parent_len + (parent_len ? 1 : 0) + keylen;
    if (is_plain_key(key, keylen) && needed < FIELD_SIZE)
        snprintf(out, FIELD_SIZE, "%s%s%.*s", parent, parent_len ? "." : "", (int)keylen, key);
    else
        error_key_path(out, parent, key, keylen);
}

void brig_error_format(const struct brig_error *err, char *buf, size_t len)
{
    if (err->field[0])
        snprintf(buf, len, "%s: %s", err->field, err->reason);
    else
        snprintf(buf, len, "%s", err->reason);
}
