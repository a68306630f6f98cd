#include "schema/read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/error.h"
#include "schema/paths.h"
#include "schema/scan.h"

/* Decoded structs are mostly small; big data gets chunks of its own size. */
#define ARENA_CHUNK_SIZE 4096

static const char *type_name(msgpack_object_type type)
{
    switch (type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "string";
    case MSGPACK_OBJECT_BIN:
        return "binary";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_EXT:
        return "extension";
    }
    return "unknown";
}

int wrong_type(struct decoder *d, const msgpack_object *o, const char *field, const char *expected)
{
    return error_set(d->err, field, "wrong type: expected %s, got %s", expected,
                     type_name(o->type));
}

void *decoder_alloc(struct decoder *d, const char *field, size_t size)
{
    void *p = msgpack_zone_malloc(d->arena, size ? size : 1);
    if (!p)
        error_set(d->err, field, "out of memory decoding %zu bytes", size);
    return p;
}

char *decoder_copy(struct decoder *d, const char *field, const char *s, size_t len)
{
    char *copy = decoder_alloc(d, field, len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* Why text breaks rule, in why; NULL when it does not. Cheap tests first. */
static const char *text_problem(const char *s, size_t len, const struct text_rule *rule, char *why,
                                size_t whylen)
{
    size_t at;
    const char *nul;
    if (len < rule->min)
        snprintf(why, whylen, "empty");
    else if (len > rule->max)
        snprintf(why, whylen, "too long: %zu bytes (max %zu)", len, rule->max);
    else if (!utf8_valid(s, len, &at))
        snprintf(why, whylen, "not valid UTF-8 at byte %zu", at);
    else if ((nul = memchr(s, '\0', len)) != NULL)
        snprintf(why, whylen, "contains NUL at byte %zu", (size_t)(nul - s));
    else if (!rule->check || rule->check(s, len, why, whylen))
        return NULL;
    return why;
}

/* msgpack-c leaves the pointer of an empty str or bin NULL, and the C
 * library wants a valid pointer even for zero bytes. */
static const char *str_data(const msgpack_object *o)
{
    return o->via.str.size ? o->via.str.ptr : "";
}

static const char *bin_data(const msgpack_object *o)
{
    return o->via.bin.size ? o->via.bin.ptr : "";
}

static bool same_key(const msgpack_object *a, const msgpack_object *b)
{
    return a->via.str.size == b->via.str.size &&
           memcmp(str_data(a), str_data(b), a->via.str.size) == 0;
}

/* How a key is named in errors: as a member of the map (maps of named
 * fields), as an entry (maps keyed by text), or by the map's own field (maps
 * inside values nobody reads). */
enum key_naming { KEY_AS_MEMBER, KEY_AS_ENTRY, KEY_AS_MAP };

/* Key checks shared by every map: a UTF-8 str, not seen before in entries
 * [0, index). */
static int check_key(struct decoder *d, const msgpack_object_kv *entries, uint32_t index,
                     const char *map_field, enum key_naming naming)
{
    const msgpack_object *key = &entries[index].key;
    if (key->type != MSGPACK_OBJECT_STR)
        return error_set(d->err, map_field, "key is not a string: got %s", type_name(key->type));
    const char *s = str_data(key);
    size_t len = key->via.str.size, at;
    char path[sizeof d->err->field];
    if (naming == KEY_AS_MEMBER)
        error_member_path(path, map_field, s, len);
    else if (naming == KEY_AS_ENTRY)
        error_key_path(path, map_field, s, len);
    else
        snprintf(path, sizeof path, "%s", map_field);
    if (!utf8_valid(s, len, &at))
        return error_set(d->err, path, "key is not valid UTF-8 at byte %zu", at);
    for (uint32_t i = 0; i < index; i++) {
        if (same_key(&entries[i].key, key))
            return error_set(d->err, path, "duplicate key");
    }
    return 0;
}

/* The value of a key no reader knows: only well formed, at every depth. */
static int check_unknown(struct decoder *d, const msgpack_object *o, const char *field)
{
    size_t at;
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        if (!utf8_valid(str_data(o), o->via.str.size, &at))
            return error_set(d->err, field, "not valid UTF-8 at byte %zu of a string", at);
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (check_unknown(d, &o->via.array.ptr[i], field) < 0)
                return -1;
        }
        return 0;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (check_key(d, o->via.map.ptr, i, field, KEY_AS_MAP) < 0 ||
                check_unknown(d, &o->via.map.ptr[i].val, field) < 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

int read_fields(struct decoder *d, const msgpack_object *map, const char *parent,
                const char *const *names, size_t count, const msgpack_object **values,
                bool unknown_allowed)
{
    for (size_t i = 0; i < count; i++)
        values[i] = NULL;
    const msgpack_object_kv *entries = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (check_key(d, entries, i, parent, KEY_AS_MEMBER) < 0)
            return -1;
        const char *key = str_data(&entries[i].key);
        size_t len = entries[i].key.via.str.size;
        size_t n = 0;
        while (n < count && !(strlen(names[n]) == len && memcmp(names[n], key, len) == 0))
            n++;
        if (n < count) {
            values[n] = entries[i].val.type == MSGPACK_OBJECT_NIL ? NULL : &entries[i].val;
            continue;
        }
        char path[sizeof d->err->field];
        error_member_path(path, parent, key, len);
        if (!unknown_allowed)
            return error_set(d->err, path, "unknown key");
        if (check_unknown(d, &entries[i].val, path) < 0)
            return -1;
    }
    return 0;
}

int read_named_map(struct decoder *d, const msgpack_object *o, const char *field,
                   const char *const *names, size_t count, const msgpack_object **values,
                   bool unknown_allowed)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return wrong_type(d, o, field, "map");
    return read_fields(d, o, field, names, count, values, unknown_allowed);
}

int read_required(struct decoder *d, const msgpack_object *o, const char *field)
{
    return o ? 0 : error_set(d->err, field, "missing: this field is required");
}

int read_uint(struct decoder *d, const msgpack_object *o, const char *field, uint64_t min,
              uint64_t max, uint64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return error_set(d->err, field, "out of range: %lld (min %llu, max %llu)",
                         (long long)o->via.i64, (unsigned long long)min, (unsigned long long)max);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wrong_type(d, o, field, "unsigned integer");
    if (o->via.u64 < min || o->via.u64 > max)
        return error_set(d->err, field, "out of range: %llu (min %llu, max %llu)",
                         (unsigned long long)o->via.u64, (unsigned long long)min,
                         (unsigned long long)max);
    *out = o->via.u64;
    return 0;
}

int read_bool(struct decoder *d, const msgpack_object *o, const char *field, bool *out)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return wrong_type(d, o, field, "boolean");
    *out = o->via.boolean;
    return 0;
}

