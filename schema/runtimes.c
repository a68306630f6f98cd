/* The runtimes record: what one worker offers, as it announces it on
 * <prefix>.runtimes (SCHEMA.md section 9). Readers are clients, so unknown
 * keys are ignored at every level, as in results. */
#include <stdio.h>
#include <string.h>

#include "schema/error.h"
#include "schema/read.h"
#include "schema/rules.h"
#include "schema/write.h"

enum runtimes_field { RTS_V, RTS_WORKER_ID, RTS_STARTED_MS, RTS_RUNTIMES, RTS_FIELD_COUNT };

static const char *const runtimes_fields[RTS_FIELD_COUNT] = {
    [RTS_V] = "v",
    [RTS_WORKER_ID] = "worker_id",
    [RTS_STARTED_MS] = "started_ms",
    [RTS_RUNTIMES] = "runtimes",
};

enum entry_field { ENTRY_NAME, ENTRY_ALIASES, ENTRY_VERSION, ENTRY_WARM, ENTRY_IMAGE, ENTRY_COUNT };

static const char *const entry_fields[ENTRY_COUNT] = {
    [ENTRY_NAME] = "name", [ENTRY_ALIASES] = "aliases", [ENTRY_VERSION] = "version",
    [ENTRY_WARM] = "warm", [ENTRY_IMAGE] = "image",
};

static const struct text_rule version_rule = {1, BRIG_RUNTIME_VERSION_MAX, check_single_line};
static const struct text_rule image_rule = {1, BRIG_RUNTIME_IMAGE_MAX, check_single_line};

/* "runtimes[3].aliases" */
static const char *entry_path(char *buf, size_t len, uint32_t i, const char *member)
{
    snprintf(buf, len, "runtimes[%u].%s", i, member);
    return buf;
}

static int decode_entry(struct decoder *d, const msgpack_object *o, uint32_t i,
                        struct brig_runtime_entry *e)
{
    const msgpack_object *v[ENTRY_COUNT];
    char field[sizeof d->err->field], path[sizeof d->err->field];
    snprintf(field, sizeof field, "runtimes[%u]", i);
    if (read_named_map(d, o, field, entry_fields, ENTRY_COUNT, v, true) < 0)
        return -1;
    entry_path(path, sizeof path, i, "name");
    if (read_required(d, v[ENTRY_NAME], path) < 0 ||
        read_text(d, v[ENTRY_NAME], path, &runtime_name_rule, &e->name) < 0)
        return -1;
    if (v[ENTRY_ALIASES] &&
        read_text_array(d, v[ENTRY_ALIASES], entry_path(path, sizeof path, i, "aliases"),
                        BRIG_RUNTIME_ALIASES_MAX, &runtime_name_rule, &e->aliases,
                        &e->alias_count) < 0)
        return -1;
    if (v[ENTRY_VERSION] &&
        read_text(d, v[ENTRY_VERSION], entry_path(path, sizeof path, i, "version"), &version_rule,
                  &e->version) < 0)
        return -1;
    if (v[ENTRY_WARM] &&
        read_bool(d, v[ENTRY_WARM], entry_path(path, sizeof path, i, "warm"), &e->warm) < 0)
        return -1;
    if (v[ENTRY_IMAGE] && read_text(d, v[ENTRY_IMAGE], entry_path(path, sizeof path, i, "image"),
                                    &image_rule, &e->image) < 0)
        return -1;
    return 0;
}

static int decode_runtimes(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_runtimes *r = out;
    if (read_required(d, f[RTS_WORKER_ID], "worker_id") < 0 ||
        read_text(d, f[RTS_WORKER_ID], "worker_id", &id_rule, &r->worker_id) < 0 ||
        read_required(d, f[RTS_STARTED_MS], "started_ms") < 0 ||
        read_uint(d, f[RTS_STARTED_MS], "started_ms", 1, BRIG_TIME_MS_MAX, &r->started_ms) < 0 ||
        read_required(d, f[RTS_RUNTIMES], "runtimes") < 0 ||
        read_array(d, f[RTS_RUNTIMES], "runtimes", BRIG_RUNTIMES_MAX) < 0)
        return -1;
    uint32_t n = f[RTS_RUNTIMES]->via.array.size;
    if (n == 0)
        return error_set(d->err, "runtimes", "empty: a worker offers at least one runtime");
    r->runtimes = decoder_alloc(d, "runtimes", n * sizeof *r->runtimes);
    if (!r->runtimes)
        return -1;
    /* The arena's memory is not zeroed, and absent members must read NULL. */
    memset(r->runtimes, 0, n * sizeof *r->runtimes);
    for (uint32_t i = 0; i < n; i++) {
        if (decode_entry(d, &f[RTS_RUNTIMES]->via.array.ptr[i], i, &r->runtimes[i]) < 0)
            return -1;
    }
    r->runtime_count = n;
    return 0;
}

static const struct message_kind runtimes_kind = {
    .max_bytes = BRIG_RUNTIMES_MAX_BYTES,
    .fields = runtimes_fields,
    .field_count = RTS_FIELD_COUNT,
    .struct_size = sizeof(struct brig_runtimes),
    .decode = decode_runtimes,
};

int brig_runtimes_decode(const void *buf, size_t len, struct brig_runtimes *out,
                         struct brig_error *err)
{
    return decode_message(&runtimes_kind, buf, len, out, &out->arena, err);
}

void brig_runtimes_free(struct brig_runtimes *record)
{
    if (record->arena)
        msgpack_zone_free(record->arena);
    memset(record, 0, sizeof *record);
}

int brig_runtimes_encode(const struct brig_runtimes *r, msgpack_sbuffer *out,
                         struct brig_error *err)
{
    struct writer w;
    struct map_mark top;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    write_uint(&w, &top, "v", BRIG_SCHEMA_VERSION);
    write_text(&w, &top, "worker_id", r->worker_id);
    write_uint(&w, &top, "started_ms", r->started_ms);
    write_key(&w, &top, "runtimes");
    if (msgpack_pack_array(&w.pk, r->runtime_count) != 0)
        w.failed = true;
    for (size_t i = 0; i < r->runtime_count; i++) {
        const struct brig_runtime_entry *e = &r->runtimes[i];
        struct map_mark entry;
        write_map_begin(&w, &entry);
        write_text(&w, &entry, "name", e->name);
        write_text_array(&w, &entry, "aliases", e->aliases, e->alias_count);
        write_text(&w, &entry, "version", e->version);
        write_true(&w, &entry, "warm", e->warm);
        write_text(&w, &entry, "image", e->image);
        write_map_end(&w, &entry);
    }
    write_map_end(&w, &top);
    return writer_finish(&w, &runtimes_kind, err);
}
