#include "sandbox/runtime.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "schema/bounds.h"
#include "schema/text.h"

/* A runtime table is operator input, but a few megabytes would already be absurd. */
#define RUNTIME_TABLE_MAX_BYTES (4u << 20)

/* Where in the table a parse error is, so that messages name it. */
struct parse_place {
    const char *origin;
    size_t index;
    const char *name; /* the runtime's name once known */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int
field_error(const struct parse_place *place, const char *field, const char *format, ...)
{
    char problem[256];
    va_list ap;

    va_start(ap, format);
    vsnprintf(problem, sizeof(problem), format, ap);
    va_end(ap);
    if (place->name != NULL)
        snprintf(place->err, place->errlen, "%s: runtimes[%zu] (\"%s\"): %s: %s", place->origin,
                 place->index, place->name, field, problem);
    else
        snprintf(place->err, place->errlen, "%s: runtimes[%zu]: %s: %s", place->origin,
                 place->index, field, problem);
    return -1;
}

static void string_array_free(char **array)
{
    if (array == NULL)
        return;
    for (char **item = array; *item != NULL; item++)
        free(*item);
    free(array);
}

static size_t string_array_length(const char *const *array)
{
    size_t n = 0;

    while (array != NULL && array[n] != NULL)
        n++;
    return n;
}

/* A JSON string as a C string; it must not be empty (jansson refuses NULs). */
static int copy_string(const struct parse_place *place, const json_t *value, const char *field,
                       char **out)
{
    const char *text = json_string_value(value);

    if (text == NULL)
        return field_error(place, field, "must be a string");
    if (text[0] == '\0')
        return field_error(place, field, "must not be empty");
    *out = strdup(text);
    if (*out == NULL)
        return field_error(place, field, "out of memory");
    return 0;
}

static int parse_string_array(const struct parse_place *place, const json_t *value,
                              const char *field, char ***out)
{
    size_t count = json_array_size(value);
    char **array;
    char item_field[64];

    if (!json_is_array(value) || count == 0)
        return field_error(place, field, "must be a non-empty array of strings");
    array = calloc(count + 1, sizeof(*array));
    if (array == NULL)
        return field_error(place, field, "out of memory");
    for (size_t i = 0; i < count; i++) {
        snprintf(item_field, sizeof(item_field), "%s[%zu]", field, i);
        if (copy_string(place, json_array_get(value, i), item_field, &array[i]) != 0) {
            string_array_free(array);
            return -1;
        }
    }
    *out = array;
    return 0;
}

/* Runtime names and aliases travel in jobs, so they follow the wire rules. */
static int check_name(const struct parse_place *place, const char *text, const char *field)
{
    char why[128];

    if (strlen(text) > BRIG_RUNTIME_NAME_MAX)
        return field_error(place, field, "\"%s\" is longer than %d characters", text,
                           BRIG_RUNTIME_NAME_MAX);
    if (!check_runtime_name(text, strlen(text), why, sizeof(why)))
        return field_error(place, field, "\"%s\": %s (use a-z and 0-9, then also . _ + -)", text,
                           why);
    return 0;
}

static int check_unknown_fields(const struct parse_place *place, const json_t *object,
                                const char *prefix, const char *const *known)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)object, key, value)
    {
        size_t i = 0;
        while (known[i] != NULL && strcmp(known[i], key) != 0)
            i++;
        if (known[i] == NULL) {
            char field[128];
            snprintf(field, sizeof(field), "%s%s", prefix, key);
            return field_error(place, field, "unknown field");
        }
    }
    return 0;
}

enum limit_kind { LIMIT_DURATION, LIMIT_SIZE, LIMIT_COUNT };

static int parse_limit(const struct parse_place *place, const json_t *limits, const char *key,
                       enum limit_kind kind, uint64_t *out)
{
    const json_t *value = json_object_get(limits, key);
    char field[64], problem[192];
    int parsed;

    snprintf(field, sizeof(field), "compile.limits.%s", key);
    if (value == NULL)
        return 0;
    if (kind == LIMIT_COUNT) {
        if (!json_is_integer(value) || json_integer_value(value) <= 0)
            return field_error(place, field, "must be a whole number greater than 0");
        *out = (uint64_t)json_integer_value(value);
        return 0;
    }
    if (!json_is_string(value))
        return field_error(place, field, "must be a string like \"%s\"",
                           kind == LIMIT_SIZE ? "512M" : "30s");
    if (kind == LIMIT_SIZE)
        parsed = units_parse_size(json_string_value(value), out, problem, sizeof(problem));
    else
        parsed = units_parse_duration_ms(json_string_value(value), out, problem, sizeof(problem));
    if (parsed != 0)
        return field_error(place, field, "%s", problem);
    if (*out == 0)
        return field_error(place, field, "must be greater than 0");
    return 0;
}

