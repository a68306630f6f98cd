#include "test_schema_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *hex_json(const struct brig_bytes *bytes)
{
    char *hex = malloc(bytes->len * 2 + 1);
    for (size_t i = 0; i < bytes->len; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)bytes->data[i]);
    hex[bytes->len * 2] = '\0';
    json_t *value = json_string(hex);
    free(hex);
    return value;
}

static void set_text(json_t *o, const char *key, const char *text)
{
    if (text)
        json_object_set_new(o, key, json_string(text));
}

static void set_bytes(json_t *o, const char *key, const struct brig_bytes *bytes)
{
    if (bytes->data)
        json_object_set_new(o, key, hex_json(bytes));
}

static void set_uint(json_t *o, const char *key, uint64_t value)
{
    json_object_set_new(o, key, json_integer((json_int_t)value));
}

static void set_nonzero(json_t *o, const char *key, uint64_t value)
{
    if (value)
        set_uint(o, key, value);
}

static void set_true(json_t *o, const char *key, bool value)
{
    if (value)
        json_object_set_new(o, key, json_true());
}

static void set_texts(json_t *o, const char *key, const char *const *items, size_t count)
{
    if (count == 0)
        return;
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(array, json_string(items[i]));
    json_object_set_new(o, key, array);
}

static void set_pairs(json_t *o, const char *key, const struct brig_pair *pairs, size_t count)
{
    if (count == 0)
        return;
    json_t *map = json_object();
    for (size_t i = 0; i < count; i++)
        json_object_set_new(map, pairs[i].name, json_string(pairs[i].value));
    json_object_set_new(o, key, map);
}

static void set_files(json_t *o, const char *key, const struct brig_file *files, size_t count)
{
    if (count == 0)
        return;
    json_t *map = json_object();
    for (size_t i = 0; i < count; i++)
        json_object_set_new(map, files[i].path, hex_json(&files[i].content));
    json_object_set_new(o, key, map);
}

static void set_limits(json_t *o, const struct brig_limits *l)
{
    json_t *map = json_object();
    set_nonzero(map, "wall_ms", l->wall_ms);
    set_nonzero(map, "cpu_ms", l->cpu_ms);
    set_nonzero(map, "memory_bytes", l->memory_bytes);
    set_nonzero(map, "pids", l->pids);
    set_nonzero(map, "output_bytes", l->output_bytes);
    set_nonzero(map, "fsize_bytes", l->fsize_bytes);
    set_nonzero(map, "disk_bytes", l->disk_bytes);
    set_nonzero(map, "tmp_bytes", l->tmp_bytes);
    set_nonzero(map, "cpu_millis", l->cpu_millis);
    set_nonzero(map, "collect_bytes", l->collect_bytes);
    if (json_object_size(map))
        json_object_set_new(o, "limits", map);
    else
        json_decref(map);
}

/* Printed back the way SCHEMA.md writes rules, independently of the
 * library's own formatter. */
static void set_network(json_t *o, const struct brig_network *n)
{
    if (n->mode != BRIG_NETWORK_ALLOW)
        return;
    json_t *allow = json_array();
    for (size_t i = 0; i < n->rule_count; i++) {
        const struct brig_net_rule *r = &n->rules[i];
        char entry[300], port[8] = "";
        if (r->port)
            snprintf(port, sizeof port, ":%u", r->port);
        if (strchr(r->host, ':'))
            snprintf(entry, sizeof entry, "[%s]%s", r->host, port);
        else
            snprintf(entry, sizeof entry, "%s%s%s", r->wildcard ? "*." : "", r->host, port);
        json_array_append_new(allow, json_string(entry));
    }
    json_object_set_new(o, "network", json_pack("{s:o}", "allow", allow));
}

json_t *job_json(const struct brig_job *job)
{
    json_t *o = json_object();
    set_text(o, "id", job->id);
    set_text(o, "runtime", job->runtime);
    set_texts(o, "argv", job->argv, job->argv_count);
    set_bytes(o, "code", &job->code);
    set_texts(o, "args", job->args, job->args_count);
    set_bytes(o, "stdin", &job->stdin_data);
    set_pairs(o, "env", job->env, job->env_count);
    set_files(o, "files", job->files, job->file_count);
    set_limits(o, &job->limits);
    set_network(o, &job->network);
    set_text(o, "session", job->session);
    set_texts(o, "collect", job->collect, job->collect_count);
    set_text(o, "reply_topic", job->reply_topic);
    set_true(o, "stream_logs", job->stream_logs);
    set_pairs(o, "metadata", job->metadata, job->metadata_count);
    set_nonzero(o, "deadline_ms", job->deadline_ms);
    set_text(o, "replay_of", job->replay_of);
    set_texts(o, "executable", job->executable, job->executable_count);
    set_texts(o, "secrets", job->secrets, job->secret_count);
    return o;
}

