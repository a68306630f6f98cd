#include "schema/job_limits.h"

#include <stddef.h>
#include <stdio.h>

#include "common/common.h"

/* One row per limit, named after its field and its bounds.h prefix. */
// clang-format off
#define LIMIT(f, P) {#f, offsetof(struct brig_limits, f), P##_MIN, P##_MAX, P##_DEFAULT}
// clang-format on

static const struct brig_limit_info limit_specs[] = {
    LIMIT(wall_ms, BRIG_WALL_MS),           LIMIT(cpu_ms, BRIG_CPU_MS),
    LIMIT(memory_bytes, BRIG_MEMORY_BYTES), LIMIT(pids, BRIG_PIDS),
    LIMIT(output_bytes, BRIG_OUTPUT_BYTES), LIMIT(fsize_bytes, BRIG_FSIZE_BYTES),
    LIMIT(disk_bytes, BRIG_DISK_BYTES),     LIMIT(tmp_bytes, BRIG_TMP_BYTES),
    LIMIT(cpu_millis, BRIG_CPU_MILLIS),     LIMIT(collect_bytes, BRIG_COLLECT_BYTES),
};

#define LIMIT_COUNT ARRAY_SIZE(limit_specs)

const struct brig_limit_info *brig_limit_info(size_t i)
{
    return i < LIMIT_COUNT ? &limit_specs[i] : NULL;
}

uint64_t *brig_limit_field(struct brig_limits *limits, const struct brig_limit_info *info)
{
    return (uint64_t *)((char *)limits + info->offset);
}

static uint64_t limit_value(const struct brig_limits *limits, const struct brig_limit_info *spec)
{
    return *(const uint64_t *)((const char *)limits + spec->offset);
}

void brig_limits_resolve(const struct brig_limits *given, struct brig_limits *effective)
{
    *effective = *given;
    for (size_t i = 0; i < LIMIT_COUNT; i++) {
        uint64_t *slot = brig_limit_field(effective, &limit_specs[i]);
        if (*slot == 0)
            *slot = limit_specs[i].fallback;
    }
}

/* A limit the worker does not know must not be dropped in silence: the job
 * would run under other limits than its author wrote. */
int decode_limits(struct decoder *d, const msgpack_object *o, struct brig_limits *limits)
{
    const char *names[LIMIT_COUNT];
    const msgpack_object *values[LIMIT_COUNT];
    for (size_t i = 0; i < LIMIT_COUNT; i++)
        names[i] = limit_specs[i].name;
    if (read_named_map(d, o, "limits", names, LIMIT_COUNT, values, false) < 0)
        return -1;
    for (size_t i = 0; i < LIMIT_COUNT; i++) {
        const struct brig_limit_info *spec = &limit_specs[i];
        char field[sizeof d->err->field];
        snprintf(field, sizeof field, "limits.%s", spec->name);
        if (values[i] && read_uint(d, values[i], field, spec->min, spec->max,
                                   brig_limit_field(limits, spec)) < 0)
            return -1;
    }
    return 0;
}

void encode_limits(struct writer *w, struct map_mark *m, const struct brig_limits *limits)
{
    size_t given = 0;
    for (size_t i = 0; i < LIMIT_COUNT; i++)
        given += limit_value(limits, &limit_specs[i]) != 0;
    if (given == 0)
        return;
    struct map_mark inner;
    write_key(w, m, "limits");
    write_map_begin(w, &inner);
    for (size_t i = 0; i < LIMIT_COUNT; i++)
        write_nonzero(w, &inner, limit_specs[i].name, limit_value(limits, &limit_specs[i]));
    write_map_end(w, &inner);
}
