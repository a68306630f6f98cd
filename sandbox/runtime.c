#include "sandbox/runtime.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/bounds.h"
#include "schema/status.h"
#include "schema/text.h"

static uint64_t at_least(uint64_t value, uint64_t floor)
{
    return value > floor ? value : floor;
}

static void raise_to_compile_limits(struct jail_limits *limits, const struct runtime *runtime)
{
    limits->wall_ms = at_least(limits->wall_ms, runtime->compile_limits.wall_ms);
    limits->cpu_ms = at_least(limits->cpu_ms, runtime->compile_limits.cpu_ms);
    limits->memory_bytes = at_least(limits->memory_bytes, runtime->compile_limits.memory_bytes);
    limits->pids = at_least(limits->pids, runtime->compile_limits.pids);
}

/* "gcc exited with status 1", "tsc was killed by signal 9", "gcc: timeout" */
static void describe_outcome(const struct jail_outcome *outcome, const char *program, char *buf,
                             size_t len)
{
    if (outcome->status == BRIG_STATUS_FAILED)
        snprintf(buf, len, "%s exited with status %d", program, outcome->exit_code);
    else if (outcome->status == BRIG_STATUS_SIGNALED)
        snprintf(buf, len, "%s was killed by signal %d", program, outcome->signal);
    else
        snprintf(buf, len, "%s: %s%s%s", program, brig_status_name(outcome->status),
                 outcome->message[0] != '\0' ? ": " : "", outcome->message);
}

/* The version as the wire takes it: one line of valid UTF-8 without control
 * characters, at most BRIG_RUNTIME_VERSION_MAX bytes. */
static char *version_line(const char *line, size_t len)
{
    size_t bad_at;
    char *version;

    if (len > BRIG_RUNTIME_VERSION_MAX)
        len = BRIG_RUNTIME_VERSION_MAX;
    if (!utf8_valid(line, len, &bad_at))
        len = bad_at;
    version = strndup(line, len);
    for (size_t i = 0; version != NULL && i < len; i++) {
        if ((unsigned char)version[i] < 0x20 || version[i] == 0x7f)
            version[i] = ' ';
    }
    return version;
}

static int version_from_jail(struct jail_context *ctx, const struct runtime *runtime,
                             char **version, char *err, size_t errlen)
{
    struct jail_spec spec = {.argv = (const char *const *)runtime->version,
                             .image = runtime->image};
    struct jail_outcome outcome;
    size_t line_len;
    int result = -1;

    /* The version command runs the toolchain, so it gets the compile step's room. */
    jail_limits_default(&spec.limits);
    raise_to_compile_limits(&spec.limits, runtime);
    jail_run(ctx, &spec, &outcome);
    if (outcome.status != BRIG_STATUS_OK) {
        char what[320];
        describe_outcome(&outcome, runtime->version[0], what, sizeof(what));
        snprintf(err, errlen, "runtime %s: the version command failed: %s", runtime->name, what);
        goto out;
    }
    line_len = outcome.out.data != NULL ? strcspn(outcome.out.data, "\r\n") : 0;
    if (line_len == 0) {
        snprintf(err, errlen, "runtime %s: the version command (%s) printed no line on stdout",
                 runtime->name, runtime->version[0]);
        goto out;
    }
    *version = version_line(outcome.out.data, line_len);
    if (*version == NULL) {
        snprintf(err, errlen, "runtime %s: keeping its version: out of memory", runtime->name);
        goto out;
    }
    result = 0;
out:
    jail_outcome_free(&outcome);
    return result;
}

int runtime_version(struct jail_context *ctx, struct runtime *runtime, char *buf, size_t len,
                    char *err, size_t errlen)
{
    int result = 0;

    pthread_mutex_lock(&runtime->version_lock);
    if (runtime->version_text == NULL)
        result = version_from_jail(ctx, runtime, &runtime->version_text, err, errlen);
    if (result == 0)
        snprintf(buf, len, "%s", runtime->version_text);
    pthread_mutex_unlock(&runtime->version_lock);
    return result;
}

