#include "schema/result_cell.h"

#include <stdio.h>

#include "schema/error.h"

static const struct text_rule kind_rule = {1, BRIG_OUTPUT_KIND_MAX, check_output_kind};
static const struct text_rule mime_rule = {3, BRIG_MIME_TYPE_MAX, check_mime_type};
static const struct text_rule exception_name_rule = {1, BRIG_EXCEPTION_NAME_MAX, check_single_line};
static const struct text_rule exception_value_rule = {0, BRIG_EXCEPTION_VALUE_MAX, NULL};
static const struct text_rule traceback_rule = {0, BRIG_TRACEBACK_ENTRY_MAX, NULL};

/* The 2 MiB bound is on all outputs together, so that a cell cannot fill a
 * result with 256 bundles of 16 large images. */
static int decode_output(struct decoder *d, const msgpack_object *o, uint32_t i,
                         struct brig_output *out, size_t *total)
{
    static const char *const names[] = {"kind", "data"};
    const msgpack_object *values[2];
    char field[sizeof d->err->field], kind[sizeof field], data[sizeof field];
    snprintf(field, sizeof field, "outputs[%u]", i);
    snprintf(kind, sizeof kind, "outputs[%u].kind", i);
    snprintf(data, sizeof data, "outputs[%u].data", i);
    if (read_named_map(d, o, field, names, 2, values, true) < 0 ||
        read_required(d, values[0], kind) < 0 ||
        read_text(d, values[0], kind, &kind_rule, &out->kind) < 0 ||
        read_required(d, values[1], data) < 0 ||
        read_bytes_map(d, values[1], data, BRIG_MIME_ITEMS_MAX, &mime_rule, BRIG_OUTPUTS_MAX_BYTES,
                       &out->data, &out->data_count) < 0)
        return -1;
    if (out->data_count == 0)
        return error_set(d->err, data, "empty: a bundle holds at least one MIME type");
    for (size_t k = 0; k < out->data_count; k++) {
        *total += out->data[k].content.len;
        if (*total > BRIG_OUTPUTS_MAX_BYTES)
            return error_set(d->err, data, "too long: outputs hold over %u bytes in all",
                             BRIG_OUTPUTS_MAX_BYTES);
    }
    return 0;
}

int decode_outputs(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    if (read_array(d, o, "outputs", BRIG_OUTPUTS_MAX) < 0)
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    result->outputs = decoder_alloc(d, "outputs", n * sizeof *result->outputs);
    if (!result->outputs)
        return -1;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        if (decode_output(d, &o->via.array.ptr[i], i, &result->outputs[i], &total) < 0)
            return -1;
    result->output_count = n;
    return 0;
}

int decode_exception(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    static const char *const names[] = {"name", "value", "traceback"};
    const msgpack_object *values[3];
    if (read_named_map(d, o, "exception", names, 3, values, true) < 0 ||
        read_required(d, values[0], "exception.name") < 0 ||
        read_text(d, values[0], "exception.name", &exception_name_rule, &result->exception_name) <
            0)
        return -1;
    if (values[1] && read_text(d, values[1], "exception.value", &exception_value_rule,
                               &result->exception_value) < 0)
        return -1;
    if (values[2] &&
        read_text_array(d, values[2], "exception.traceback", BRIG_TRACEBACK_MAX, &traceback_rule,
                        &result->traceback, &result->traceback_count) < 0)
        return -1;
    return 0;
}

int decode_interpreter(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    static const char *const names[] = {"started", "execution_count", "state_lost"};
    const msgpack_object *values[3];
    if (read_named_map(d, o, "interpreter", names, 3, values, true) < 0 ||
        read_required(d, values[0], "interpreter.started") < 0 ||
        read_bool(d, values[0], "interpreter.started", &result->interpreter_started) < 0)
        return -1;
    if (values[1] && read_uint(d, values[1], "interpreter.execution_count", 1, BRIG_UINT_MAX,
                               &result->execution_count) < 0)
        return -1;
    if (values[2] && read_bool(d, values[2], "interpreter.state_lost", &result->state_lost) < 0)
        return -1;
    result->has_interpreter = true;
    return 0;
}

void encode_cell_fields(struct writer *w, struct map_mark *top, const struct brig_result *r)
{
    struct map_mark inner;
    if (r->output_count > 0) {
        write_key(w, top, "outputs");
        if (msgpack_pack_array(&w->pk, r->output_count) != 0)
            w->failed = true;
        for (size_t i = 0; i < r->output_count; i++) {
            write_map_begin(w, &inner);
            write_text(w, &inner, "kind", r->outputs[i].kind);
            write_files(w, &inner, "data", r->outputs[i].data, r->outputs[i].data_count);
            write_map_end(w, &inner);
        }
    }
    write_true(w, top, "outputs_truncated", r->outputs_truncated);
    if (r->exception_name) {
        write_key(w, top, "exception");
        write_map_begin(w, &inner);
        write_text(w, &inner, "name", r->exception_name);
        write_text(w, &inner, "value", r->exception_value);
        write_text_array(w, &inner, "traceback", r->traceback, r->traceback_count);
        write_map_end(w, &inner);
    }
    if (r->has_interpreter) {
        write_key(w, top, "interpreter");
        write_map_begin(w, &inner);
        write_bool(w, &inner, "started", r->interpreter_started);
        write_nonzero(w, &inner, "execution_count", r->execution_count);
        write_true(w, &inner, "state_lost", r->state_lost);
        write_map_end(w, &inner);
    }
}
