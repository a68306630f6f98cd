#include <stdio.h>
#include <string.h>

#include "schema/error.h"
#include "schema/read.h"
#include "schema/result_cell.h"
#include "schema/rules.h"
#include "schema/write.h"

enum result_field {
    RES_V,
    RES_ID,
    RES_ATTEMPT,
    RES_STATUS,
    RES_EXIT_CODE,
    RES_SIGNAL,
    RES_STDOUT,
    RES_STDERR,
    RES_STDOUT_TRUNCATED,
    RES_STDERR_TRUNCATED,
    RES_FILES,
    RES_FILES_OMITTED,
    RES_FILES_OMITTED_TRUNCATED,
    RES_USAGE,
    RES_RUNTIME,
    RES_WORKER_ID,
    RES_RECEIVED_MS,
    RES_STARTED_MS,
    RES_FINISHED_MS,
    RES_ERROR,
    RES_SYSCALL,
    RES_METADATA,
    RES_SESSION,
    RES_REPLAY_OF,
    RES_OUTPUTS,
    RES_OUTPUTS_TRUNCATED,
    RES_EXCEPTION,
    RES_INTERPRETER,
    RES_FIELD_COUNT
};
_Static_assert(RES_FIELD_COUNT <= MESSAGE_MAX_FIELDS, "too many result fields");

static const char *const result_fields[RES_FIELD_COUNT] = {
    [RES_V] = "v",
    [RES_ID] = "id",
    [RES_ATTEMPT] = "attempt",
    [RES_STATUS] = "status",
    [RES_EXIT_CODE] = "exit_code",
    [RES_SIGNAL] = "signal",
    [RES_STDOUT] = "stdout",
    [RES_STDERR] = "stderr",
    [RES_STDOUT_TRUNCATED] = "stdout_truncated",
    [RES_STDERR_TRUNCATED] = "stderr_truncated",
    [RES_FILES] = "files",
    [RES_FILES_OMITTED] = "files_omitted",
    [RES_FILES_OMITTED_TRUNCATED] = "files_omitted_truncated",
    [RES_USAGE] = "usage",
    [RES_RUNTIME] = "runtime",
    [RES_WORKER_ID] = "worker_id",
    [RES_RECEIVED_MS] = "received_ms",
    [RES_STARTED_MS] = "started_ms",
    [RES_FINISHED_MS] = "finished_ms",
    [RES_ERROR] = "error",
    [RES_SYSCALL] = "syscall",
    [RES_METADATA] = "metadata",
    [RES_SESSION] = "session",
    [RES_REPLAY_OF] = "replay_of",
    [RES_OUTPUTS] = "outputs",
    [RES_OUTPUTS_TRUNCATED] = "outputs_truncated",
    [RES_EXCEPTION] = "exception",
    [RES_INTERPRETER] = "interpreter",
};

static const struct text_rule status_rule = {1, 32, NULL};
static const struct text_rule omitted_path_rule = {1, BRIG_PATH_MAX, check_single_line};
static const struct text_rule omitted_reason_rule = {1, BRIG_OMITTED_REASON_MAX, check_single_line};
static const struct text_rule runtime_version_rule = {1, BRIG_RUNTIME_VERSION_MAX,
                                                      check_single_line};
static const struct text_rule error_text_rule = {1, BRIG_ERROR_TEXT_MAX, NULL};
static const struct text_rule syscall_rule = {1, BRIG_SYSCALL_NAME_MAX, check_syscall_name};

static int decode_status(struct decoder *d, const msgpack_object *o, brig_status *status)
{
    const char *name;
    if (read_required(d, o, "status") < 0 || read_text(d, o, "status", &status_rule, &name) < 0)
        return -1;
    if (!brig_status_parse(name, status))
        return error_set(d->err, "status", "unknown status: not one of the closed set");
    if (*status == BRIG_STATUS_CANCELLED && d->version < 2)
        return error_set(d->err, "status",
                         "unknown status: cancelled is a status of results of version 2");
    return 0;
}

