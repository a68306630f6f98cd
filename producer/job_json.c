#include "producer/job_json.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "producer/arena.h"
#include "producer/json_bytes.h"
#include "producer/json_put.h"
#include "schema/error.h"
#include "schema/netrule.h"
#include "common/common.h"

struct parse {
    msgpack_zone *arena;
    struct brig_error *err;
};

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int out_of_memory(struct parse *p, const char *field)
{
    return error_set(p->err, field, "out of memory");
}

static int copy_text(struct parse *p, const json_t *v, const char *field, char **out)
{
    if (!json_is_string(v))
        return error_set(p->err, field, "expected a string, got %s", type_name(v));
    size_t len = json_string_length(v);
    if (strlen(json_string_value(v)) != len)
        return error_set(p->err, field, "contains a NUL character");
    if (!(*out = arena_memdup(p->arena, json_string_value(v), len)))
        return out_of_memory(p, field);
    return 0;
}

static int copy_string(struct parse *p, const json_t *v, const char *field, const char **out)
{
    char *copy;
    if (copy_text(p, v, field, &copy) < 0)
        return -1;
    *out = copy;
    return 0;
}

static int copy_string_array(struct parse *p, const json_t *v, const char *field,
                             const char *const **items, size_t *count)
{
    if (!json_is_array(v))
        return error_set(p->err, field, "expected an array of strings, got %s", type_name(v));
    size_t n = json_array_size(v);
    const char **array = arena_calloc(p->arena, n, sizeof *array);
    if (!array)
        return out_of_memory(p, field);
    for (size_t i = 0; i < n; i++) {
        char element[sizeof p->err->field];
        snprintf(element, sizeof element, "%s[%zu]", field, i);
        if (copy_string(p, json_array_get(v, i), element, &array[i]) < 0)
            return -1;
    }
    *items = array;
    *count = n;
    return 0;
}

static int copy_bytes(struct parse *p, const json_t *v, const char *field, struct brig_bytes *out)
{
    char why[sizeof p->err->reason];
    if (json_to_bytes(v, p->arena, out, why, sizeof why) < 0)
        return error_set(p->err, field, "%s", why);
    return 0;
}

static int copy_string_map(struct parse *p, const json_t *v, const char *field,
                           struct brig_pair **pairs, size_t *count)
{
    if (!json_is_object(v))
        return error_set(p->err, field, "expected an object of strings, got %s", type_name(v));
    if (!(*pairs = arena_calloc(p->arena, json_object_size(v), sizeof **pairs)))
        return out_of_memory(p, field);
    const char *key;
    json_t *value;
    size_t n = 0;
    json_object_foreach((json_t *)v, key, value)
    {
        char path[sizeof p->err->field];
        error_key_path(path, field, key, strlen(key));
        if (!((*pairs)[n].name = arena_strdup(p->arena, key)))
            return out_of_memory(p, path);
        if (copy_string(p, value, path, &(*pairs)[n].value) < 0)
            return -1;
        n++;
    }
    *count = n;
    return 0;
}

static int copy_files(struct parse *p, const json_t *v, struct brig_job *job)
{
    if (!json_is_object(v))
        return error_set(p->err, "files", "expected an object of path: content, got %s",
                         type_name(v));
    if (!(job->files = arena_calloc(p->arena, json_object_size(v), sizeof *job->files)))
        return out_of_memory(p, "files");
    const char *path;
    json_t *content;
    json_object_foreach((json_t *)v, path, content)
    {
        struct brig_file *file = &job->files[job->file_count];
        char field[sizeof p->err->field];
        error_key_path(field, "files", path, strlen(path));
        if (!(file->path = arena_strdup(p->arena, path)))
            return out_of_memory(p, field);
        if (copy_bytes(p, content, field, &file->content) < 0)
            return -1;
        job->file_count++;
    }
    return 0;
}

/* A positive integer: 0 would mean "not given" in the struct, so it is
 * refused here rather than dropped in silence. */
static int copy_positive(struct parse *p, const json_t *v, const char *field, uint64_t *out)
{
    if (!json_is_integer(v))
        return error_set(p->err, field, "expected an integer, got %s", type_name(v));
    json_int_t n = json_integer_value(v);
    if (n <= 0)
        return error_set(p->err, field, "out of range: %lld is not a positive integer",
                         (long long)n);
    *out = (uint64_t)n;
    return 0;
}

