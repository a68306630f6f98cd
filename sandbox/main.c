/* brig-jail: runs one program, or one piece of source code with a runtime, in
 * brig's jail from a shell. See cli_print_help() for the interface. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brig_version.h"
#include "sandbox/cli_args.h"
#include "sandbox/outcome_json.h"
#include "sandbox/runtime.h"
#include "sandbox/runtime_locate.h"
#include "sandbox/self_path.h"
#include "sandbox/sandbox.h"
#include "common/units.h"
#include "schema/status.h"
#include "common/common.h"

/* Live pass-through of the program's output, cut at the output budget so the
 * terminal sees exactly what the capture keeps. */
struct passthrough {
    uint64_t budget;
    uint64_t written;
    bool broken[3]; /* per fd: a write failed (a closed pipe), stop trying */
};

/* Writes to fd unless an earlier write to it failed (a closed pipe). */
static void pass_through(int fd, const char *data, size_t len, bool *broken)
{
    if (!*broken && write_all(fd, data, len) < 0)
        *broken = true;
}

static void pass_output(void *ctx, enum jail_stream stream, const char *data, size_t len)
{
    struct passthrough *pass = ctx;
    uint64_t room = pass->budget > pass->written ? pass->budget - pass->written : 0;
    size_t shown = len < room ? len : (size_t)room;
    int fd = stream == JAIL_STDERR ? STDERR_FILENO : STDOUT_FILENO;

    pass->written += shown;
    pass_through(fd, data, shown, &pass->broken[fd]);
}