static int decode_omitted(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    static const char *const names[] = {"path", "reason"};
    if (read_array(d, o, "files_omitted", BRIG_OMITTED_MAX) < 0)
        return -1;
    uint32_t n = o->via.array.size;
    if (n == 0)
        return 0;
    result->files_omitted = decoder_alloc(d, "files_omitted", n * sizeof *result->files_omitted);
    if (!result->files_omitted)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        struct brig_omitted_file *entry = &result->files_omitted[i];
        const msgpack_object *values[2];
        char field[sizeof d->err->field], path[sizeof field], reason[sizeof field];
        snprintf(field, sizeof field, "files_omitted[%u]", i);
        snprintf(path, sizeof path, "files_omitted[%u].path", i);
        snprintf(reason, sizeof reason, "files_omitted[%u].reason", i);
        if (read_named_map(d, &o->via.array.ptr[i], field, names, 2, values, true) < 0 ||
            read_required(d, values[0], path) < 0 ||
            read_text(d, values[0], path, &omitted_path_rule, &entry->path) < 0 ||
            read_required(d, values[1], reason) < 0 ||
            read_text(d, values[1], reason, &omitted_reason_rule, &entry->reason) < 0)
            return -1;
    }
    result->omitted_count = n;
    return 0;
}

static int decode_usage(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    static const char *const names[] = {"wall_us", "cpu_us", "peak_memory_bytes", "compile_us"};
    static const char *const fields[] = {"usage.wall_us", "usage.cpu_us", "usage.peak_memory_bytes",
                                         "usage.compile_us"};
    uint64_t *slots[] = {&result->wall_us, &result->cpu_us, &result->peak_memory_bytes,
                         &result->compile_us};
    const msgpack_object *values[4];
    if (read_named_map(d, o, "usage", names, 4, values, true) < 0)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        /* compile_us is the one optional member. */
        if (i == 3 && !values[i])
            break;
        if (read_required(d, values[i], fields[i]) < 0 ||
            read_uint(d, values[i], fields[i], 0, BRIG_UINT_MAX, slots[i]) < 0)
            return -1;
    }
    result->has_usage = true;
    result->has_compile_us = values[3] != NULL;
    return 0;
}

static int decode_runtime(struct decoder *d, const msgpack_object *o, struct brig_result *result)
{
    static const char *const names[] = {"name", "version"};
    const msgpack_object *values[2];
    if (read_named_map(d, o, "runtime", names, 2, values, true) < 0 ||
        read_required(d, values[0], "runtime.name") < 0 ||
        read_text(d, values[0], "runtime.name", &runtime_name_rule, &result->runtime_name) < 0)
        return -1;
    if (values[1] && read_text(d, values[1], "runtime.version", &runtime_version_rule,
                               &result->runtime_version) < 0)
        return -1;
    return 0;
}

static int decode_time(struct decoder *d, const msgpack_object *o, const char *field, uint64_t *out)
{
    return o ? read_uint(d, o, field, 1, BRIG_TIME_MS_MAX, out) : 0;
}