int read_text(struct decoder *d, const msgpack_object *o, const char *field,
              const struct text_rule *rule, const char **out)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return wrong_type(d, o, field, "string");
    char why[sizeof d->err->reason];
    if (text_problem(str_data(o), o->via.str.size, rule, why, sizeof why))
        return error_set(d->err, field, "%s", why);
    *out = decoder_copy(d, field, str_data(o), o->via.str.size);
    return *out ? 0 : -1;
}

int read_bytes(struct decoder *d, const msgpack_object *o, const char *field, size_t max,
               struct brig_bytes *out)
{
    const char *data;
    size_t len, at;
    if (o->type == MSGPACK_OBJECT_BIN) {
        data = bin_data(o), len = o->via.bin.size;
    } else if (o->type == MSGPACK_OBJECT_STR) {
        data = str_data(o), len = o->via.str.size;
    } else {
        return wrong_type(d, o, field, "binary or string");
    }
    if (len > max)
        return error_set(d->err, field, "too long: %zu bytes (max %zu)", len, max);
    if (o->type == MSGPACK_OBJECT_STR && !utf8_valid(data, len, &at))
        return error_set(d->err, field, "not valid UTF-8 at byte %zu (send bytes as binary)", at);
    out->data = decoder_copy(d, field, data, len);
    out->len = len;
    return out->data ? 0 : -1;
}