/* The whole of path, or of stdin for "-". */
static int read_input(const char *option, const char *path, char **data, size_t *len, char *err,
                      size_t errlen)
{
    FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buffer = NULL;
    size_t used = 0, size = 0;
    int result = -1;

    if (file == NULL) {
        snprintf(err, errlen, "--%s: opening %s: %s", option, path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (used == size) {
            size_t grown = size == 0 ? 65536 : size * 2;
            char *bigger = realloc(buffer, grown + 1);
            if (bigger == NULL) {
                snprintf(err, errlen, "--%s: reading %s: out of memory", option, path);
                goto out;
            }
            buffer = bigger;
            size = grown;
        }
        size_t n = fread(buffer + used, 1, size - used, file);
        used += n;
        if (n == 0)
            break;
    }
    if (ferror(file)) {
        snprintf(err, errlen, "--%s: reading %s: %s", option, path, strerror(errno));
        goto out;
    }
    buffer[used] = '\0';
    *data = buffer;
    *len = used;
    buffer = NULL;
    result = 0;
out:
    free(buffer);
    if (file != stdin)
        fclose(file);
    return result;
}

static void list_runtimes(const struct runtime_table *table, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < table->count && used < len; i++) {
        int n =
            snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "", table->runtimes[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* --json FILE, where "-" is standard output. */
static int write_record(const char *path, const struct jail_outcome *outcome,
                        const struct outcome_json_context *context, char *err, size_t errlen)
{
    if (strcmp(path, "-") != 0)
        return outcome_json_write(path, outcome, context, err, errlen);
    json_t *record = outcome_to_json(outcome, context);
    int rc = record != NULL ? json_dumpf(record, stdout, JSON_INDENT(2)) : -1;
    json_decref(record);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
        snprintf(err, errlen, "writing the record to standard output: %s",
                 record != NULL ? strerror(errno) : "out of memory");
        return -1;
    }
    return 0;
}

/* The jail never ran the program: nothing exited, nothing was measured. */
static bool never_started(const struct jail_outcome *outcome)
{
    return outcome->status == BRIG_STATUS_SETUP_ERROR ||
           outcome->status == BRIG_STATUS_INTERNAL_ERROR;
}

static void print_summary(const struct jail_outcome *outcome, const char *runtime_name,
                          const struct runtime_outcome *run)
{
    const char *runtime_version = run->version;
    char wall[32], cpu[32], memory[32];

    if (never_started(outcome)) {
        fprintf(stderr, "brig-jail: %s: %s\n", brig_status_name(outcome->status), outcome->message);
        return;
    }
    units_format_duration_us(outcome->wall_us, wall, sizeof(wall));
    units_format_duration_us(outcome->cpu_us, cpu, sizeof(cpu));
    units_format_size(outcome->peak_memory_bytes, memory, sizeof(memory));
    fprintf(stderr, "brig-jail: %s", brig_status_name(outcome->status));
    if (outcome->signal != 0) {
        const char *name = sigabbrev_np(outcome->signal);
        fprintf(stderr, " signal=%d (SIG%s)", outcome->signal, name != NULL ? name : "?");
    } else {
        fprintf(stderr, " exit=%d", outcome->exit_code);
    }
    fprintf(stderr, " wall=%s cpu=%s peak_mem=%s", wall, cpu, memory);
    if (run->compiled) {
        char compile[32];
        units_format_duration_us(run->compile_wall_us, compile, sizeof(compile));
        fprintf(stderr, " compile=%s", compile);
    }
    if (outcome->syscall[0] != '\0')
        fprintf(stderr, " syscall=%s", outcome->syscall);
    if (runtime_name != NULL && runtime_version[0] != '\0')
        fprintf(stderr, " runtime=%s (%s)", runtime_name, runtime_version);
    else if (runtime_name != NULL)
        fprintf(stderr, " runtime=%s", runtime_name);
    if (outcome->out.truncated || outcome->err.truncated)
        fputs(" output=truncated", stderr);
    if (outcome->message[0] != '\0')
        fprintf(stderr, ": %s", outcome->message);
    fputc('\n', stderr);
}

/* A failure before any jail ran, recorded like the jail's own setup errors. */
static void setup_failed(struct jail_outcome *outcome, const char *message)
{
    /* The record keeps the message's start, as the jail does its own. */
    size_t len = strnlen(message, sizeof(outcome->message) - 1);

    outcome->status = BRIG_STATUS_SETUP_ERROR;
    memcpy(outcome->message, message, len);
    outcome->message[len] = '\0';
}

static void print_image_note(void *ctx, const char *text)
{
    fprintf(stderr, "brig-jail: runtime %s: image: %s\n", ((struct runtime *)ctx)->name, text);
}

/* The runtime's root image, unpacked by brig-image into BRIG_IMAGES_DIR,
 * or found there. brig-image is next to this program in a build tree, in
 * ../sbin once installed. */
static int open_image(struct jail_context *ctx, struct runtime *runtime, char *err, size_t errlen)
{
    const char *dir = getenv("BRIG_IMAGES_DIR");
    char builder[PATH_MAX];
    if (runtime->image_path == NULL)
        return 0;
    if (self_relative_path("brig-image", builder, sizeof(builder), err, errlen) != 0 ||
        (access(builder, X_OK) != 0 &&
         self_relative_path("../sbin/brig-image", builder, sizeof(builder), err, errlen) != 0))
        return -1;
    return runtime_open_image(runtime, ctx, builder,
                              dir != NULL && dir[0] ? dir : IMAGE_DEFAULT_DIR, print_image_note,
                              runtime, err, errlen);
}

int main(int argc, char **argv)
{
    struct jail_limits defaults;
    struct cli_options opts;
    struct jail_context_config config = {.max_jails = 1};
    struct jail_context *ctx = NULL;
    struct runtime_table *table = NULL;
    struct runtime *runtime = NULL;
    struct runtime_outcome run = {0};
    struct jail_outcome *outcome = &run.jail;
    struct passthrough pass = {0};
    struct jail_spec spec = {0};
    char *code = NULL, *input = NULL;
    size_t code_len = 0, input_len = 0;
    char err[1024], table_path[PATH_MAX];
    int status = CLI_EXIT_USAGE;

    /* A reader that goes away must not kill us before the jail is torn down. */
    signal(SIGPIPE, SIG_IGN);
    jail_limits_default(&defaults);
    if (cli_parse(argc, argv, &defaults, &opts, err, sizeof(err)) != 0) {
        fprintf(stderr, "brig-jail: %s\nTry 'brig-jail --help'.\n", err);
        goto out;
    }
    if (opts.help) {
        cli_print_help(stdout, &defaults);
        status = 0;
        goto out;
    }
    if (opts.version) {
        printf("brig-jail %s\n", BRIG_VERSION);
        status = 0;
        goto out;
    }

    if (opts.lang != NULL) {
        if (runtime_table_locate(opts.runtimes_path, table_path, sizeof(table_path), err,
                                 sizeof(err)) != 0 ||
            runtime_table_load(table_path, &table, err, sizeof(err)) != 0) {
            setup_failed(outcome, err);
            goto report;
        }
        runtime = runtime_find(table, opts.lang);
        if (runtime == NULL) {
            char names[512];
            list_runtimes(table, names, sizeof(names));
            fprintf(stderr, "brig-jail: --lang: no runtime \"%s\" in %s (it has: %s)\n", opts.lang,
                    table_path, names);
            goto out;
        }
        if (read_input("code", opts.code_path, &code, &code_len, err, sizeof(err)) != 0) {
            fprintf(stderr, "brig-jail: %s\n", err);
            goto out;
        }
    }
    if (opts.stdin_path != NULL &&
        read_input("stdin", opts.stdin_path, &input, &input_len, err, sizeof(err)) != 0) {
        fprintf(stderr, "brig-jail: %s\n", err);
        goto out;
    }

    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0 ||
        (runtime != NULL && open_image(ctx, runtime, err, sizeof(err)) != 0)) {
        setup_failed(outcome, err);
        goto report;
    }
    pass.budget = opts.limits.output_bytes;
    /* With the record on stdout, the program's stdout is in the record and
     * only there: passed through, it would make the record unreadable. */
    pass.broken[STDOUT_FILENO] = opts.json_path != NULL && strcmp(opts.json_path, "-") == 0;
    spec = (struct jail_spec){
        .argv = (const char *const *)opts.program,
        .env = (const char *const *)opts.env,
        .workdir = opts.workdir,
        .binds = opts.binds,
        .n_binds = opts.n_binds,
        .stdin_data = input,
        .stdin_len = input_len,
        .limits = opts.limits,
        .on_output = pass_output,
        .output_ctx = &pass,
    };
    if (runtime != NULL) {
        runtime_run(ctx, runtime, code, code_len, (const char *const *)opts.program, &spec, &run);
        if (outcome->status == BRIG_STATUS_COMPILE_ERROR)
            pass_through(STDERR_FILENO, outcome->err.data, outcome->err.len,
                         &pass.broken[STDERR_FILENO]);
    } else {
        jail_run(ctx, &spec, outcome);
    }

report:
    status = cli_exit_status(outcome);
    if (opts.json_path != NULL) {
        struct outcome_json_context context = {
            .runtime_name = runtime != NULL ? runtime->name : NULL,
            .runtime_version = run.version,
            .compiled = run.compiled,
            .compile_us = run.compile_wall_us,
            .policy_hash = ctx != NULL ? runtime_policy_hash(ctx, runtime) : NULL,
            .cgroup_version = ctx != NULL ? jail_cgroup_version(ctx) : NULL,
            .limits = &opts.limits,
        };
        if (write_record(opts.json_path, outcome, &context, err, sizeof(err)) != 0) {
            fprintf(stderr, "brig-jail: --json: %s\n", err);
            status = CLI_EXIT_SETUP;
        }
    }
    if (!opts.quiet || never_started(outcome))
        print_summary(outcome, runtime != NULL ? runtime->name : NULL, &run);
out:
    jail_outcome_free(outcome);
    if (ctx != NULL)
        jail_context_free(ctx);
    runtime_table_free(table);
    free(code);
    free(input);
    cli_options_free(&opts);
    return status;
}
