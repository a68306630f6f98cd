#include "producer/result_json.h"

#include "producer/job_json.h"
#include "producer/json_bytes.h"
#include "producer/json_put.h"
#include "producer/mime.h"

static void put_uint(json_t *o, const char *key, uint64_t value, bool *ok)
{
    json_put(o, key, json_integer((json_int_t)value), ok);
}

static json_t *omitted_to_json(const struct brig_result *r)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < r->omitted_count; i++) {
        json_t *entry = json_pack("{s:s, s:s}", "path", r->files_omitted[i].path, "reason",
                                  r->files_omitted[i].reason);
        if (json_array_append_new(array, entry) < 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

/* A bundle as {mime: data}: text types as text (json_from_bytes), binary
 * ones always as {"base64": ...}. */
static json_t *bundle_to_json(const struct brig_output *output)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    for (size_t i = 0; ok && i < output->data_count; i++) {
        const struct brig_file *item = &output->data[i];
        const char *data = item->content.data ? item->content.data : "";
        json_put(o, item->path,
                 mime_is_text(item->path) ? json_from_bytes(data, item->content.len)
                                          : json_base64(data, item->content.len),
                 &ok);
    }
    return json_done(o, ok);
}

static json_t *outputs_to_json(const struct brig_result *r)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < r->output_count; i++) {
        json_t *output = json_object();
        bool ok = output != NULL;
        json_put_string(output, "kind", r->outputs[i].kind, &ok);
        json_put(output, "data", bundle_to_json(&r->outputs[i]), &ok);
        if (json_array_append_new(array, json_done(output, ok)) < 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

static json_t *exception_to_json(const struct brig_result *r)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "name", r->exception_name, &ok);
    json_put_string(o, "value", r->exception_value, &ok);
    json_put(o, "traceback", json_string_array(r->traceback, r->traceback_count), &ok);
    return json_done(o, ok);
}

static json_t *interpreter_to_json(const struct brig_result *r)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put(o, "started", json_boolean(r->interpreter_started), &ok);
    if (r->execution_count)
        put_uint(o, "execution_count", r->execution_count, &ok);
    json_put(o, "state_lost", json_boolean(r->state_lost), &ok);
    return json_done(o, ok);
}

json_t *result_to_json(const struct brig_result *r)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "id", r->id, &ok);
    put_uint(o, "attempt", r->attempt, &ok);
    json_put_string(o, "status", brig_status_name(r->status), &ok);
    if (r->has_exit_code)
        json_put(o, "exit_code", json_integer(r->exit_code), &ok);
    if (r->signal)
        json_put(o, "signal", json_integer(r->signal), &ok);
    json_put(o, "stdout",
             json_from_bytes(r->stdout_data.data ? r->stdout_data.data : "", r->stdout_data.len),
             &ok);
    json_put(o, "stderr",
             json_from_bytes(r->stderr_data.data ? r->stderr_data.data : "", r->stderr_data.len),
             &ok);
    if (r->stdout_truncated)
        json_put(o, "stdout_truncated", json_true(), &ok);
    if (r->stderr_truncated)
        json_put(o, "stderr_truncated", json_true(), &ok);
    if (r->file_count)
        json_put(o, "files", job_files_to_json(r->files, r->file_count), &ok);
    if (r->omitted_count)
        json_put(o, "files_omitted", omitted_to_json(r), &ok);
    if (r->has_usage) {
        json_t *usage =
            json_pack("{s:I, s:I, s:I}", "wall_us", (json_int_t)r->wall_us, "cpu_us",
                      (json_int_t)r->cpu_us, "peak_memory_bytes", (json_int_t)r->peak_memory_bytes);
        if (usage && r->has_compile_us)
            put_uint(usage, "compile_us", r->compile_us, &ok);
        json_put(o, "usage", usage, &ok);
    }
    if (r->runtime_name) {
        json_t *runtime = json_pack("{s:s}", "name", r->runtime_name);
        json_put_string(runtime, "version", r->runtime_version, &ok);
        json_put(o, "runtime", runtime, &ok);
    }
    json_put_string(o, "worker_id", r->worker_id, &ok);
    if (r->received_ms)
        put_uint(o, "received_ms", r->received_ms, &ok);
    if (r->started_ms)
        put_uint(o, "started_ms", r->started_ms, &ok);
    if (r->finished_ms)
        put_uint(o, "finished_ms", r->finished_ms, &ok);
    json_put_string(o, "error", r->error, &ok);
    json_put_string(o, "syscall", r->syscall, &ok);
    if (r->metadata_count)
        json_put(o, "metadata", pairs_to_json(r->metadata, r->metadata_count), &ok);
    json_put_string(o, "session", r->session, &ok);
    json_put_string(o, "replay_of", r->replay_of, &ok);
    if (r->output_count)
        json_put(o, "outputs", outputs_to_json(r), &ok);
    if (r->outputs_truncated)
        json_put(o, "outputs_truncated", json_true(), &ok);
    if (r->exception_name)
        json_put(o, "exception", exception_to_json(r), &ok);
    if (r->has_interpreter)
        json_put(o, "interpreter", interpreter_to_json(r), &ok);
    return json_done(o, ok);
}