static const struct {
    const char *name;
    size_t offset;
} limit_fields[] = {
    {"wall_ms", offsetof(struct brig_limits, wall_ms)},
    {"cpu_ms", offsetof(struct brig_limits, cpu_ms)},
    {"memory_bytes", offsetof(struct brig_limits, memory_bytes)},
    {"pids", offsetof(struct brig_limits, pids)},
    {"output_bytes", offsetof(struct brig_limits, output_bytes)},
    {"fsize_bytes", offsetof(struct brig_limits, fsize_bytes)},
    {"disk_bytes", offsetof(struct brig_limits, disk_bytes)},
    {"tmp_bytes", offsetof(struct brig_limits, tmp_bytes)},
    {"cpu_millis", offsetof(struct brig_limits, cpu_millis)},
    {"collect_bytes", offsetof(struct brig_limits, collect_bytes)},
};
#define LIMIT_FIELD_COUNT ARRAY_SIZE(limit_fields)

static uint64_t *limit_slot(struct brig_limits *limits, size_t i)
{
    return (uint64_t *)((char *)limits + limit_fields[i].offset);
}

static int copy_limits(struct parse *p, const json_t *v, struct brig_job *job)
{
    if (!json_is_object(v))
        return error_set(p->err, "limits", "expected an object, got %s", type_name(v));
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value)
    {
        char field[sizeof p->err->field];
        error_member_path(field, "limits", key, strlen(key));
        size_t i = 0;
        while (i < LIMIT_FIELD_COUNT && strcmp(limit_fields[i].name, key) != 0)
            i++;
        if (i == LIMIT_FIELD_COUNT)
            return error_set(p->err, field, "unknown limit");
        if (copy_positive(p, value, field, limit_slot(&job->limits, i)) < 0)
            return -1;
    }
    return 0;
}

static int copy_network(struct parse *p, const json_t *v, struct brig_network *network)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0)
        return 0;
    const json_t *allow = json_object_get(v, "allow");
    if (!json_is_object(v) || json_object_size(v) != 1 || !allow)
        return error_set(p->err, "network", "expected \"none\" or {\"allow\": [rules]}");
    if (!json_is_array(allow))
        return error_set(p->err, "network.allow", "expected an array of strings, got %s",
                         type_name(allow));
    network->mode = BRIG_NETWORK_ALLOW;
    size_t n = json_array_size(allow);
    if (!(network->rules = arena_calloc(p->arena, n, sizeof *network->rules)))
        return out_of_memory(p, "network.allow");
    for (size_t i = 0; i < n; i++) {
        char field[sizeof p->err->field], why[sizeof p->err->reason];
        char *entry;
        struct net_rule_parts parts;
        snprintf(field, sizeof field, "network.allow[%zu]", i);
        if (copy_text(p, json_array_get(allow, i), field, &entry) < 0)
            return -1;
        if (!net_rule_parse(entry, strlen(entry), &parts, why, sizeof why))
            return error_set(p->err, field, "%s", why);
        entry[parts.host_start + parts.host_len] = '\0';
        network->rules[i].host = entry + parts.host_start;
        network->rules[i].wildcard = parts.wildcard;
        network->rules[i].port = parts.port;
    }
    network->rule_count = n;
    return 0;
}

static int copy_field(struct parse *p, const char *key, const json_t *v, struct brig_job *job)
{
    if (strcmp(key, "v") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) != BRIG_SCHEMA_VERSION)
            return error_set(p->err, "v", "unsupported schema version: only %d is known",
                             BRIG_SCHEMA_VERSION);
        return 0;
    }
    if (strcmp(key, "id") == 0)
        return copy_string(p, v, key, &job->id);
    if (strcmp(key, "runtime") == 0)
        return copy_string(p, v, key, &job->runtime);
    if (strcmp(key, "argv") == 0)
        return copy_string_array(p, v, key, &job->argv, &job->argv_count);
    if (strcmp(key, "code") == 0)
        return copy_bytes(p, v, key, &job->code);
    if (strcmp(key, "args") == 0)
        return copy_string_array(p, v, key, &job->args, &job->args_count);
    if (strcmp(key, "stdin") == 0)
        return copy_bytes(p, v, key, &job->stdin_data);
    if (strcmp(key, "env") == 0)
        return copy_string_map(p, v, key, &job->env, &job->env_count);
    if (strcmp(key, "files") == 0)
        return copy_files(p, v, job);
    if (strcmp(key, "limits") == 0)
        return copy_limits(p, v, job);
    if (strcmp(key, "network") == 0)
        return copy_network(p, v, &job->network);
    if (strcmp(key, "session") == 0)
        return copy_string(p, v, key, &job->session);
    if (strcmp(key, "collect") == 0)
        return copy_string_array(p, v, key, &job->collect, &job->collect_count);
    if (strcmp(key, "reply_topic") == 0)
        return copy_string(p, v, key, &job->reply_topic);
    if (strcmp(key, "stream_logs") == 0) {
        if (!json_is_boolean(v))
            return error_set(p->err, key, "expected a boolean, got %s", type_name(v));
        job->stream_logs = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "metadata") == 0)
        return copy_string_map(p, v, key, &job->metadata, &job->metadata_count);
    if (strcmp(key, "deadline_ms") == 0)
        return copy_positive(p, v, key, &job->deadline_ms);
    if (strcmp(key, "replay_of") == 0)
        return copy_string(p, v, key, &job->replay_of);
    if (strcmp(key, "executable") == 0)
        return copy_string_array(p, v, key, &job->executable, &job->executable_count);
    char field[sizeof p->err->field];
    error_member_path(field, "", key, strlen(key));
    return error_set(p->err, field, "unknown field");
}

