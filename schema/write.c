#include "schema/write.h"

#include <string.h>

#include "schema/error.h"
#include "schema/read.h"

static void track(struct writer *w, int rc)
{
    if (rc != 0)
        w->failed = true;
}

void writer_init(struct writer *w, msgpack_sbuffer *buf)
{
    w->buf = buf;
    w->start = buf->size;
    w->failed = false;
    msgpack_packer_init(&w->pk, buf, msgpack_sbuffer_write);
}

/* A map16 header as a placeholder: maps of named fields are far smaller. */
void write_map_begin(struct writer *w, struct map_mark *m)
{
    static const char placeholder[3] = {(char)0xde, 0, 0};
    m->offset = w->buf->size;
    m->count = 0;
    track(w, msgpack_sbuffer_write(w->buf, placeholder, sizeof placeholder));
}

/* Rewrites the placeholder as the shortest header, as msgpack asks of
 * writers: a fixmap below 16 fields. */
void write_map_end(struct writer *w, const struct map_mark *m)
{
    if (w->failed)
        return;
    unsigned char *header = (unsigned char *)w->buf->data + m->offset;
    if (m->count < 16) {
        header[0] = (unsigned char)(0x80 | m->count);
        size_t body = w->buf->size - m->offset - 3;
        memmove(header + 1, header + 3, body);
        w->buf->size -= 2;
    } else {
        header[1] = (unsigned char)(m->count >> 8);
        header[2] = (unsigned char)m->count;
    }
}

void write_key(struct writer *w, struct map_mark *m, const char *key)
{
    m->count++;
    write_text_value(w, key);
}

/* NULL inside an array or map packs as nil, which the check then refuses
 * with the field's name. */
void write_text_value(struct writer *w, const char *text)
{
    if (text)
        track(w, msgpack_pack_str_with_body(&w->pk, text, strlen(text)));
    else
        track(w, msgpack_pack_nil(&w->pk));
}

/* NULL data with len 0 is empty data, as a caller's empty buffer may be;
 * NULL with a length is nil, for the check to refuse. */
static void write_bytes_value(struct writer *w, const struct brig_bytes *bytes)
{
    if (!bytes->data && bytes->len) {
        track(w, msgpack_pack_nil(&w->pk));
        return;
    }
    track(w, msgpack_pack_bin(&w->pk, bytes->len));
    if (bytes->len)
        track(w, msgpack_pack_bin_body(&w->pk, bytes->data, bytes->len));
}

void write_text(struct writer *w, struct map_mark *m, const char *key, const char *text)
{
    if (!text)
        return;
    write_key(w, m, key);
    write_text_value(w, text);
}

void write_bytes(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_bytes *bytes)
{
    if (!bytes->data)
        return;
    write_key(w, m, key);
    write_bytes_value(w, bytes);
}

void write_uint(struct writer *w, struct map_mark *m, const char *key, uint64_t value)
{
    write_key(w, m, key);
    track(w, msgpack_pack_uint64(&w->pk, value));
}

void write_nonzero(struct writer *w, struct map_mark *m, const char *key, uint64_t value)
{
    if (value)
        write_uint(w, m, key, value);
}

void write_int(struct writer *w, struct map_mark *m, const char *key, int64_t value)
{
    write_key(w, m, key);
    track(w, msgpack_pack_int64(&w->pk, value));
}

void write_true(struct writer *w, struct map_mark *m, const char *key, bool value)
{
    if (!value)
        return;
    write_key(w, m, key);
    track(w, msgpack_pack_true(&w->pk));
}

void write_bool(struct writer *w, struct map_mark *m, const char *key, bool value)
{
    write_key(w, m, key);
    track(w, value ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

void write_text_array(struct writer *w, struct map_mark *m, const char *key,
                      const char *const *items, size_t count)
{
    if (count == 0)
        return;
    write_key(w, m, key);
    track(w, msgpack_pack_array(&w->pk, count));
    for (size_t i = 0; i < count; i++)
        write_text_value(w, items[i]);
}

void write_pairs(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_pair *pairs, size_t count)
{
    if (count == 0)
        return;
    write_key(w, m, key);
    track(w, msgpack_pack_map(&w->pk, count));
    for (size_t i = 0; i < count; i++) {
        write_text_value(w, pairs[i].name);
        write_text_value(w, pairs[i].value);
    }
}

void write_files(struct writer *w, struct map_mark *m, const char *key,
                 const struct brig_file *files, size_t count)
{
    if (count == 0)
        return;
    write_key(w, m, key);
    track(w, msgpack_pack_map(&w->pk, count));
    for (size_t i = 0; i < count; i++) {
        write_text_value(w, files[i].path);
        write_bytes_value(w, &files[i].content);
    }
}

int writer_finish(struct writer *w, const struct message_kind *kind, struct brig_error *err)
{
    int rc;
    if (w->failed)
        rc = error_set(err, "", "out of memory encoding the message");
    else
        rc = check_message(kind, w->buf->data + w->start, w->buf->size - w->start, err);
    if (rc < 0)
        w->buf->size = w->start;
    return rc;
}
