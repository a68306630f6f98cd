#include <stdio.h>
#include <string.h>

#include "schema/error.h"
#include "schema/job_limits.h"
#include "schema/network.h"
#include "schema/paths.h"
#include "schema/read.h"
#include "schema/rules.h"
#include "schema/write.h"

enum job_field {
    JOB_V,
    JOB_ID,
    JOB_RUNTIME,
    JOB_ARGV,
    JOB_CODE,
    JOB_ARGS,
    JOB_STDIN,
    JOB_ENV,
    JOB_FILES,
    JOB_LIMITS,
    JOB_NETWORK,
    JOB_SESSION,
    JOB_COLLECT,
    JOB_REPLY_TOPIC,
    JOB_STREAM_LOGS,
    JOB_METADATA,
    JOB_DEADLINE_MS,
    JOB_REPLAY_OF,
    JOB_EXECUTABLE,
    JOB_SECRETS,
    JOB_FIELD_COUNT
};
_Static_assert(JOB_FIELD_COUNT <= MESSAGE_MAX_FIELDS, "too many job fields");

static const char *const job_fields[JOB_FIELD_COUNT] = {
    [JOB_V] = "v",
    [JOB_ID] = "id",
    [JOB_RUNTIME] = "runtime",
    [JOB_ARGV] = "argv",
    [JOB_CODE] = "code",
    [JOB_ARGS] = "args",
    [JOB_STDIN] = "stdin",
    [JOB_ENV] = "env",
    [JOB_FILES] = "files",
    [JOB_LIMITS] = "limits",
    [JOB_NETWORK] = "network",
    [JOB_SESSION] = "session",
    [JOB_COLLECT] = "collect",
    [JOB_REPLY_TOPIC] = "reply_topic",
    [JOB_STREAM_LOGS] = "stream_logs",
    [JOB_METADATA] = "metadata",
    [JOB_DEADLINE_MS] = "deadline_ms",
    [JOB_REPLAY_OF] = "replay_of",
    [JOB_EXECUTABLE] = "executable",
    [JOB_SECRETS] = "secrets",
};

static const struct text_rule arg_rule = {0, BRIG_ARG_MAX_BYTES, NULL};
static const struct text_rule env_name_rule = {1, BRIG_ENV_NAME_MAX, check_env_name};
static const struct text_rule env_value_rule = {0, BRIG_ENV_VALUE_MAX, NULL};
static const struct text_rule glob_rule = {1, BRIG_GLOB_MAX, check_glob};
static const struct text_rule executable_rule = {1, BRIG_PATH_MAX, check_relative_path};

/* Rules that tie fields together, checked once each field is known good. */
static int check_program(struct decoder *d, const msgpack_object *const *f,
                         const struct brig_job *job)
{
    if (f[JOB_RUNTIME] && f[JOB_ARGV])
        return error_set(d->err, "argv", "conflict: a job has runtime or argv, not both");
    if (!f[JOB_RUNTIME] && !f[JOB_ARGV])
        return error_set(d->err, "runtime", "missing: a job needs runtime or argv");
    if (f[JOB_ARGV] && job->argv_count == 0)
        return error_set(d->err, "argv", "empty: argv needs at least the program");
    if (f[JOB_ARGV] && job->argv[0][0] == '\0')
        return error_set(d->err, "argv[0]", "empty: the program name is empty");
    if (f[JOB_RUNTIME] && !f[JOB_CODE])
        return error_set(d->err, "code", "missing: a job with a runtime needs code");
    if (f[JOB_ARGV] && f[JOB_CODE])
        return error_set(d->err, "code",
                         "conflict: code goes with runtime; an argv job brings files");
    return 0;
}

/* executable marks files the job brings, nothing else in /work. */
static int check_executable(struct decoder *d, const struct brig_job *job)
{
    for (size_t i = 0; i < job->executable_count; i++) {
        size_t k = 0;
        while (k < job->file_count && strcmp(job->files[k].path, job->executable[i]) != 0)
            k++;
        if (k == job->file_count) {
            char field[sizeof d->err->field];
            snprintf(field, sizeof field, "executable[%zu]", i);
            return error_set(d->err, field,
                             "not in files: an executable path must be a key of files");
        }
    }
    return 0;
}

