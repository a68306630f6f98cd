#include <string.h>

#include "schema/error.h"
#include "schema/read.h"
#include "schema/rules.h"
#include "schema/write.h"

enum log_field {
    LOG_V,
    LOG_ID,
    LOG_ATTEMPT,
    LOG_STREAM,
    LOG_SEQ,
    LOG_DATA,
    LOG_TS_MS,
    LOG_EOS,
    LOG_FIELD_COUNT
};

static const char *const log_fields[LOG_FIELD_COUNT] = {
    [LOG_V] = "v",     [LOG_ID] = "id",     [LOG_ATTEMPT] = "attempt", [LOG_STREAM] = "stream",
    [LOG_SEQ] = "seq", [LOG_DATA] = "data", [LOG_TS_MS] = "ts_ms",     [LOG_EOS] = "eos",
};

static const struct text_rule stream_rule = {1, 6, NULL};

static int decode_stream(struct decoder *d, const msgpack_object *o, enum brig_stream *stream)
{
    const char *name;
    if (read_required(d, o, "stream") < 0 || read_text(d, o, "stream", &stream_rule, &name) < 0)
        return -1;
    if (strcmp(name, "stdout") == 0)
        *stream = BRIG_STREAM_STDOUT;
    else if (strcmp(name, "stderr") == 0)
        *stream = BRIG_STREAM_STDERR;
    else
        return error_set(d->err, "stream", "unknown stream: \"stdout\" or \"stderr\"");
    return 0;
}

static int decode_log_chunk(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_log_chunk *c = out;
    if (read_required(d, f[LOG_ID], "id") < 0 ||
        read_text(d, f[LOG_ID], "id", &id_rule, &c->id) < 0 ||
        read_required(d, f[LOG_ATTEMPT], "attempt") < 0 ||
        read_uint(d, f[LOG_ATTEMPT], "attempt", 1, BRIG_ATTEMPT_MAX, &c->attempt) < 0 ||
        decode_stream(d, f[LOG_STREAM], &c->stream) < 0 ||
        read_required(d, f[LOG_SEQ], "seq") < 0 ||
        read_uint(d, f[LOG_SEQ], "seq", 0, BRIG_UINT_MAX, &c->seq) < 0 ||
        read_required(d, f[LOG_DATA], "data") < 0 ||
        read_bytes(d, f[LOG_DATA], "data", BRIG_LOG_DATA_MAX_BYTES, &c->data) < 0 ||
        read_required(d, f[LOG_TS_MS], "ts_ms") < 0 ||
        read_uint(d, f[LOG_TS_MS], "ts_ms", 1, BRIG_TIME_MS_MAX, &c->ts_ms) < 0)
        return -1;
    if (f[LOG_EOS] && read_bool(d, f[LOG_EOS], "eos", &c->eos) < 0)
        return -1;
    return 0;
}

static const struct message_kind log_chunk_kind = {
    .max_bytes = BRIG_LOG_CHUNK_MAX_BYTES,
    .fields = log_fields,
    .field_count = LOG_FIELD_COUNT,
    .struct_size = sizeof(struct brig_log_chunk),
    .decode = decode_log_chunk,
};

int brig_log_chunk_decode(const void *buf, size_t len, struct brig_log_chunk *out,
                          struct brig_error *err)
{
    return decode_message(&log_chunk_kind, buf, len, out, &out->arena, err);
}

void brig_log_chunk_free(struct brig_log_chunk *chunk)
{
    if (chunk->arena)
        msgpack_zone_free(chunk->arena);
    memset(chunk, 0, sizeof *chunk);
}

int brig_log_chunk_encode(const struct brig_log_chunk *c, msgpack_sbuffer *out,
                          struct brig_error *err)
{
    static const struct brig_bytes no_data = {"", 0};
    struct writer w;
    struct map_mark top;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    write_uint(&w, &top, "v", BRIG_SCHEMA_VERSION);
    write_text(&w, &top, "id", c->id);
    write_uint(&w, &top, "attempt", c->attempt);
    write_text(&w, &top, "stream",
               c->stream == BRIG_STREAM_STDOUT   ? "stdout"
               : c->stream == BRIG_STREAM_STDERR ? "stderr"
                                                 : NULL);
    write_uint(&w, &top, "seq", c->seq);
    /* a chunk that only marks the end of a stream may leave data NULL */
    write_bytes(&w, &top, "data", c->data.data || c->data.len ? &c->data : &no_data);
    write_uint(&w, &top, "ts_ms", c->ts_ms);
    write_true(&w, &top, "eos", c->eos);
    write_map_end(&w, &top);
    return writer_finish(&w, &log_chunk_kind, err);
}