int read_array(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return wrong_type(d, o, field, "array");
    if (o->via.array.size > max_count)
        return error_set(d->err, field, "too many elements: %u (max %zu)", o->via.array.size,
                         max_count);
    return 0;
}

int read_text_array(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
                    const struct text_rule *rule, const char *const **out, size_t *count)
{
    if (read_array(d, o, field, max_count) < 0)
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    const char **items = decoder_alloc(d, field, n * sizeof *items);
    if (!items)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        char path[sizeof d->err->field];
        snprintf(path, sizeof path, "%s[%u]", field, i);
        if (read_text(d, &o->via.array.ptr[i], path, rule, &items[i]) < 0)
            return -1;
    }
    *out = items;
    *count = n;
    return 0;
}

/* The common part of text-keyed maps: type, size, and each key in turn. */
static int read_keyed_map(struct decoder *d, const msgpack_object *o, const char *field,
                          size_t max_count, const struct text_rule *key_rule)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return wrong_type(d, o, field, "map");
    if (o->via.map.size > max_count)
        return error_set(d->err, field, "too many entries: %u (max %zu)", o->via.map.size,
                         max_count);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        if (check_key(d, o->via.map.ptr, i, field, KEY_AS_ENTRY) < 0)
            return -1;
        const msgpack_object *key = &o->via.map.ptr[i].key;
        char why[sizeof d->err->reason];
        if (text_problem(str_data(key), key->via.str.size, key_rule, why, sizeof why))
            return error_at_key(d->err, field, str_data(key), key->via.str.size, "%s", why);
    }
    return 0;
}

int read_pairs(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
               const struct text_rule *name_rule, const struct text_rule *value_rule,
               struct brig_pair **out, size_t *count)
{
    if (read_keyed_map(d, o, field, max_count, name_rule) < 0)
        return -1;
    uint32_t n = o->via.map.size;
    if (n == 0)
        return 0;
    struct brig_pair *pairs = decoder_alloc(d, field, n * sizeof *pairs);
    if (!pairs)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char path[sizeof d->err->field];
        error_key_path(path, field, str_data(&kv->key), kv->key.via.str.size);
        pairs[i].name = decoder_copy(d, path, str_data(&kv->key), kv->key.via.str.size);
        if (!pairs[i].name || read_text(d, &kv->val, path, value_rule, &pairs[i].value) < 0)
            return -1;
    }
    *out = pairs;
    *count = n;
    return 0;
}

int read_bytes_map(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
                   const struct text_rule *key_rule, size_t max_bytes, struct brig_file **out,
                   size_t *count)
{
    *out = NULL;
    *count = 0;
    if (read_keyed_map(d, o, field, max_count, key_rule) < 0)
        return -1;
    uint32_t n = o->via.map.size;
    if (n == 0)
        return 0;
    struct brig_file *files = decoder_alloc(d, field, n * sizeof *files);
    if (!files)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char path[sizeof d->err->field];
        error_key_path(path, field, str_data(&kv->key), kv->key.via.str.size);
        files[i].path = decoder_copy(d, path, str_data(&kv->key), kv->key.via.str.size);
        if (!files[i].path || read_bytes(d, &kv->val, path, max_bytes, &files[i].content) < 0)
            return -1;
    }
    *out = files;
    *count = n;
    return 0;
}

static const struct text_rule path_rule = {1, BRIG_PATH_MAX, check_relative_path};

