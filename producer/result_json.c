#include "producer/result_json.h"

#include "producer/job_json.h"
#include "producer/json_bytes.h"
#include "producer/json_put.h"

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
    return json_done(o, ok);
}
