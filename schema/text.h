/* Checks on text that arrived as a msgpack str. Each check_* function takes
 * text that already passed the UTF-8 and NUL tests and returns true, or false
 * with a reason in why that starts with the keyword SCHEMA.md lists. */
#ifndef BRIG_SCHEMA_TEXT_H
#define BRIG_SCHEMA_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef bool (*text_check_fn)(const char *s, size_t len, char *why, size_t whylen);

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points past
 * U+10FFFF, the same test Python and most languages apply. On failure
 * *bad_at is the offset of the first byte of the bad sequence. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

/* A byte for a message: 'c' when printable, else 0xhh. */
void describe_byte(unsigned char c, char *out, size_t outlen);

/* Job, session, replay and worker ids: [A-Za-z0-9._:-]. */
bool check_token(const char *s, size_t len, char *why, size_t whylen);
/* Runtime names: [a-z0-9] then [a-z0-9._+-]. */
bool check_runtime_name(const char *s, size_t len, char *why, size_t whylen);
/* Kafka topic names: [A-Za-z0-9._-], neither "." nor "..". */
bool check_topic(const char *s, size_t len, char *why, size_t whylen);
/* Environment names: [A-Za-z_][A-Za-z0-9_]*, none the jail sets itself. */
bool check_env_name(const char *s, size_t len, char *why, size_t whylen);
/* System call names: [a-z0-9_]. */
bool check_syscall_name(const char *s, size_t len, char *why, size_t whylen);
/* MIME types as a result's outputs name them: type/subtype, each part of
 * [a-z0-9!#$&^_.+-], lower case. */
bool check_mime_type(const char *s, size_t len, char *why, size_t whylen);
/* Kinds of outputs: [a-z_]. */
bool check_output_kind(const char *s, size_t len, char *why, size_t whylen);
/* Free text meant for one line: no control characters. */
bool check_single_line(const char *s, size_t len, char *why, size_t whylen);

#endif