int read_files(struct decoder *d, const msgpack_object *o, const char *field, size_t max_count,
               struct brig_file **out, size_t *count)
{
    struct brig_file *files = NULL;
    size_t n = 0;
    if (read_bytes_map(d, o, field, max_count, &path_rule, SIZE_MAX, &files, &n) < 0)
        return -1;
    if (n == 0)
        return 0;
    size_t file, parent;
    if (find_path_conflict(files, n, &file, &parent)) {
        const char *p = files[parent].path;
        return error_at_key(d->err, field, files[file].path, strlen(files[file].path),
                            "path conflict: \"%.64s%s\" is a file", p, strlen(p) > 64 ? "..." : "");
    }
    *out = files;
    *count = n;
    return 0;
}

static int read_version(struct decoder *d, const msgpack_object *v, uint64_t max_version)
{
    if (read_required(d, v, "v") < 0)
        return -1;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ||
        (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
         (v->via.u64 < BRIG_SCHEMA_VERSION || v->via.u64 > max_version))) {
        char shown[24], spoken[48];
        if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            snprintf(shown, sizeof shown, "%lld", (long long)v->via.i64);
        else
            snprintf(shown, sizeof shown, "%llu", (unsigned long long)v->via.u64);
        if (max_version > BRIG_SCHEMA_VERSION)
            snprintf(spoken, sizeof spoken, "versions %d to %llu", BRIG_SCHEMA_VERSION,
                     (unsigned long long)max_version);
        else
            snprintf(spoken, sizeof spoken, "version %d", BRIG_SCHEMA_VERSION);
        return error_set(d->err, "v", "unsupported version %s: this reader speaks %s", shown,
                         spoken);
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return wrong_type(d, v, "v", "unsigned integer");
    d->version = v->via.u64;
    return 0;
}

int decode_message(const struct message_kind *kind, const void *buf, size_t len, void *out,
                   msgpack_zone **arena, struct brig_error *err)
{
    memset(out, 0, kind->struct_size);
    *arena = NULL;
    if (len > kind->max_bytes)
        return error_set(err, "", "too large: %zu bytes (max %zu)", len, kind->max_bytes);
    if (scan_message(buf, len, err) < 0)
        return -1;
    struct decoder d = {.arena = msgpack_zone_new(ARENA_CHUNK_SIZE), .err = err};
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    int rc = -1;
    size_t off = 0;
    if (!d.arena) {
        error_set(err, "", "out of memory");
        goto done;
    }
    switch (msgpack_unpack_next(&up, buf, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        error_set(err, "", "out of memory unpacking %zu bytes", len);
        goto done;
    default: /* the scan accepted it, but msgpack-c has the last word */
        error_set(err, "", "invalid msgpack");
        goto done;
    }
    if (up.data.type != MSGPACK_OBJECT_MAP) {
        error_set(err, "", "not a map: the message is of type %s", type_name(up.data.type));
        goto done;
    }
    const msgpack_object *values[MESSAGE_MAX_FIELDS];
    if (read_fields(&d, &up.data, "", kind->fields, kind->field_count, values, true) < 0 ||
        read_version(&d, values[0], kind->max_version ? kind->max_version : BRIG_SCHEMA_VERSION) <
            0)
        goto done;
    rc = kind->decode(&d, values, out);
done:
    msgpack_unpacked_destroy(&up);
    if (rc < 0) {
        if (d.arena)
            msgpack_zone_free(d.arena);
        memset(out, 0, kind->struct_size);
    } else {
        *arena = d.arena;
    }
    return rc;
}

int check_message(const struct message_kind *kind, const void *buf, size_t len,
                  struct brig_error *err)
{
    void *scratch = malloc(kind->struct_size);
    if (!scratch)
        return error_set(err, "", "out of memory checking the message");
    msgpack_zone *arena;
    int rc = decode_message(kind, buf, len, scratch, &arena, err);
    if (rc == 0)
        msgpack_zone_free(arena);
    free(scratch);
    return rc;
}
