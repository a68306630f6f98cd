#include "worker/interp_channel.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/scan.h"
#include "schema/text.h"

/* ---- decoding ---- */

struct walk {
    struct scan scan;
    char *err;
    size_t errlen;
};

static int refuse(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, w->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int next_item(struct walk *w, struct scan_item *item, const char *what)
{
    if (scan_item(&w->scan, item) != SCAN_OK)
        return refuse(w, "%s: truncated or not msgpack", what);
    return 0;
}

static int next_str(struct walk *w, struct interp_text *out, const char *what)
{
    struct scan_item item;
    if (next_item(w, &item, what) < 0)
        return -1;
    if (item.kind != SCAN_STR)
        return refuse(w, "%s: not a string", what);
    *out = (struct interp_text){item.data, item.size};
    return 0;
}

static bool text_is(const struct interp_text *t, const char *word)
{
    return t->len == strlen(word) && memcmp(t->data, word, t->len) == 0;
}

static int decode_data(struct walk *w, struct interp_frame *out)
{
    struct scan_item map;
    if (next_item(w, &map, "output data") < 0)
        return -1;
    if (map.kind != SCAN_MAP)
        return refuse(w, "output data: not a map");
    if (map.size == 0 || map.size > BRIG_MIME_ITEMS_MAX)
        return refuse(w, "output data: %u MIME types, not 1 to %u", map.size, BRIG_MIME_ITEMS_MAX);
    for (uint32_t i = 0; i < map.size; i++) {
        struct interp_mime *m = &out->items[i];
        struct interp_text type;
        char why[128];
        if (next_str(w, &type, "a MIME type") < 0)
            return -1;
        if (type.len < 3 || type.len > BRIG_MIME_TYPE_MAX ||
            !check_mime_type(type.data, type.len, why, sizeof(why)))
            return refuse(w, "output data: MIME type %u is not type/subtype of 3 to %u bytes", i,
                          BRIG_MIME_TYPE_MAX);
        memcpy(m->type, type.data, type.len);
        m->type[type.len] = '\0';
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(out->items[k].type, m->type) == 0)
                return refuse(w, "output data: %s twice", m->type);
        struct scan_item value;
        if (next_item(w, &value, m->type) < 0)
            return -1;
        if (value.kind != SCAN_STR && value.kind != SCAN_BIN)
            return refuse(w, "output data: %s is neither text nor bytes", m->type);
        m->data = (struct interp_text){value.data, value.size};
        m->text = value.kind == SCAN_STR;
    }
    out->item_count = map.size;
    return 0;
}

static int decode_traceback(struct walk *w, struct interp_frame *out)
{
    struct scan_item array;
    if (next_item(w, &array, "traceback") < 0)
        return -1;
    if (array.kind != SCAN_ARRAY)
        return refuse(w, "traceback: not an array");
    if (array.size > BRIG_TRACEBACK_MAX)
        return refuse(w, "traceback: %u entries, over %u", array.size, BRIG_TRACEBACK_MAX);
    for (uint32_t i = 0; i < array.size; i++)
        if (next_str(w, &out->traceback[i], "a traceback entry") < 0)
            return -1;
    out->traceback_count = array.size;
    return 0;
}

/* Each frame type's keys besides "t", each required. */
static const char *const output_keys[] = {"kind", "data", NULL};
static const char *const error_keys[] = {"name", "value", "traceback", NULL};
static const char *const done_keys[] = {"status", NULL};
static const char *const no_keys[] = {NULL};

