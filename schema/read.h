/* Strict reading of unpacked msgpack objects into the schema's structs. Every
 * reader returns 0, or -1 with the decoder's error filled; text, bytes and
 * arrays are copied into the decoder's arena. */
#ifndef BRIG_SCHEMA_READ_H
#define BRIG_SCHEMA_READ_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"
#include "schema/text.h"

struct decoder {
    msgpack_zone *arena;
    struct brig_error *err;
    uint64_t version; /* the message's v, once read */
};

/* Text is a msgpack str of min (0 or 1) to max bytes, valid UTF-8, without
 * NUL, and passing check when there is one. */
struct text_rule {
    size_t min;
    size_t max;
    text_check_fn check;
};

#define MESSAGE_MAX_FIELDS 32

/* One kind of message. fields[0] is "v"; decode gets the value of each field
 * in fields order, NULL where the field is absent or nil. */
struct message_kind {
    /* The newest v this reader speaks of the kind; 0 means 1. */
    uint64_t max_version;
    size_t max_bytes;
    const char *const *fields;
    size_t field_count;
    size_t struct_size;
    int (*decode)(struct decoder *d, const msgpack_object *const *values, void *out);
};

/* Checks size and structure, unpacks, checks the top-level keys and the
 * version, then runs kind->decode. out is zeroed first and again on failure,
 * when nothing stays allocated; on success *arena owns out's pointers. */
int decode_message(const struct message_kind *kind, const void *buf, size_t len, void *out,
                   msgpack_zone **arena, struct brig_error *err);

/* Whether buf decodes as kind, keeping nothing: what an encoder checks its
 * output with. */
int check_message(const struct message_kind *kind, const void *buf, size_t len,
                  struct brig_error *err);

void *decoder_alloc(struct decoder *d, const char *field, size_t size);
/* A NUL-terminated copy of len bytes of s. */
char *decoder_copy(struct decoder *d, const char *field, const char *s, size_t len);

/* Sorts a map's keys: they must be valid UTF-8 str, each once. values[i] gets
 * the value of names[i] (NULL if absent or nil). Any other key is an error
 * unless unknown_allowed, when its value must only be well formed (str keys,
 * no duplicates, UTF-8 text at every depth). */
int read_fields(struct decoder *d, const msgpack_object *map, const char *parent,
                const char *const *names, size_t count, const msgpack_object **values,
                bool unknown_allowed);

/* read_fields() on a value that must be a map. */
int read_named_map(struct decoder *d, const msgpack_object *o, const char *field,
                   const char *const *names, size_t count, const msgpack_object **values,
                   bool unknown_allowed);

/* "wrong type: expected <expected>, got <o's type>" */
int wrong_type(struct decoder *d, const msgpack_object *o, const char *field, const char *expected);

int read_required(struct decoder *d, const msgpack_object *o, const char *field);
int read_uint(struct decoder *d, const msgpack_object *o, const char *field, uint64_t min,
              uint64_t max, uint64_t *out);
int read_bool(struct decoder *d, const msgpack_object *o, const char *field, bool *out);
int read_text(struct decoder *d, const msgpack_object *o, const char *field,
              const struct text_rule *rule, const char **out);
/* A bin, or a str (which must then be UTF-8), of at most max bytes. */
int read_bytes(struct decoder *d, const msgpack_object *o, const char *field, size_t max,
               struct brig_bytes *out);
/* An array of at most max_count elements. */
int read_array(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count);
int read_text_array(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
                    const struct text_rule *rule, const char *const **out, size_t *count);
/* A map of text to text (env, metadata). */
int read_pairs(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
               const struct text_rule *name_rule, const struct text_rule *value_rule,
               struct brig_pair **out, size_t *count);
/* A map of text (passing key_rule) to bytes of at most max_bytes each, as
 * (path, content) pairs. */
int read_bytes_map(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
                   const struct text_rule *key_rule, size_t max_bytes, struct brig_file **out,
                   size_t *count);
/* A map of relative path to bytes, no path inside another file's path. */
int read_files(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
               struct brig_file **out, size_t *count);

#endif