json_t *result_json(const struct brig_result *r)
{
    json_t *o = json_object();
    set_text(o, "id", r->id);
    set_uint(o, "attempt", r->attempt);
    set_text(o, "status", brig_status_name(r->status));
    if (r->has_exit_code)
        set_uint(o, "exit_code", (uint64_t)r->exit_code);
    set_nonzero(o, "signal", (uint64_t)r->signal);
    set_bytes(o, "stdout", &r->stdout_data);
    set_bytes(o, "stderr", &r->stderr_data);
    set_true(o, "stdout_truncated", r->stdout_truncated);
    set_true(o, "stderr_truncated", r->stderr_truncated);
    set_files(o, "files", r->files, r->file_count);
    if (r->omitted_count) {
        json_t *omitted = json_array();
        for (size_t i = 0; i < r->omitted_count; i++)
            json_array_append_new(omitted, json_pack("{s:s,s:s}", "path", r->files_omitted[i].path,
                                                     "reason", r->files_omitted[i].reason));
        json_object_set_new(o, "files_omitted", omitted);
    }
    set_true(o, "files_omitted_truncated", r->files_omitted_truncated);
    if (r->has_usage) {
        json_t *usage =
            json_pack("{s:I,s:I,s:I}", "wall_us", (json_int_t)r->wall_us, "cpu_us",
                      (json_int_t)r->cpu_us, "peak_memory_bytes", (json_int_t)r->peak_memory_bytes);
        if (r->has_compile_us)
            set_uint(usage, "compile_us", r->compile_us);
        json_object_set_new(o, "usage", usage);
    }
    if (r->runtime_name) {
        json_t *runtime = json_pack("{s:s}", "name", r->runtime_name);
        set_text(runtime, "version", r->runtime_version);
        json_object_set_new(o, "runtime", runtime);
    }
    set_text(o, "worker_id", r->worker_id);
    set_nonzero(o, "received_ms", r->received_ms);
    set_nonzero(o, "started_ms", r->started_ms);
    set_nonzero(o, "finished_ms", r->finished_ms);
    set_text(o, "error", r->error);
    set_text(o, "syscall", r->syscall);
    set_pairs(o, "metadata", r->metadata, r->metadata_count);
    set_text(o, "session", r->session);
    set_text(o, "replay_of", r->replay_of);
    if (r->output_count) {
        json_t *outputs = json_array();
        for (size_t i = 0; i < r->output_count; i++) {
            json_t *output = json_pack("{s:s}", "kind", r->outputs[i].kind);
            set_files(output, "data", r->outputs[i].data, r->outputs[i].data_count);
            json_array_append_new(outputs, output);
        }
        json_object_set_new(o, "outputs", outputs);
    }
    set_true(o, "outputs_truncated", r->outputs_truncated);
    if (r->exception_name) {
        json_t *exception = json_pack("{s:s}", "name", r->exception_name);
        set_text(exception, "value", r->exception_value);
        set_texts(exception, "traceback", r->traceback, r->traceback_count);
        json_object_set_new(o, "exception", exception);
    }
    if (r->has_interpreter) {
        json_t *interpreter = json_pack("{s:b}", "started", r->interpreter_started);
        set_nonzero(interpreter, "execution_count", r->execution_count);
        set_true(interpreter, "state_lost", r->state_lost);
        json_object_set_new(o, "interpreter", interpreter);
    }
    return o;
}

json_t *log_chunk_json(const struct brig_log_chunk *c)
{
    json_t *o = json_object();
    set_text(o, "id", c->id);
    set_uint(o, "attempt", c->attempt);
    set_text(o, "stream", c->stream == BRIG_STREAM_STDOUT ? "stdout" : "stderr");
    set_uint(o, "seq", c->seq);
    set_bytes(o, "data", &c->data);
    set_uint(o, "ts_ms", c->ts_ms);
    set_true(o, "eos", c->eos);
    return o;
}