static int decode_value(struct walk *w, struct interp_frame *out, const char *key)
{
    struct interp_text t;
    if (strcmp(key, "data") == 0)
        return decode_data(w, out);
    if (strcmp(key, "traceback") == 0)
        return decode_traceback(w, out);
    if (next_str(w, &t, key) < 0)
        return -1;
    if (strcmp(key, "kind") == 0) {
        if (!text_is(&t, "display") && !text_is(&t, "result"))
            return refuse(w, "kind: neither display nor result");
        out->result = text_is(&t, "result");
    } else if (strcmp(key, "status") == 0) {
        if (text_is(&t, "ok"))
            out->status = INTERP_DONE_OK;
        else if (text_is(&t, "error"))
            out->status = INTERP_DONE_ERROR;
        else if (text_is(&t, "interrupted"))
            out->status = INTERP_DONE_INTERRUPTED;
        else
            return refuse(w, "status: not ok, error or interrupted");
    } else if (strcmp(key, "name") == 0) {
        out->name = t;
    } else {
        out->value = t;
    }
    return 0;
}

static const char *const *keys_of(enum interp_frame_type type)
{
    switch (type) {
    case INTERP_OUTPUT:
        return output_keys;
    case INTERP_ERROR:
        return error_keys;
    case INTERP_DONE:
        return done_keys;
    default:
        return no_keys;
    }
}

static int frame_type(struct walk *w, const struct interp_text *t, enum interp_frame_type *out)
{
    static const struct {
        const char *name;
        enum interp_frame_type type;
    } types[] = {{"ready", INTERP_READY},
                 {"output", INTERP_OUTPUT},
                 {"dropped", INTERP_DROPPED},
                 {"error", INTERP_ERROR},
                 {"done", INTERP_DONE}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (text_is(t, types[i].name)) {
            *out = types[i].type;
            return 0;
        }
    }
    return refuse(w, "t: not a frame type");
}

/* The "t" key may come anywhere in the map, so its type is found first and
 * the map is then walked again for the rest. */
static int find_type(struct walk *w, uint32_t entries, enum interp_frame_type *out)
{
    struct scan at = w->scan;
    for (uint32_t i = 0; i < entries; i++) {
        struct interp_text key;
        if (next_str(w, &key, "a key") < 0)
            return -1;
        if (text_is(&key, "t")) {
            struct interp_text t;
            if (next_str(w, &t, "t") < 0 || frame_type(w, &t, out) < 0)
                return -1;
            w->scan = at;
            return 0;
        }
        if (scan_skip(&w->scan, 2) != SCAN_OK)
            return refuse(w, "a value: truncated, not msgpack or too deep");
    }
    return refuse(w, "no t: not a frame");
}

int interp_frame_decode(const void *buf, size_t len, struct interp_frame *out, char *err,
                        size_t errlen)
{
    struct walk w = {.err = err, .errlen = errlen};
    struct scan_item top;
    memset(out, 0, sizeof(*out));
    scan_init(&w.scan, buf, len);
    if (next_item(&w, &top, "the frame") < 0)
        return -1;
    if (top.kind != SCAN_MAP)
        return refuse(&w, "the frame is not a map");
    if (find_type(&w, top.size, &out->type) < 0)
        return -1;
    const char *const *keys = keys_of(out->type);
    size_t wanted = 0;
    while (keys[wanted])
        wanted++;
    if (top.size != wanted + 1)
        return refuse(&w, "%u keys where the frame has %zu", top.size, wanted + 1);
    unsigned seen = 0;
    for (uint32_t i = 0; i < top.size; i++) {
        struct interp_text key;
        if (next_str(&w, &key, "a key") < 0)
            return -1;
        if (text_is(&key, "t")) {
            if (seen & 1u)
                return refuse(&w, "t twice");
            seen |= 1u;
            scan_skip(&w.scan, 2); /* read already */
            continue;
        }
        size_t k = 0;
        while (keys[k] && !text_is(&key, keys[k]))
            k++;
        if (!keys[k])
            return refuse(&w, "%.*s: not a key of this frame", (int)(key.len > 32 ? 32 : key.len),
                          key.data);
        if (seen & (2u << k))
            return refuse(&w, "%s twice", keys[k]);
        seen |= 2u << k;
        if (decode_value(&w, out, keys[k]) < 0)
            return -1;
    }
    if (w.scan.pos != len)
        return refuse(&w, "%zu bytes after the frame's map", len - w.scan.pos);
    return 0;
}

