#include <string.h>

#include "schema/error.h"
#include "schema/read.h"
#include "schema/rules.h"
#include "schema/write.h"

enum control_field { CTL_V, CTL_OP, CTL_ID, CTL_BY, CTL_TS_MS, CTL_FIELD_COUNT };

static const char *const control_fields[CTL_FIELD_COUNT] = {
    [CTL_V] = "v", [CTL_OP] = "op", [CTL_ID] = "id", [CTL_BY] = "by", [CTL_TS_MS] = "ts_ms",
};

static const struct text_rule op_rule = {1, 32, NULL};
static const struct text_rule by_rule = {1, BRIG_CONTROL_BY_MAX, check_single_line};

static int decode_op(struct decoder *d, const msgpack_object *o, enum brig_control_op *op)
{
    const char *name;
    if (read_required(d, o, "op") < 0 || read_text(d, o, "op", &op_rule, &name) < 0)
        return -1;
    if (strcmp(name, "cancel") != 0)
        return error_set(d->err, "op", "unknown op: \"cancel\" is the only one");
    *op = BRIG_CONTROL_CANCEL;
    return 0;
}

static int decode_control(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_control *c = out;
    if (decode_op(d, f[CTL_OP], &c->op) < 0 || read_required(d, f[CTL_ID], "id") < 0 ||
        read_text(d, f[CTL_ID], "id", &id_rule, &c->id) < 0)
        return -1;
    if (f[CTL_BY] && read_text(d, f[CTL_BY], "by", &by_rule, &c->by) < 0)
        return -1;
    if (read_required(d, f[CTL_TS_MS], "ts_ms") < 0 ||
        read_uint(d, f[CTL_TS_MS], "ts_ms", 1, BRIG_TIME_MS_MAX, &c->ts_ms) < 0)
        return -1;
    return 0;
}

static const struct message_kind control_kind = {
    .max_bytes = BRIG_CONTROL_MAX_BYTES,
    .fields = control_fields,
    .field_count = CTL_FIELD_COUNT,
    .struct_size = sizeof(struct brig_control),
    .decode = decode_control,
};

int brig_control_decode(const void *buf, size_t len, struct brig_control *out,
                        struct brig_error *err)
{
    return decode_message(&control_kind, buf, len, out, &out->arena, err);
}

void brig_control_free(struct brig_control *control)
{
    if (control->arena)
        msgpack_zone_free(control->arena);
    memset(control, 0, sizeof *control);
}

int brig_control_encode(const struct brig_control *c, msgpack_sbuffer *out, struct brig_error *err)
{
    struct writer w;
    struct map_mark top;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    write_uint(&w, &top, "v", BRIG_SCHEMA_VERSION);
    write_text(&w, &top, "op", c->op == BRIG_CONTROL_CANCEL ? "cancel" : NULL);
    write_text(&w, &top, "id", c->id);
    write_text(&w, &top, "by", c->by);
    write_uint(&w, &top, "ts_ms", c->ts_ms);
    write_map_end(&w, &top);
    return writer_finish(&w, &control_kind, err);
}