static int parse_compile(const struct parse_place *place, const json_t *compile,
                         struct runtime *runtime)
{
    static const char *const known[] = {"argv", "limits", NULL};
    static const char *const known_limits[] = {"wall_time", "cpu_time", "memory", "pids", NULL};
    const json_t *limits;

    if (!json_is_object(compile))
        return field_error(place, "compile", "must be an object with \"argv\" and \"limits\"");
    if (check_unknown_fields(place, compile, "compile.", known) != 0)
        return -1;
    if (json_object_get(compile, "argv") == NULL)
        return field_error(place, "compile.argv", "missing");
    if (parse_string_array(place, json_object_get(compile, "argv"), "compile.argv",
                           &runtime->compile) != 0)
        return -1;
    limits = json_object_get(compile, "limits");
    if (limits == NULL)
        return 0;
    if (!json_is_object(limits))
        return field_error(place, "compile.limits", "must be an object");
    if (check_unknown_fields(place, limits, "compile.limits.", known_limits) != 0)
        return -1;
    if (parse_limit(place, limits, "wall_time", LIMIT_DURATION, &runtime->compile_limits.wall_ms) !=
            0 ||
        parse_limit(place, limits, "cpu_time", LIMIT_DURATION, &runtime->compile_limits.cpu_ms) !=
            0 ||
        parse_limit(place, limits, "memory", LIMIT_SIZE, &runtime->compile_limits.memory_bytes) !=
            0 ||
        parse_limit(place, limits, "pids", LIMIT_COUNT, &runtime->compile_limits.pids) != 0)
        return -1;
    return 0;
}

static int parse_aliases(const struct parse_place *place, const json_t *aliases,
                         struct runtime *runtime)
{
    char field[32];

    if (aliases == NULL || (json_is_array(aliases) && json_array_size(aliases) == 0)) {
        runtime->aliases = calloc(1, sizeof(*runtime->aliases));
        if (runtime->aliases == NULL)
            return field_error(place, "aliases", "out of memory");
        return 0;
    }
    if (!json_is_array(aliases))
        return field_error(place, "aliases", "must be an array of strings");
    /* Workers announce their runtimes (SCHEMA.md, runtimes record). */
    if (json_array_size(aliases) > BRIG_RUNTIME_ALIASES_MAX)
        return field_error(place, "aliases", "more than %d", BRIG_RUNTIME_ALIASES_MAX);
    if (parse_string_array(place, aliases, "aliases", &runtime->aliases) != 0)
        return -1;
    for (size_t i = 0; runtime->aliases[i] != NULL; i++) {
        snprintf(field, sizeof(field), "aliases[%zu]", i);
        if (check_name(place, runtime->aliases[i], field) != 0)
            return -1;
    }
    return 0;
}

static int parse_required_array(const struct parse_place *place, const json_t *object,
                                const char *field, char ***out)
{
    const json_t *value = json_object_get(object, field);

    if (value == NULL)
        return field_error(place, field, "missing");
    return parse_string_array(place, value, field, out);
}

/* "warm": {"preload": [modules]}: the server embeds CPython, so only a
 * runtime that runs a script with python3 can use it. */
static int parse_warm(const struct parse_place *place, const json_t *warm, struct runtime *runtime)
{
    static const char *const known[] = {"preload", NULL};
    if (!json_is_object(warm))
        return field_error(place, "warm", "must be an object, like {\"preload\": [\"numpy\"]}");
    if (check_unknown_fields(place, warm, "warm.", known) != 0)
        return -1;
    const json_t *preload = json_object_get(warm, "preload");
    if (preload == NULL)
        runtime->warm_preload = calloc(1, sizeof(char *));
    else if (parse_string_array(place, preload, "warm.preload", &runtime->warm_preload) != 0)
        return -1;
    if (runtime->warm_preload == NULL)
        return field_error(place, "warm", "out of memory");
    const char *slash = strrchr(runtime->run[0], '/');
    const char *program = slash ? slash + 1 : runtime->run[0];
    if (strncmp(program, "python3", 7) != 0 || runtime->run[1] == NULL || runtime->compile != NULL)
        return field_error(place, "warm",
                           "only a runtime whose run is python3 and a script, without a "
                           "compile step, can start warm");
    return 0;
}