static int setup_failure(struct jail_outcome *outcome, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int setup_failure(struct jail_outcome *outcome, const char *format, ...)
{
    va_list ap;

    jail_outcome_free(outcome);
    memset(outcome, 0, sizeof(*outcome));
    outcome->status = BRIG_STATUS_SETUP_ERROR;
    va_start(ap, format);
    vsnprintf(outcome->message, sizeof(outcome->message), format, ap);
    va_end(ap);
    return -1;
}

/* Turns a failed compile step's outcome into the compile error the caller
 * sees: the diagnostics, wherever the compiler printed them, in err. */
static int compile_error(struct jail_outcome *outcome, const struct runtime *runtime)
{
    struct jail_capture *err = &outcome->err, *out = &outcome->out;
    char *merged = malloc(err->len + out->len + 1);

    if (merged == NULL)
        return setup_failure(outcome, "runtime %s: keeping the compiler's output: out of memory",
                             runtime->name);
    if (err->len > 0)
        memcpy(merged, err->data, err->len);
    if (out->len > 0)
        memcpy(merged + err->len, out->data, out->len);
    merged[err->len + out->len] = '\0';
    free(err->data);
    err->data = merged;
    err->len += out->len;
    err->truncated = err->truncated || out->truncated;
    if (out->data != NULL)
        out->data[0] = '\0';
    out->len = 0;
    out->truncated = false;
    describe_outcome(outcome, runtime->compile[0], outcome->message, sizeof(outcome->message));
    outcome->status = BRIG_STATUS_COMPILE_ERROR;
    return 0;
}

/* run, then args: a NULL-terminated list of strings that stay their owners'. */
static const char **command_line(char *const *run, const char *const *args)
{
    size_t n_run = 0, n_args = 0;
    const char **argv;

    while (run[n_run] != NULL)
        n_run++;
    while (args != NULL && args[n_args] != NULL)
        n_args++;
    argv = calloc(n_run + n_args + 1, sizeof(*argv));
    if (argv == NULL)
        return NULL;
    memcpy(argv, run, n_run * sizeof(*argv));
    if (n_args > 0)
        memcpy(argv + n_run, args, n_args * sizeof(*argv));
    return argv;
}

int runtime_table_start_warm(struct runtime_table *table, struct jail_context *ctx,
                             const char *server_path, char *err, size_t errlen)
{
    for (size_t i = 0; i < table->count; i++) {
        struct runtime *runtime = &table->runtimes[i];
        char version[BRIG_RUNTIME_VERSION_MAX + 1], why[512];
        if (runtime->warm_preload == NULL || runtime->warm != NULL)
            continue;
        if (runtime_version(ctx, runtime, version, sizeof(version), why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        if (jail_server_start_warm(ctx, server_path, (const char *const *)runtime->warm_preload,
                                   &runtime->warm, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "runtime %s: starting warm: %s", runtime->name, why);
            return -1;
        }
        if (strcmp(jail_server_version(runtime->warm), version) != 0) {
            snprintf(err, errlen,
                     "runtime %s: its warm interpreter is %s but its version command says %s",
                     runtime->name, jail_server_version(runtime->warm), version);
            jail_server_free(runtime->warm);
            runtime->warm = NULL;
            return -1;
        }
    }
    return 0;
}

static bool is_setup_failure(brig_status status)
{
    return status == BRIG_STATUS_SETUP_ERROR || status == BRIG_STATUS_INTERNAL_ERROR;
}

int runtime_run(struct jail_context *ctx, struct runtime *runtime, const char *code,
                size_t code_len, const char *const *args, const struct jail_spec *spec,
                struct runtime_outcome *out)
{
    struct jail_workspace *own_workspace = NULL;
    struct jail_spec step = *spec;
    step.image = runtime->image;
    const char **argv = NULL;
    char err[256];
    int result = -1;

    memset(out, 0, sizeof(*out));
    if (spec->workdir != NULL)
        return setup_failure(&out->jail, "runtime %s: code runs in a workspace, not a workdir",
                             runtime->name);
    if (runtime_version(ctx, runtime, out->version, sizeof(out->version), err, sizeof(err)) != 0)
        return setup_failure(&out->jail, "%s", err);
    if (step.workspace == NULL) {
        if (jail_workspace_new(ctx, spec->limits.disk_bytes, &own_workspace, err, sizeof(err)) != 0)
            return setup_failure(&out->jail, "runtime %s: %s", runtime->name, err);
        step.workspace = own_workspace;
    }
    if (jail_workspace_write_file(step.workspace, runtime->source, code, code_len, 0644, err,
                                  sizeof(err)) != 0) {
        setup_failure(&out->jail, "runtime %s: writing the code: %s", runtime->name, err);
        goto out;
    }

    if (runtime->compile != NULL) {
        struct jail_spec compile = step;
        compile.argv = (const char *const *)runtime->compile;
        compile.stdin_data = NULL;
        compile.stdin_len = 0;
        compile.on_output = NULL;
        compile.output_ctx = NULL;
        /* The compiler gets no network: only the program asked for it. */
        compile.on_network = NULL;
        compile.network_ctx = NULL;
        raise_to_compile_limits(&compile.limits, runtime);
        jail_run(ctx, &compile, &out->jail);
        if (is_setup_failure(out->jail.status))
            goto out;
        out->compiled = true;
        out->compile_wall_us = out->jail.wall_us;
        if (out->jail.status != BRIG_STATUS_OK) {
            result = compile_error(&out->jail, runtime);
            goto out;
        }
        jail_outcome_free(&out->jail);
        memset(&out->jail, 0, sizeof(out->jail));
    }

    argv = command_line(runtime->run, args);
    if (argv == NULL) {
        setup_failure(&out->jail, "runtime %s: building the command line: out of memory",
                      runtime->name);
        goto out;
    }
    step.argv = argv;
    step.warm = runtime->warm;
    result = jail_run(ctx, &step, &out->jail);
out:
    free(argv);
    if (own_workspace != NULL)
        jail_workspace_free(own_workspace);
    return result;
}