json_t *control_json(const struct brig_control *c)
{
    json_t *o = json_object();
    set_text(o, "op", c->op == BRIG_CONTROL_CANCEL ? "cancel" : NULL);
    set_text(o, "id", c->id);
    set_text(o, "by", c->by);
    set_uint(o, "ts_ms", c->ts_ms);
    return o;
}

json_t *dead_letter_json(const struct brig_dead_letter *l)
{
    json_t *o = json_object();
    set_bytes(o, "data", &l->data);
    set_true(o, "data_truncated", l->data_truncated);
    set_text(o, "id", l->id);
    set_text(o, "topic", l->topic);
    set_uint(o, "partition", l->partition);
    set_uint(o, "offset", l->offset);
    set_bytes(o, "key", &l->key);
    set_true(o, "key_truncated", l->key_truncated);
    set_text(o, "reason", l->reason);
    set_text(o, "field", l->field);
    set_uint(o, "received_ms", l->received_ms);
    set_text(o, "worker_id", l->worker_id);
    return o;
}

json_t *runtimes_json(const struct brig_runtimes *r)
{
    json_t *o = json_object(), *entries = json_array();
    set_text(o, "worker_id", r->worker_id);
    set_uint(o, "started_ms", r->started_ms);
    for (size_t i = 0; i < r->runtime_count; i++) {
        const struct brig_runtime_entry *e = &r->runtimes[i];
        json_t *entry = json_object();
        set_text(entry, "name", e->name);
        set_texts(entry, "aliases", e->aliases, e->alias_count);
        set_text(entry, "version", e->version);
        set_true(entry, "warm", e->warm);
        set_text(entry, "image", e->image);
        json_array_append_new(entries, entry);
    }
    json_object_set_new(o, "runtimes", entries);
    return o;
}

/* One function per kind, made from the kind's decode, encode, free and view,
 * so that every kind is driven the same way. */
#define DECODE_TO_JSON(kind)                                                                       \
    static json_t *kind##_decode_to_json(const void *buf, size_t len, int reencode,                \
                                         struct brig_error *err)                                   \
    {                                                                                              \
        struct brig_##kind decoded;                                                                \
        if (brig_##kind##_decode(buf, len, &decoded, err) < 0)                                     \
            return NULL;                                                                           \
        if (reencode) {                                                                            \
            msgpack_sbuffer sbuf;                                                                  \
            msgpack_sbuffer_init(&sbuf);                                                           \
            struct brig_##kind again;                                                              \
            int rc = brig_##kind##_encode(&decoded, &sbuf, err);                                   \
            brig_##kind##_free(&decoded);                                                          \
            if (rc == 0)                                                                           \
                rc = brig_##kind##_decode(sbuf.data, sbuf.size, &again, err);                      \
            msgpack_sbuffer_destroy(&sbuf);                                                        \
            if (rc < 0)                                                                            \
                return NULL;                                                                       \
            decoded = again;                                                                       \
        }                                                                                          \
        json_t *view = kind##_json(&decoded);                                                      \
        brig_##kind##_free(&decoded);                                                              \
        return view;                                                                               \
    }

DECODE_TO_JSON(job)
DECODE_TO_JSON(result)
DECODE_TO_JSON(log_chunk)
DECODE_TO_JSON(dead_letter)
DECODE_TO_JSON(control)
DECODE_TO_JSON(runtimes)

json_t *decode_to_json(const char *kind, const void *buf, size_t len, int reencode,
                       struct brig_error *err)
{
    if (strcmp(kind, "job") == 0)
        return job_decode_to_json(buf, len, reencode, err);
    if (strcmp(kind, "result") == 0)
        return result_decode_to_json(buf, len, reencode, err);
    if (strcmp(kind, "log_chunk") == 0)
        return log_chunk_decode_to_json(buf, len, reencode, err);
    if (strcmp(kind, "dead_letter") == 0)
        return dead_letter_decode_to_json(buf, len, reencode, err);
    if (strcmp(kind, "control") == 0)
        return control_decode_to_json(buf, len, reencode, err);
    if (strcmp(kind, "runtimes") == 0)
        return runtimes_decode_to_json(buf, len, reencode, err);
    snprintf(err->field, sizeof err->field, "%s", "");
    snprintf(err->reason, sizeof err->reason, "test: unknown kind %s", kind);
    return NULL;
}

const char *vectors_dir(void)
{
    const char *dir = getenv("BRIG_SCHEMA_VECTORS");
    return dir && *dir ? dir : "schema/vectors";
}

char *read_whole_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long size;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)size + 1);
        if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return buf;
}