static int decode_job(struct decoder *d, const msgpack_object *const *f, void *out)
{
    struct brig_job *job = out;
    if (read_required(d, f[JOB_ID], "id") < 0 ||
        read_text(d, f[JOB_ID], "id", &id_rule, &job->id) < 0)
        return -1;
    if (f[JOB_RUNTIME] &&
        read_text(d, f[JOB_RUNTIME], "runtime", &runtime_name_rule, &job->runtime) < 0)
        return -1;
    if (f[JOB_ARGV] && read_text_array(d, f[JOB_ARGV], "argv", BRIG_ARGV_MAX, &arg_rule, &job->argv,
                                       &job->argv_count) < 0)
        return -1;
    if (f[JOB_CODE] && read_bytes(d, f[JOB_CODE], "code", BRIG_CODE_MAX_BYTES, &job->code) < 0)
        return -1;
    if (f[JOB_ARGS] && read_text_array(d, f[JOB_ARGS], "args", BRIG_ARGS_MAX, &arg_rule, &job->args,
                                       &job->args_count) < 0)
        return -1;
    if (f[JOB_STDIN] &&
        read_bytes(d, f[JOB_STDIN], "stdin", BRIG_STDIN_MAX_BYTES, &job->stdin_data) < 0)
        return -1;
    if (f[JOB_ENV] && read_pairs(d, f[JOB_ENV], "env", BRIG_ENV_MAX, &env_name_rule,
                                 &env_value_rule, &job->env, &job->env_count) < 0)
        return -1;
    if (f[JOB_FILES] &&
        read_files(d, f[JOB_FILES], "files", BRIG_FILES_MAX, &job->files, &job->file_count) < 0)
        return -1;
    if (f[JOB_LIMITS] && decode_limits(d, f[JOB_LIMITS], &job->limits) < 0)
        return -1;
    if (f[JOB_NETWORK] && decode_network(d, f[JOB_NETWORK], &job->network) < 0)
        return -1;
    if (f[JOB_SESSION] && read_text(d, f[JOB_SESSION], "session", &session_rule, &job->session) < 0)
        return -1;
    if (f[JOB_COLLECT] && read_text_array(d, f[JOB_COLLECT], "collect", BRIG_COLLECT_MAX,
                                          &glob_rule, &job->collect, &job->collect_count) < 0)
        return -1;
    if (f[JOB_REPLY_TOPIC] &&
        read_text(d, f[JOB_REPLY_TOPIC], "reply_topic", &topic_rule, &job->reply_topic) < 0)
        return -1;
    if (f[JOB_STREAM_LOGS] &&
        read_bool(d, f[JOB_STREAM_LOGS], "stream_logs", &job->stream_logs) < 0)
        return -1;
    if (f[JOB_METADATA] &&
        read_pairs(d, f[JOB_METADATA], "metadata", BRIG_METADATA_MAX, &metadata_key_rule,
                   &metadata_value_rule, &job->metadata, &job->metadata_count) < 0)
        return -1;
    if (f[JOB_DEADLINE_MS] &&
        read_uint(d, f[JOB_DEADLINE_MS], "deadline_ms", 1, BRIG_TIME_MS_MAX, &job->deadline_ms) < 0)
        return -1;
    if (f[JOB_REPLAY_OF] &&
        read_text(d, f[JOB_REPLAY_OF], "replay_of", &id_rule, &job->replay_of) < 0)
        return -1;
    if (f[JOB_EXECUTABLE] &&
        read_text_array(d, f[JOB_EXECUTABLE], "executable", BRIG_FILES_MAX, &executable_rule,
                        &job->executable, &job->executable_count) < 0)
        return -1;
    if (f[JOB_SECRETS] && read_text_array(d, f[JOB_SECRETS], "secrets", BRIG_SECRETS_MAX,
                                          &env_name_rule, &job->secrets, &job->secret_count) < 0)
        return -1;
    if (check_program(d, f, job) < 0)
        return -1;
    return check_executable(d, job);
}

static const struct message_kind job_kind = {
    .max_bytes = BRIG_JOB_MAX_BYTES,
    .fields = job_fields,
    .field_count = JOB_FIELD_COUNT,
    .struct_size = sizeof(struct brig_job),
    .decode = decode_job,
};

int brig_job_decode(const void *buf, size_t len, struct brig_job *out, struct brig_error *err)
{
    return decode_message(&job_kind, buf, len, out, &out->arena, err);
}

void brig_job_free(struct brig_job *job)
{
    if (job->arena)
        msgpack_zone_free(job->arena);
    memset(job, 0, sizeof *job);
}

int brig_job_encode(const struct brig_job *job, msgpack_sbuffer *out, struct brig_error *err)
{
    struct writer w;
    struct map_mark top;
    writer_init(&w, out);
    write_map_begin(&w, &top);
    write_uint(&w, &top, "v", BRIG_SCHEMA_VERSION);
    write_text(&w, &top, "id", job->id);
    write_text(&w, &top, "runtime", job->runtime);
    write_text_array(&w, &top, "argv", job->argv, job->argv_count);
    write_bytes(&w, &top, "code", &job->code);
    write_text_array(&w, &top, "args", job->args, job->args_count);
    write_bytes(&w, &top, "stdin", &job->stdin_data);
    write_pairs(&w, &top, "env", job->env, job->env_count);
    write_files(&w, &top, "files", job->files, job->file_count);
    encode_limits(&w, &top, &job->limits);
    encode_network(&w, &top, &job->network);
    write_text(&w, &top, "session", job->session);
    write_text_array(&w, &top, "collect", job->collect, job->collect_count);
    write_text(&w, &top, "reply_topic", job->reply_topic);
    write_true(&w, &top, "stream_logs", job->stream_logs);
    write_pairs(&w, &top, "metadata", job->metadata, job->metadata_count);
    write_nonzero(&w, &top, "deadline_ms", job->deadline_ms);
    write_text(&w, &top, "replay_of", job->replay_of);
    write_text_array(&w, &top, "executable", job->executable, job->executable_count);
    write_text_array(&w, &top, "secrets", job->secrets, job->secret_count);
    write_map_end(&w, &top);
    return writer_finish(&w, &job_kind, err);
}