/* One of "image"'s bounds: a size like "1G", or a count. */
static int parse_image_bound(const struct parse_place *place, const json_t *image, const char *key,
                             bool size, uint64_t *out)
{
    const json_t *value = json_object_get(image, key);
    char field[64], problem[192];
    snprintf(field, sizeof(field), "image.%s", key);
    if (value == NULL)
        return 0;
    if (!size && (!json_is_integer(value) || json_integer_value(value) <= 0))
        return field_error(place, field, "must be a whole number greater than 0");
    if (!size) {
        *out = (uint64_t)json_integer_value(value);
        return 0;
    }
    if (!json_is_string(value))
        return field_error(place, field, "must be a size like \"4G\"");
    if (units_parse_size(json_string_value(value), out, problem, sizeof(problem)) != 0)
        return field_error(place, field, "%s", problem);
    if (*out == 0)
        return field_error(place, field, "must be greater than 0");
    return 0;
}

/* "image": "/abs/path", or {"path": ..., "max_file", "max_total", "max_entries"}. */
static int parse_image(const struct parse_place *place, const json_t *image,
                       struct runtime *runtime)
{
    static const char *const known[] = {"path", "max_file", "max_total", "max_entries", NULL};
    const json_t *path = json_is_object(image) ? json_object_get(image, "path") : image;
    const char *field = json_is_object(image) ? "image.path" : "image";
    image_limits_default(&runtime->image_limits);
    if (!json_is_object(image) && !json_is_string(image))
        return field_error(place, "image", "must be a path, or an object with \"path\"");
    if (json_is_object(image) && (check_unknown_fields(place, image, "image.", known) != 0 ||
                                  parse_image_bound(place, image, "max_file", true,
                                                    &runtime->image_limits.file_bytes) != 0 ||
                                  parse_image_bound(place, image, "max_total", true,
                                                    &runtime->image_limits.total_bytes) != 0 ||
                                  parse_image_bound(place, image, "max_entries", false,
                                                    &runtime->image_limits.entries) != 0))
        return -1;
    if (path == NULL)
        return field_error(place, field, "missing");
    if (copy_string(place, path, field, &runtime->image_path) != 0)
        return -1;
    if (runtime->image_path[0] != '/')
        return field_error(place, field, "\"%s\" must be an absolute path", runtime->image_path);
    if (runtime->warm_preload != NULL)
        return field_error(place, field,
                           "a runtime with an image cannot start warm (the warm "
                           "server is the host's Python)");
    return 0;
}

static int parse_runtime(struct parse_place *place, const json_t *object, struct runtime *runtime)
{
    static const char *const known[] = {"name",    "aliases", "source", "compile", "run",
                                        "version", "warm",    "image",  NULL};
    const json_t *source = json_object_get(object, "source");
    const json_t *compile = json_object_get(object, "compile");

    if (!json_is_object(object)) {
        snprintf(place->err, place->errlen, "%s: runtimes[%zu]: must be an object", place->origin,
                 place->index);
        return -1;
    }
    if (json_object_get(object, "name") == NULL)
        return field_error(place, "name", "missing");
    if (copy_string(place, json_object_get(object, "name"), "name", &runtime->name) != 0 ||
        check_name(place, runtime->name, "name") != 0)
        return -1;
    place->name = runtime->name;
    if (check_unknown_fields(place, object, "", known) != 0)
        return -1;
    if (parse_aliases(place, json_object_get(object, "aliases"), runtime) != 0)
        return -1;
    if (source == NULL)
        return field_error(place, "source", "missing");
    if (copy_string(place, source, "source", &runtime->source) != 0)
        return -1;
    if (strchr(runtime->source, '/') != NULL || strcmp(runtime->source, ".") == 0 ||
        strcmp(runtime->source, "..") == 0)
        return field_error(place, "source", "\"%s\" must be a plain file name, without /",
                           runtime->source);
    if (compile != NULL && parse_compile(place, compile, runtime) != 0)
        return -1;
    if (parse_required_array(place, object, "run", &runtime->run) != 0 ||
        parse_required_array(place, object, "version", &runtime->version) != 0)
        return -1;
    const json_t *warm = json_object_get(object, "warm");
    if (warm != NULL && parse_warm(place, warm, runtime) != 0)
        return -1;
    const json_t *image = json_object_get(object, "image");
    if (image != NULL && parse_image(place, image, runtime) != 0)
        return -1;
    return 0;
}

/* A runtime's labels: its name (0), then its aliases. */
static size_t label_count(const struct runtime *runtime)
{
    return 1 + string_array_length((const char *const *)runtime->aliases);
}

static const char *label_at(const struct runtime *runtime, size_t k)
{
    return k == 0 ? runtime->name : runtime->aliases[k - 1];
}

