#include "producer/cli_common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/units.h"

const char cli_exit_help[] =
    "Exit status: the program's own when it ran to the end, else\n"
    "  1      a cell raised an exception (status failed, no exit code)\n"
    "  128+N  it was killed by signal N\n"
    "  119    compile error                 120  CPU time limit\n"
    "  121    memory limit (oom)            122  output limit\n"
    "  123    forbidden system call         124  wall time limit\n"
    "  125    the jail could not be built, or brig failed (e.g. broker unreachable)\n"
    "  117    the job was rejected as invalid\n"
    "  118    no answer within the timeout\n"
    "  130    the job was cancelled (brig cancel, or Ctrl-C in brig run)\n"
    "  2      bad usage\n"
    "(the codes of brig-jail, plus 117, 118 and 130)\n";

int result_exit_status(const struct brig_result *r)
{
    if (r->status == BRIG_STATUS_REJECTED)
        return BRIG_EXIT_REJECTED;
    if (r->status == BRIG_STATUS_CANCELLED)
        return BRIG_EXIT_CANCELLED;
    /* A cell that raised has no exit code, and must not read as success. */
    if (r->status == BRIG_STATUS_FAILED && !r->has_exit_code)
        return 1;
    struct jail_outcome outcome = {
        .status = r->status,
        .exit_code = r->exit_code,
        .signal = r->signal,
    };
    return cli_exit_status(&outcome);
}

void cli_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "brig %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_client_config(const char *command, const struct cli_common *common,
                      struct brig_client_config *config, char *buf, size_t len)
{
    char err[1024];
    if (brig_discover_brokers(common->brokers, buf, len, err, sizeof err) < 0) {
        cli_error(command, "%s", err);
        return -1;
    }
    config->brokers = buf;
    config->kafka_config = common->kafka_config;
    config->reply_topic = common->reply_topic;
    config->kafka_properties = common->kafka_properties;
    config->message_max_bytes = brig_discover_message_max(common->brokers);
    config->topic_prefix = common->topic_prefix;
    config->tenant = common->tenant;
    config->key_file = common->key_file;
    config->client_id = "brig-cli";
    return 0;
}

int cli_client_open(const char *command, const struct cli_common *common,
                    struct brig_client_config *config, struct brig_client **client)
{
    char brokers[1024], err[1024];
    if (cli_client_config(command, common, config, brokers, sizeof brokers) < 0)
        return -1;
    if (brig_client_new(config, client, err, sizeof err) < 0) {
        cli_error(command, "%s", err);
        return -1;
    }
    return 0;
}

bool cli_colour(FILE *stream)
{
    const char *no_colour = getenv("NO_COLOR");
    return (!no_colour || !*no_colour) && isatty(fileno(stream));
}

void print_summary(FILE *out, const struct brig_result *r, bool colour)
{
    const char *status = brig_status_name(r->status);
    const char *on = colour ? (r->status == BRIG_STATUS_OK ? "\033[32m" : "\033[1;31m") : "";
    const char *off = colour ? "\033[0m" : "";
    fprintf(out, "brig: %s%s%s", on, status ? status : "?", off);
    if (r->has_exit_code)
        fprintf(out, " · exit %d", r->exit_code);
    if (r->signal)
        fprintf(out, " · signal %d", r->signal);
    if (r->has_usage) {
        char wall[32], cpu[32], mem[32];
        units_format_duration_us(r->wall_us, wall, sizeof wall);
        units_format_duration_us(r->cpu_us, cpu, sizeof cpu);
        units_format_size(r->peak_memory_bytes, mem, sizeof mem);
        fprintf(out, " · wall %s · cpu %s · mem %s", wall, cpu, mem);
        /* Apart from wall: the run's limits do not cover the compile step. */
        if (r->has_compile_us) {
            char compile[32];
            units_format_duration_us(r->compile_us, compile, sizeof compile);
            fprintf(out, " · compile %s", compile);
        }
    }
    fprintf(out, " · job %s", r->id);
    if (r->syscall)
        fprintf(out, " · syscall %s", r->syscall);
    if (r->error)
        fprintf(out, " · %s", r->error);
    fputc('\n', out);
}

void cli_format_time(int64_t ms, char *buf, size_t len)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !localtime_r(&seconds, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
}

void cli_format_age(uint64_t ms, char *buf, size_t len)
{
    unsigned long long s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%llus", s);
    else if (s < 3600)
        snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

void print_omitted(FILE *out, const struct brig_result *r)
{
    bool over_budget = false;
    for (size_t i = 0; i < r->omitted_count; i++) {
        fprintf(out, "brig: not collected: %s: %s\n", r->files_omitted[i].path,
                r->files_omitted[i].reason);
        over_budget = over_budget || strstr(r->files_omitted[i].reason, "collect_bytes");
    }
    /* The worker speaks of the wire's field; the person typed a flag. */
    if (over_budget)
        fprintf(out, "brig: --collect-limit raises the collect_bytes budget (at most %lluM)\n",
                BRIG_COLLECT_BYTES_MAX >> 20);
}

int print_json_line(json_t *value)
{
    if (!value)
        return -1;
    int rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(value);
    if (rc < 0 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
        return -1;
    return 0;
}

void print_outputs(const struct brig_result *r, size_t stdout_from, size_t stderr_from)
{
    fflush(stdout);
    if (r->stdout_data.len > stdout_from)
        write_all(STDOUT_FILENO, r->stdout_data.data + stdout_from,
                  r->stdout_data.len - stdout_from);
    if (r->stderr_data.len > stderr_from)
        write_all(STDERR_FILENO, r->stderr_data.data + stderr_from,
                  r->stderr_data.len - stderr_from);
}

int cli_usage_error(const char *command, const char *message)
{
    cli_error(command, "%s", message);
    fprintf(stderr, "Try 'brig %s --help'.\n", command);
    return CLI_EXIT_USAGE;
}
