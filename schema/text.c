#include "schema/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

bool utf8_valid(const char *s, size_t len, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char lead = p[i];
        if (lead < 0x80) {
            i++;
            continue;
        }
        size_t trail;
        uint32_t cp, smallest;
        if (lead >= 0xc2 && lead <= 0xdf) {
            trail = 1, cp = lead & 0x1f, smallest = 0x80;
        } else if ((lead & 0xf0) == 0xe0) {
            trail = 2, cp = lead & 0x0f, smallest = 0x800;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            trail = 3, cp = lead & 0x07, smallest = 0x10000;
        } else {
            break;
        }
        if (len - i - 1 < trail)
            break;
        size_t k;
        for (k = 1; k <= trail && (p[i + k] & 0xc0) == 0x80; k++)
            cp = cp << 6 | (p[i + k] & 0x3f);
        if (k <= trail || cp < smallest || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            break;
        i += trail + 1;
    }
    if (i == len)
        return true;
    *bad_at = i;
    return false;
}

void describe_byte(unsigned char c, char *out, size_t outlen)
{
    if (c > 0x20 && c < 0x7f && c != '\'')
        snprintf(out, outlen, "'%c'", c);
    else
        snprintf(out, outlen, "0x%02x", c);
}

/* Fails at the first byte allowed() refuses, naming it and its offset. */
static bool check_charset(const char *s, size_t len, bool (*allowed)(unsigned char c, size_t at),
                          char *why, size_t whylen)
{
    for (size_t i = 0; i < len; i++) {
        if (!allowed((unsigned char)s[i], i)) {
            char shown[8];
            describe_byte((unsigned char)s[i], shown, sizeof shown);
            snprintf(why, whylen, "invalid character %s at byte %zu", shown, i);
            return false;
        }
    }
    return true;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool token_char(unsigned char c, size_t at)
{
    (void)at;
    return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

bool check_token(const char *s, size_t len, char *why, size_t whylen)
{
    return check_charset(s, len, token_char, why, whylen);
}

static bool runtime_char(unsigned char c, size_t at)
{
    return is_lower_alnum(c) || (at > 0 && (c == '.' || c == '_' || c == '+' || c == '-'));
}

bool check_runtime_name(const char *s, size_t len, char *why, size_t whylen)
{
    return check_charset(s, len, runtime_char, why, whylen);
}

static bool topic_char(unsigned char c, size_t at)
{
    (void)at;
    return is_alnum(c) || c == '.' || c == '_' || c == '-';
}

bool check_topic(const char *s, size_t len, char *why, size_t whylen)
{
    if ((len == 1 && s[0] == '.') || (len == 2 && memcmp(s, "..", 2) == 0)) {
        snprintf(why, whylen, "invalid topic: \".\" and \"..\" are not topic names");
        return false;
    }
    return check_charset(s, len, topic_char, why, whylen);
}

static bool env_char(unsigned char c, size_t at)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (at > 0 && c >= '0' && c <= '9');
}

/* The jail sets these itself (sandbox/sandbox.h, struct jail_spec.env); BRIG_
 * is kept for what the worker may pass to jobs later. */
static const char *const reserved_env_names[] = {"PATH", "HOME", "LANG"};
static const char reserved_env_prefix[] = "BRIG_";

bool check_env_name(const char *s, size_t len, char *why, size_t whylen)
{
    if (!check_charset(s, len, env_char, why, whylen))
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(reserved_env_names); i++) {
        if (len == strlen(reserved_env_names[i]) && memcmp(s, reserved_env_names[i], len) == 0) {
            snprintf(why, whylen, "reserved name: the jail sets %s", reserved_env_names[i]);
            return false;
        }
    }
    size_t prefix_len = sizeof reserved_env_prefix - 1;
    if (len >= prefix_len && memcmp(s, reserved_env_prefix, prefix_len) == 0) {
        snprintf(why, whylen, "reserved name: the %s prefix belongs to brig", reserved_env_prefix);
        return false;
    }
    return true;
}

static bool syscall_char(unsigned char c, size_t at)
{
    (void)at;
    return is_lower_alnum(c) || c == '_';
}

bool check_syscall_name(const char *s, size_t len, char *why, size_t whylen)
{
    return check_charset(s, len, syscall_char, why, whylen);
}

static bool mime_char(unsigned char c, size_t at)
{
    (void)at;
    return is_lower_alnum(c) || c == '/' || strchr("!#$&^_.+-", c) != NULL;
}

bool check_mime_type(const char *s, size_t len, char *why, size_t whylen)
{
    if (!check_charset(s, len, mime_char, why, whylen))
        return false;
    const char *slash = memchr(s, '/', len);
    if (!slash || slash == s || slash == s + len - 1 ||
        memchr(slash + 1, '/', len - (size_t)(slash + 1 - s))) {
        snprintf(why, whylen, "invalid MIME type: not type/subtype");
        return false;
    }
    return true;
}

static bool output_kind_char(unsigned char c, size_t at)
{
    (void)at;
    return (c >= 'a' && c <= 'z') || c == '_';
}

bool check_output_kind(const char *s, size_t len, char *why, size_t whylen)
{
    return check_charset(s, len, output_kind_char, why, whylen);
}

bool check_single_line(const char *s, size_t len, char *why, size_t whylen)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(why, whylen, "control character 0x%02x at byte %zu", c, i);
            return false;
        }
    }
    return true;
}
