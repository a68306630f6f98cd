#include "sandbox/outcome_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/status.h"
#include "schema/text.h"

/* Program output is arbitrary bytes, and a JSON string must be Unicode. */
static json_t *json_text_lossy(const char *data, size_t len)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    char *text;
    size_t used = 0, bad_at;
    json_t *result;

    if (len == 0)
        return json_string("");
    if (utf8_valid(data, len, &bad_at))
        return json_stringn(data, len);
    /* Each invalid byte grows to the three bytes of U+FFFD at most. */
    text = malloc(len * 3);
    if (text == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        if (utf8_valid(data + i, len - i, &bad_at))
            bad_at = len - i;
        memcpy(text + used, data + i, bad_at);
        used += bad_at;
        i += bad_at;
        if (i < len) {
            memcpy(text + used, replacement, 3);
            used += 3;
            i++;
        }
    }
    result = json_stringn(text, used);
    free(text);
    return result;
}

static json_t *json_string_or_null(const char *text)
{
    return text == NULL || text[0] == '\0' ? json_null() : json_string(text);
}

static json_t *limits_to_json(const struct jail_limits *limits)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "wall_ms",
                     (json_int_t)limits->wall_ms, "cpu_ms", (json_int_t)limits->cpu_ms,
                     "memory_bytes", (json_int_t)limits->memory_bytes, "pids",
                     (json_int_t)limits->pids, "output_bytes", (json_int_t)limits->output_bytes,
                     "fsize_bytes", (json_int_t)limits->fsize_bytes, "nofile",
                     (json_int_t)limits->nofile, "stack_bytes", (json_int_t)limits->stack_bytes,
                     "tmp_bytes", (json_int_t)limits->tmp_bytes, "disk_bytes",
                     (json_int_t)limits->disk_bytes, "cpu_millis", (json_int_t)limits->cpu_millis);
}

json_t *outcome_to_json(const struct jail_outcome *outcome,
                        const struct outcome_json_context *context)
{
    const char *status = brig_status_name(outcome->status);
    json_t *runtime = json_null();
    json_t *limits = json_null();

    if (context->runtime_name != NULL)
        runtime = json_pack("{s:s, s:o, s:o}", "name", context->runtime_name, "version",
                            json_string_or_null(context->runtime_version), "compile_us",
                            context->compiled ? json_integer((json_int_t)context->compile_us)
                                              : json_null());
    if (context->limits != NULL)
        limits = limits_to_json(context->limits);
    /* json_pack's "o" takes each reference, even when packing fails, and a
     * NULL from a failed allocation fails the whole pack. */
    return json_pack(
        "{s:s, s:i, s:i, s:I, s:I, s:I, s:o, s:I, s:b, s:o, s:I, s:b, s:o, s:o, s:o, s:o, s:o, "
        "s:o}",
        "status", status != NULL ? status : "internal_error", "exit_code", outcome->exit_code,
        "signal", outcome->signal, "wall_us", (json_int_t)outcome->wall_us, "cpu_us",
        (json_int_t)outcome->cpu_us, "peak_memory_bytes", (json_int_t)outcome->peak_memory_bytes,
        "stdout", json_text_lossy(outcome->out.data, outcome->out.len), "stdout_bytes",
        (json_int_t)outcome->out.len, "stdout_truncated", outcome->out.truncated, "stderr",
        json_text_lossy(outcome->err.data, outcome->err.len), "stderr_bytes",
        (json_int_t)outcome->err.len, "stderr_truncated", outcome->err.truncated, "syscall",
        json_string_or_null(outcome->syscall), "message", json_string_or_null(outcome->message),
        "runtime", runtime, "policy_hash", json_string_or_null(context->policy_hash),
        "cgroup_version", json_string_or_null(context->cgroup_version), "limits", limits);
}

int outcome_json_write(const char *path, const struct jail_outcome *outcome,
                       const struct outcome_json_context *context, char *err, size_t errlen)
{
    json_t *record = outcome_to_json(outcome, context);
    char *text = record != NULL ? json_dumps(record, JSON_INDENT(2)) : NULL;
    FILE *file = NULL;
    int result = -1;

    if (text == NULL) {
        snprintf(err, errlen, "building the JSON record for %s: out of memory", path);
        goto out;
    }
    file = fopen(path, "w");
    if (file == NULL) {
        snprintf(err, errlen, "opening %s for writing: %s", path, strerror(errno));
        goto out;
    }
    if (fputs(text, file) == EOF || fputc('\n', file) == EOF) {
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
        goto out;
    }
    result = 0;
out:
    if (file != NULL && fclose(file) != 0 && result == 0) {
        snprintf(err, errlen, "writing %s: %s", path, strerror(errno));
        result = -1;
    }
    free(text);
    json_decref(record);
    return result;
}