static int decode_result(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_result *r = out;
    uint64_t number;
    if (read_required(d, f[RES_ID], "id") < 0 ||
        read_text(d, f[RES_ID], "id", &id_rule, &r->id) < 0)
        return -1;
    if (read_required(d, f[RES_ATTEMPT], "attempt") < 0 ||
        read_uint(d, f[RES_ATTEMPT], "attempt", 1, BRIG_ATTEMPT_MAX, &r->attempt) < 0)
        return -1;
    if (decode_status(d, f[RES_STATUS], &r->status) < 0)
        return -1;
    if (f[RES_EXIT_CODE]) {
        if (read_uint(d, f[RES_EXIT_CODE], "exit_code", 0, BRIG_EXIT_CODE_MAX, &number) < 0)
            return -1;
        r->has_exit_code = true;
        r->exit_code = (int)number;
    }
    if (f[RES_SIGNAL]) {
        if (read_uint(d, f[RES_SIGNAL], "signal", 1, BRIG_SIGNAL_MAX, &number) < 0)
            return -1;
        r->signal = (int)number;
    }
    if (f[RES_STDOUT] &&
        read_bytes(d, f[RES_STDOUT], "stdout", BRIG_OUTPUT_MAX_BYTES, &r->stdout_data) < 0)
        return -1;
    if (f[RES_STDERR] &&
        read_bytes(d, f[RES_STDERR], "stderr", BRIG_OUTPUT_MAX_BYTES, &r->stderr_data) < 0)
        return -1;
    if (f[RES_STDOUT_TRUNCATED] &&
        read_bool(d, f[RES_STDOUT_TRUNCATED], "stdout_truncated", &r->stdout_truncated) < 0)
        return -1;
    if (f[RES_STDERR_TRUNCATED] &&
        read_bool(d, f[RES_STDERR_TRUNCATED], "stderr_truncated", &r->stderr_truncated) < 0)
        return -1;
    if (f[RES_FILES] &&
        read_files(d, f[RES_FILES], "files", BRIG_FILES_MAX, &r->files, &r->file_count) < 0)
        return -1;
    if (f[RES_FILES_OMITTED] && decode_omitted(d, f[RES_FILES_OMITTED], r) < 0)
        return -1;
    if (f[RES_FILES_OMITTED_TRUNCATED] &&
        read_bool(d, f[RES_FILES_OMITTED_TRUNCATED], "files_omitted_truncated",
                  &r->files_omitted_truncated) < 0)
        return -1;
    if (f[RES_USAGE] && decode_usage(d, f[RES_USAGE], r) < 0)
        return -1;
    if (f[RES_RUNTIME] && decode_runtime(d, f[RES_RUNTIME], r) < 0)
        return -1;
    if (f[RES_WORKER_ID] &&
        read_text(d, f[RES_WORKER_ID], "worker_id", &id_rule, &r->worker_id) < 0)
        return -1;
    if (decode_time(d, f[RES_RECEIVED_MS], "received_ms", &r->received_ms) < 0 ||
        decode_time(d, f[RES_STARTED_MS], "started_ms", &r->started_ms) < 0 ||
        decode_time(d, f[RES_FINISHED_MS], "finished_ms", &r->finished_ms) < 0)
        return -1;
    if (f[RES_ERROR] && read_text(d, f[RES_ERROR], "error", &error_text_rule, &r->error) < 0)
        return -1;
    if (f[RES_SYSCALL] && read_text(d, f[RES_SYSCALL], "syscall", &syscall_rule, &r->syscall) < 0)
        return -1;
    if (f[RES_METADATA] &&
        read_pairs(d, f[RES_METADATA], "metadata", BRIG_METADATA_MAX, &metadata_key_rule,
                   &metadata_value_rule, &r->metadata, &r->metadata_count) < 0)
        return -1;
    if (f[RES_SESSION] && read_text(d, f[RES_SESSION], "session", &session_rule, &r->session) < 0)
        return -1;
    if (f[RES_REPLAY_OF] &&
        read_text(d, f[RES_REPLAY_OF], "replay_of", &id_rule, &r->replay_of) < 0)
        return -1;
    if (f[RES_OUTPUTS] && decode_outputs(d, f[RES_OUTPUTS], r) < 0)
        return -1;
    if (f[RES_OUTPUTS_TRUNCATED] &&
        read_bool(d, f[RES_OUTPUTS_TRUNCATED], "outputs_truncated", &r->outputs_truncated) < 0)
        return -1;
    if (f[RES_EXCEPTION] && decode_exception(d, f[RES_EXCEPTION], r) < 0)
        return -1;
    if (f[RES_INTERPRETER] && decode_interpreter(d, f[RES_INTERPRETER], r) < 0)
        return -1;
    return 0;
}

