/* Packing the schema's structs. Each write_* helper packs one named field
 * into the map marked by m and counts it, or skips a field that is absent
 * (NULL text or data, zero count, false, 0 where 0 means absent), so that an
 * encoder is a plain list of its fields. */
#ifndef BRIG_SCHEMA_WRITE_H
#define BRIG_SCHEMA_WRITE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

struct writer {
    msgpack_sbuffer *buf;
    msgpack_packer pk;
    size_t start;
    bool failed; /* a pack call failed: the buffer could not grow */
};

/* A map of named fields being written: its header is patched at the end,
 * when the number of fields is known. */
struct map_mark {
    size_t offset;
    uint32_t count;
};

void writer_init(struct writer *w, msgpack_sbuffer *buf);
void write_map_begin(struct writer *w, struct map_mark *m);
void write_map_end(struct writer *w, const struct map_mark *m);
/* The key of a field whose value the caller packs next. */
void write_key(struct writer *w, struct map_mark *m, const char *key);
void write_text_value(struct writer *w, const char *text);

void write_text(struct writer *w, struct map_mark *m, const char *key, const char *text);
void write_bytes(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_bytes *bytes);
void write_uint(struct writer *w, struct map_mark *m, const char *key, uint64_t value);
void write_nonzero(struct writer *w, struct map_mark *m, const char *key, uint64_t value);
void write_int(struct writer *w, struct map_mark *m, const char *key, int64_t value);
void write_true(struct writer *w, struct map_mark *m, const char *key, bool value);
/* Written whatever its value, for a required bool. */
void write_bool(struct writer *w, struct map_mark *m, const char *key, bool value);
void write_text_array(struct writer *w, struct map_mark *m, const char *key,
                      const char *const *items, size_t count);
void write_pairs(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_pair *pairs, size_t count);
void write_files(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_file *files, size_t count);

struct message_kind;

/* Ends an encoding: the kind's decoder must accept what was written, else the
 * buffer is cut back to where the message started. */
int writer_finish(struct writer *w, const struct message_kind *kind, struct brig_error *err);

#endif