int job_from_json(const json_t *object, struct brig_job *job, struct brig_error *err)
{
    memset(job, 0, sizeof *job);
    memset(err, 0, sizeof *err);
    if (!json_is_object(object))
        return error_set(err, "", "expected a JSON object, got %s", type_name(object));
    struct parse p = {.arena = arena_new(), .err = err};
    if (!p.arena)
        return out_of_memory(&p, "");
    job->arena = p.arena;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        if (copy_field(&p, key, value, job) < 0) {
            brig_job_free(job);
            return -1;
        }
    }
    return 0;
}

json_t *pairs_to_json(const struct brig_pair *pairs, size_t count)
{
    json_t *object = json_object();
    bool ok = object != NULL;
    for (size_t i = 0; ok && i < count; i++)
        json_put(object, pairs[i].name, json_string(pairs[i].value), &ok);
    return json_done(object, ok);
}

json_t *job_files_to_json(const struct brig_file *files, size_t count)
{
    json_t *object = json_object();
    bool ok = object != NULL;
    for (size_t i = 0; ok && i < count; i++)
        json_put(object, files[i].path,
                 json_from_bytes(files[i].content.data, files[i].content.len), &ok);
    return json_done(object, ok);
}

static json_t *limits_to_json(const struct brig_limits *limits)
{
    json_t *object = json_object();
    bool ok = object != NULL;
    for (size_t i = 0; ok && i < LIMIT_FIELD_COUNT; i++) {
        uint64_t value = *(const uint64_t *)((const char *)limits + limit_fields[i].offset);
        if (value)
            json_put(object, limit_fields[i].name, json_integer((json_int_t)value), &ok);
    }
    return json_done(object, ok);
}

static json_t *network_to_json(const struct brig_network *network)
{
    json_t *allow = json_array();
    for (size_t i = 0; allow && i < network->rule_count; i++) {
        char entry[BRIG_ALLOW_RULE_MAX + 2];
        if (net_rule_format(&network->rules[i], entry, sizeof entry) < 0 ||
            json_array_append_new(allow, json_string(entry)) < 0) {
            json_decref(allow);
            return NULL;
        }
    }
    return allow ? json_pack("{s:o}", "allow", allow) : NULL;
}

json_t *job_to_json(const struct brig_job *job)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put(o, "v", json_integer(BRIG_SCHEMA_VERSION), &ok);
    json_put_string(o, "id", job->id, &ok);
    json_put_string(o, "runtime", job->runtime, &ok);
    if (job->argv)
        json_put(o, "argv", json_string_array(job->argv, job->argv_count), &ok);
    if (job->code.data)
        json_put(o, "code", json_from_bytes(job->code.data, job->code.len), &ok);
    if (job->args_count)
        json_put(o, "args", json_string_array(job->args, job->args_count), &ok);
    if (job->stdin_data.data)
        json_put(o, "stdin", json_from_bytes(job->stdin_data.data, job->stdin_data.len), &ok);
    if (job->env_count)
        json_put(o, "env", pairs_to_json(job->env, job->env_count), &ok);
    if (job->file_count)
        json_put(o, "files", job_files_to_json(job->files, job->file_count), &ok);
    json_t *limits = limits_to_json(&job->limits);
    if (limits && json_object_size(limits) == 0)
        json_decref(limits);
    else
        json_put(o, "limits", limits, &ok);
    if (job->network.mode == BRIG_NETWORK_ALLOW)
        json_put(o, "network", network_to_json(&job->network), &ok);
    json_put_string(o, "session", job->session, &ok);
    if (job->collect_count)
        json_put(o, "collect", json_string_array(job->collect, job->collect_count), &ok);
    json_put_string(o, "reply_topic", job->reply_topic, &ok);
    if (job->stream_logs)
        json_put(o, "stream_logs", json_true(), &ok);
    if (job->metadata_count)
        json_put(o, "metadata", pairs_to_json(job->metadata, job->metadata_count), &ok);
    if (job->deadline_ms)
        json_put(o, "deadline_ms", json_integer((json_int_t)job->deadline_ms), &ok);
    json_put_string(o, "replay_of", job->replay_of, &ok);
    if (job->executable_count)
        json_put(o, "executable", json_string_array(job->executable, job->executable_count), &ok);
    return json_done(o, ok);
}