static const struct message_kind result_kind = {
    .max_version = BRIG_RESULT_VERSION_MAX,
    .max_bytes = BRIG_RESULT_MAX_BYTES,
    .fields = result_fields,
    .field_count = RES_FIELD_COUNT,
    .struct_size = sizeof(struct brig_result),
    .decode = decode_result,
};

int brig_result_decode(const void *buf, size_t len, struct brig_result *out, struct brig_error *err)
{
    return decode_message(&result_kind, buf, len, out, &out->arena, err);
}

void brig_result_free(struct brig_result *result)
{
    if (result->arena)
        msgpack_zone_free(result->arena);
    memset(result, 0, sizeof *result);
}

static void encode_omitted(struct writer *w, struct map_mark *m, const struct brig_result *r)
{
    if (r->omitted_count == 0)
        return;
    write_key(w, m, "files_omitted");
    if (msgpack_pack_array(&w->pk, r->omitted_count) != 0)
        w->failed = true;
    for (size_t i = 0; i < r->omitted_count; i++) {
        struct map_mark entry;
        write_map_begin(w, &entry);
        write_text(w, &entry, "path", r->files_omitted[i].path);
        write_text(w, &entry, "reason", r->files_omitted[i].reason);
        write_map_end(w, &entry);
    }
}

int brig_result_encode(const struct brig_result *r, msgpack_sbuffer *out, struct brig_error *err)
{
    struct writer w;
    struct map_mark top, inner;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    /* Version 1 readers do not know cancelled: such a result is version 2,
     * every other stays version 1 (SCHEMA.md section 3). */
    write_uint(&w, &top, "v", r->status == BRIG_STATUS_CANCELLED ? 2 : BRIG_SCHEMA_VERSION);
    write_text(&w, &top, "id", r->id);
    write_uint(&w, &top, "attempt", r->attempt);
    write_text(&w, &top, "status", brig_status_name(r->status));
    if (r->has_exit_code)
        write_int(&w, &top, "exit_code", r->exit_code);
    if (r->signal)
        write_int(&w, &top, "signal", r->signal);
    write_bytes(&w, &top, "stdout", &r->stdout_data);
    write_bytes(&w, &top, "stderr", &r->stderr_data);
    write_true(&w, &top, "stdout_truncated", r->stdout_truncated);
    write_true(&w, &top, "stderr_truncated", r->stderr_truncated);
    write_files(&w, &top, "files", r->files, r->file_count);
    encode_omitted(&w, &top, r);
    write_true(&w, &top, "files_omitted_truncated", r->files_omitted_truncated);
    if (r->has_usage) {
        write_key(&w, &top, "usage");
        write_map_begin(&w, &inner);
        write_uint(&w, &inner, "wall_us", r->wall_us);
        write_uint(&w, &inner, "cpu_us", r->cpu_us);
        write_uint(&w, &inner, "peak_memory_bytes", r->peak_memory_bytes);
        if (r->has_compile_us)
            write_uint(&w, &inner, "compile_us", r->compile_us);
        write_map_end(&w, &inner);
    }
    if (r->runtime_name) {
        write_key(&w, &top, "runtime");
        write_map_begin(&w, &inner);
        write_text(&w, &inner, "name", r->runtime_name);
        write_text(&w, &inner, "version", r->runtime_version);
        write_map_end(&w, &inner);
    }
    write_text(&w, &top, "worker_id", r->worker_id);
    write_nonzero(&w, &top, "received_ms", r->received_ms);
    write_nonzero(&w, &top, "started_ms", r->started_ms);
    write_nonzero(&w, &top, "finished_ms", r->finished_ms);
    write_text(&w, &top, "error", r->error);
    write_text(&w, &top, "syscall", r->syscall);
    write_pairs(&w, &top, "metadata", r->metadata, r->metadata_count);
    write_text(&w, &top, "session", r->session);
    write_text(&w, &top, "replay_of", r->replay_of);
    encode_cell_fields(&w, &top, r);
    write_map_end(&w, &top);
    return writer_finish(&w, &result_kind, err);
}
