#include <string.h>

#include "schema/error.h"
#include "schema/read.h"
#include "schema/rules.h"
#include "schema/write.h"

enum dead_letter_field {
    DL_V,
    DL_DATA,
    DL_DATA_TRUNCATED,
    DL_ID,
    DL_TOPIC,
    DL_PARTITION,
    DL_OFFSET,
    DL_KEY,
    DL_KEY_TRUNCATED,
    DL_REASON,
    DL_FIELD,
    DL_RECEIVED_MS,
    DL_WORKER_ID,
    DL_FIELD_COUNT
};

static const char *const dead_letter_fields[DL_FIELD_COUNT] = {
    [DL_V] = "v",
    [DL_DATA] = "data",
    [DL_DATA_TRUNCATED] = "data_truncated",
    [DL_ID] = "id",
    [DL_TOPIC] = "topic",
    [DL_PARTITION] = "partition",
    [DL_OFFSET] = "offset",
    [DL_KEY] = "key",
    [DL_KEY_TRUNCATED] = "key_truncated",
    [DL_REASON] = "reason",
    [DL_FIELD] = "field",
    [DL_RECEIVED_MS] = "received_ms",
    [DL_WORKER_ID] = "worker_id",
};

static const struct text_rule reason_rule = {1, BRIG_REASON_MAX, NULL};
static const struct text_rule field_rule = {0, BRIG_FIELD_MAX, check_single_line};

static int decode_dead_letter(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_dead_letter *l = out;
    if (read_required(d, f[DL_DATA], "data") < 0 ||
        read_bytes(d, f[DL_DATA], "data", BRIG_DEAD_LETTER_DATA_MAX, &l->data) < 0)
        return -1;
    if (f[DL_DATA_TRUNCATED] &&
        read_bool(d, f[DL_DATA_TRUNCATED], "data_truncated", &l->data_truncated) < 0)
        return -1;
    if (f[DL_ID] && read_text(d, f[DL_ID], "id", &id_rule, &l->id) < 0)
        return -1;
    if (read_required(d, f[DL_TOPIC], "topic") < 0 ||
        read_text(d, f[DL_TOPIC], "topic", &topic_rule, &l->topic) < 0 ||
        read_required(d, f[DL_PARTITION], "partition") < 0 ||
        read_uint(d, f[DL_PARTITION], "partition", 0, BRIG_PARTITION_MAX, &l->partition) < 0 ||
        read_required(d, f[DL_OFFSET], "offset") < 0 ||
        read_uint(d, f[DL_OFFSET], "offset", 0, BRIG_UINT_MAX, &l->offset) < 0)
        return -1;
    if (f[DL_KEY] && read_bytes(d, f[DL_KEY], "key", BRIG_DEAD_LETTER_KEY_MAX, &l->key) < 0)
        return -1;
    if (f[DL_KEY_TRUNCATED] &&
        read_bool(d, f[DL_KEY_TRUNCATED], "key_truncated", &l->key_truncated) < 0)
        return -1;
    if (read_required(d, f[DL_REASON], "reason") < 0 ||
        read_text(d, f[DL_REASON], "reason", &reason_rule, &l->reason) < 0)
        return -1;
    if (f[DL_FIELD] && read_text(d, f[DL_FIELD], "field", &field_rule, &l->field) < 0)
        return -1;
    if (read_required(d, f[DL_RECEIVED_MS], "received_ms") < 0 ||
        read_uint(d, f[DL_RECEIVED_MS], "received_ms", 1, BRIG_TIME_MS_MAX, &l->received_ms) < 0 ||
        read_required(d, f[DL_WORKER_ID], "worker_id") < 0 ||
        read_text(d, f[DL_WORKER_ID], "worker_id", &id_rule, &l->worker_id) < 0)
        return -1;
    return 0;
}

static const struct message_kind dead_letter_kind = {
    .max_bytes = BRIG_DEAD_LETTER_MAX_BYTES,
    .fields = dead_letter_fields,
    .field_count = DL_FIELD_COUNT,
    .struct_size = sizeof(struct brig_dead_letter),
    .decode = decode_dead_letter,
};

int brig_dead_letter_decode(const void *buf, size_t len, struct brig_dead_letter *out,
                            struct brig_error *err)
{
    return decode_message(&dead_letter_kind, buf, len, out, &out->arena, err);
}

void brig_dead_letter_free(struct brig_dead_letter *letter)
{
    if (letter->arena)
        msgpack_zone_free(letter->arena);
    memset(letter, 0, sizeof *letter);
}

int brig_dead_letter_encode(const struct brig_dead_letter *l, msgpack_sbuffer *out,
                            struct brig_error *err)
{
    struct writer w;
    struct map_mark top;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    write_uint(&w, &top, "v", BRIG_SCHEMA_VERSION);
    write_bytes(&w, &top, "data", &l->data);
    write_true(&w, &top, "data_truncated", l->data_truncated);
    write_text(&w, &top, "id", l->id);
    write_text(&w, &top, "topic", l->topic);
    write_uint(&w, &top, "partition", l->partition);
    write_uint(&w, &top, "offset", l->offset);
    write_bytes(&w, &top, "key", &l->key);
    write_true(&w, &top, "key_truncated", l->key_truncated);
    write_text(&w, &top, "reason", l->reason);
    write_text(&w, &top, "field", l->field);
    write_uint(&w, &top, "received_ms", l->received_ms);
    write_text(&w, &top, "worker_id", l->worker_id);
    write_map_end(&w, &top);
    return writer_finish(&w, &dead_letter_kind, err);
}