/* Names and aliases share one namespace. */
static int check_unique_names(const struct runtime_table *table, char *err, size_t errlen)
{
    for (size_t i = 0; i < table->count; i++) {
        const struct runtime *runtime = &table->runtimes[i];
        const struct parse_place place = {table->origin, i, runtime->name, err, errlen};
        for (size_t k = 0; k < label_count(runtime); k++) {
            const char *label = label_at(runtime, k);
            for (size_t j = 0; j <= i; j++) {
                const struct runtime *other = &table->runtimes[j];
                size_t other_labels = j == i ? k : label_count(other);
                for (size_t m = 0; m < other_labels; m++) {
                    char field[32];
                    if (strcmp(label_at(other, m), label) != 0)
                        continue;
                    if (k == 0)
                        snprintf(field, sizeof(field), "name");
                    else
                        snprintf(field, sizeof(field), "aliases[%zu]", k - 1);
                    return field_error(&place, field, "\"%s\" is already taken by runtime \"%s\"",
                                       label, other->name);
                }
            }
        }
    }
    return 0;
}

static void runtime_release(struct runtime *runtime)
{
    free(runtime->name);
    string_array_free(runtime->aliases);
    free(runtime->source);
    string_array_free(runtime->compile);
    string_array_free(runtime->run);
    string_array_free(runtime->version);
    string_array_free(runtime->warm_preload);
    jail_server_free(runtime->warm);
    free(runtime->image_path);
    jail_image_free(runtime->image);
    free(runtime->version_text);
    pthread_mutex_destroy(&runtime->version_lock);
}

void runtime_table_free(struct runtime_table *table)
{
    if (table == NULL)
        return;
    for (size_t i = 0; i < table->count; i++)
        runtime_release(&table->runtimes[i]);
    free(table->runtimes);
    free(table->origin);
    free(table);
}

int runtime_table_parse(const char *text, size_t len, const char *origin,
                        struct runtime_table **out, char *err, size_t errlen)
{
    json_error_t json_error;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &json_error);
    const json_t *list;
    struct runtime_table *table = NULL;
    int result = -1;

    if (root == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", origin, json_error.line, json_error.column,
                 json_error.text);
        return -1;
    }
    list = json_object_get(root, "runtimes");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(list) ||
        json_array_size(list) == 0 || json_array_size(list) > BRIG_RUNTIMES_MAX) {
        snprintf(err, errlen,
                 "%s: must be an object with one field, \"runtimes\", a non-empty array of at most "
                 "%d",
                 origin, BRIG_RUNTIMES_MAX);
        goto out;
    }
    table = calloc(1, sizeof(*table));
    if (table == NULL || (table->origin = strdup(origin)) == NULL ||
        (table->runtimes = calloc(json_array_size(list), sizeof(*table->runtimes))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", origin);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        struct parse_place place = {origin, i, NULL, err, errlen};
        struct runtime *runtime = &table->runtimes[i];
        int lock_error = pthread_mutex_init(&runtime->version_lock, NULL);
        if (lock_error != 0) {
            snprintf(err, errlen, "%s: runtimes[%zu]: creating a lock: %s", origin, i,
                     strerror(lock_error));
            goto out;
        }
        table->count++;
        if (parse_runtime(&place, json_array_get(list, i), runtime) != 0)
            goto out;
    }
    if (check_unique_names(table, err, errlen) != 0)
        goto out;
    *out = table;
    table = NULL;
    result = 0;
out:
    runtime_table_free(table);
    json_decref(root);
    return result;
}

int runtime_table_load(const char *path, struct runtime_table **out, char *err, size_t errlen)
{
    FILE *file = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    int result = -1;

    if (file == NULL) {
        snprintf(err, errlen, "opening the runtime table %s: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(RUNTIME_TABLE_MAX_BYTES + 1);
    if (text == NULL) {
        snprintf(err, errlen, "reading %s: out of memory", path);
        goto out;
    }
    len = fread(text, 1, RUNTIME_TABLE_MAX_BYTES + 1, file);
    if (ferror(file)) {
        snprintf(err, errlen, "reading the runtime table %s: %s", path, strerror(errno));
        goto out;
    }
    if (len > RUNTIME_TABLE_MAX_BYTES) {
        snprintf(err, errlen, "%s: larger than %u bytes, too large for a runtime table", path,
                 RUNTIME_TABLE_MAX_BYTES);
        goto out;
    }
    result = runtime_table_parse(text, len, path, out, err, errlen);
out:
    free(text);
    fclose(file);
    return result;
}

struct runtime *runtime_find(const struct runtime_table *table, const char *name)
{
    for (size_t i = 0; i < table->count; i++) {
        struct runtime *runtime = &table->runtimes[i];
        if (strcmp(runtime->name, name) == 0)
            return runtime;
        for (char **alias = runtime->aliases; *alias != NULL; alias++) {
            if (strcmp(*alias, name) == 0)
                return runtime;
        }
    }
    return NULL;
}