/* ---- framing ---- */

void interp_reader_init(struct interp_reader *r)
{
    *r = (struct interp_reader){0};
}

void interp_reader_free(struct interp_reader *r)
{
    free(r->buf);
    interp_reader_init(r);
}

/* The frame returned last time stayed at the front for its caller. */
static void drop_taken(struct interp_reader *r)
{
    if (r->taken == 0)
        return;
    memmove(r->buf, r->buf + r->taken, r->len - r->taken);
    r->len -= r->taken;
    r->taken = 0;
}

int interp_reader_feed(struct interp_reader *r, const void *data, size_t len)
{
    drop_taken(r);
    if (r->len + len > r->capacity) {
        size_t capacity = r->capacity ? r->capacity : 65536;
        while (capacity < r->len + len)
            capacity *= 2;
        char *grown = realloc(r->buf, capacity);
        if (!grown)
            return -1;
        r->buf = grown;
        r->capacity = capacity;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

int interp_reader_next(struct interp_reader *r, const char **frame, size_t *len, char *err,
                       size_t errlen)
{
    drop_taken(r);
    if (r->len < 4)
        return 0;
    const unsigned char *p = (const unsigned char *)r->buf;
    uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (n == 0 || n > INTERP_FRAME_MAX) {
        snprintf(err, errlen, "a frame of %u bytes, not 1 to %u", n, INTERP_FRAME_MAX);
        return -1;
    }
    if (r->len - 4 < n)
        return 0;
    *frame = r->buf + 4;
    *len = n;
    r->taken = 4 + (size_t)n;
    return 1;
}

size_t interp_reader_pending(const struct interp_reader *r)
{
    return r->len - r->taken;
}

/* ---- encoding ---- */

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_text(msgpack_packer *pk, const char *s)
{
    pack_str(pk, s, strlen(s));
}

void interp_exec_encode(msgpack_sbuffer *buf, const char *code, size_t code_len,
                        const struct brig_pair *env, size_t env_count, uint64_t count)
{
    size_t start = buf->size;
    static const char no_length[4];
    msgpack_sbuffer_write(buf, no_length, sizeof(no_length));
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_text(&pk, "t");
    pack_text(&pk, "exec");
    pack_text(&pk, "code");
    pack_str(&pk, code, code_len);
    pack_text(&pk, "env");
    msgpack_pack_map(&pk, env_count);
    for (size_t i = 0; i < env_count; i++) {
        pack_text(&pk, env[i].name);
        pack_text(&pk, env[i].value);
    }
    pack_text(&pk, "count");
    msgpack_pack_uint64(&pk, count);
    size_t n = buf->size - start - 4;
    unsigned char *p = (unsigned char *)buf->data + start;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

/* ---- text ---- */

char *interp_clean_text(const char *data, size_t len, size_t max)
{
    static const char replacement[] = "\xef\xbf\xbd";
    /* At worst every byte becomes three, within max. */
    char *out = malloc(max + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        size_t bad_at;
        const char *piece;
        size_t piece_len, skip;
        if (utf8_valid(data + i, len - i, &bad_at)) {
            bad_at = len - i;
        }
        /* A NUL is valid UTF-8 but not text: it is replaced too. */
        const char *nul = memchr(data + i, '\0', bad_at);
        if (nul)
            bad_at = (size_t)(nul - (data + i));
        if (bad_at > 0) {
            piece = data + i, piece_len = bad_at, skip = bad_at;
        } else {
            piece = replacement, piece_len = 3, skip = 1;
        }
        if (o + piece_len > max) {
            /* Cut at a character's boundary: never inside a sequence. */
            size_t room = max - o;
            if (piece == replacement)
                break;
            while (room > 0 && ((unsigned char)piece[room] & 0xc0) == 0x80)
                room--;
            memcpy(out + o, piece, room);
            o += room;
            break;
        }
        memcpy(out + o, piece, piece_len);
        o += piece_len;
        i += skip;
    }
    out[o] = '\0';
    return out;
}
