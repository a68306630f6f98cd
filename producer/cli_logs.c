/* brig logs: a job's live output as the worker streamed it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/json_bytes.h"
#include "producer/json_put.h"

static const char logs_help[] =
    "usage: brig logs [-f] [--timeout T] [--json] ID\n"
    "\n"
    "Prints the log chunks of a job submitted with streamed logs (brig run does\n"
    "so), from the beginning of the logs topic: stdout chunks to stdout, stderr\n"
    "chunks to stderr, each stream in order and without duplicates.\n"
    "\n"
    "It fails (exit 1, saying why) when the job has no logs to show: no job,\n"
    "result or chunk with that id is on the topics; or the job was submitted\n"
    "without streamed logs (brig submit --no-logs), was rejected, or ended\n"
    "without a chunk (its result has its output: brig wait ID). A job that has\n"
    "not started, or printed nothing so far, has nothing to show yet: exit 0,\n"
    "or with -f, wait.\n"
    "\n"
    "  -f, --follow       keep reading until both streams of the job end (or its\n"
    "                     result is in and no chunk came within 3 s of it)\n"
    "  --timeout T        give up after T (default and 0: never)\n"
    "  --json             one JSON object per chunk: attempt, stream, seq, data\n"
    "                     (a string, or {\"base64\": ...}), ts_ms, eos\n" CLI_COMMON_HELP;

enum { OPT_TIMEOUT = 1100, OPT_JSON };

struct printer {
    bool json;
    bool failed;
    uint64_t attempt;
    size_t chunks;
};

static json_t *chunk_to_json(const struct brig_log_chunk *c)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put(o, "id", json_string(c->id), &ok);
    json_put(o, "attempt", json_integer((json_int_t)c->attempt), &ok);
    json_put(o, "stream", json_string(c->stream == BRIG_STREAM_STDERR ? "stderr" : "stdout"), &ok);
    json_put(o, "seq", json_integer((json_int_t)c->seq), &ok);
    json_put(o, "data", json_from_bytes(c->data.data, c->data.len), &ok);
    json_put(o, "ts_ms", json_integer((json_int_t)c->ts_ms), &ok);
    json_put(o, "eos", json_boolean(c->eos), &ok);
    return json_done(o, ok);
}

static void print_chunk(void *ctx, const struct brig_log_chunk *chunk)
{
    struct printer *p = ctx;
    p->chunks++;
    if (p->json) {
        p->failed = p->failed || print_json_line(chunk_to_json(chunk)) < 0;
        return;
    }
    if (p->attempt && chunk->attempt != p->attempt)
        fprintf(stderr, "brig: the job was started again (attempt %llu)\n",
                (unsigned long long)chunk->attempt);
    p->attempt = chunk->attempt;
    int fd = chunk->stream == BRIG_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO;
    p->failed = p->failed || write_all(fd, chunk->data.data, chunk->data.len) < 0;
}

int cmd_logs(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"follow", no_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cli_common common = {0};
    struct printer printer = {0};
    bool follow = false;
    int64_t timeout_ms = -1;
    char err[1024], brokers[1024];
    int id;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, "+:fh" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (id == 'h') {
            fputs(logs_help, stdout);
            return 0;
        }
        if (id == '?' || id == ':') {
            cli_option_error(id, argv, err, sizeof err);
            return cli_usage_error("logs", err);
        }
        if (id == 'f') {
            follow = true;
        } else if (id == OPT_JSON) {
            printer.json = true;
        } else if (id == OPT_TIMEOUT) {
            if (cli_parse_timeout(optarg, &timeout_ms, err, sizeof err) < 0)
                return cli_usage_error("logs", err);
        } else {
            cli_common_option(id, optarg, &common);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("logs", "give the id of one job");
    const char *job_id = argv[optind];
    cli_common_defaults(&common);

    struct brig_client_config config = {0};
    bool configured = cli_client_config("logs", &common, &config, brokers, sizeof brokers) == 0;
    int rc = configured ? brig_read_logs(&config, job_id, follow, timeout_ms, print_chunk, &printer,
                                         err, sizeof err)
                        : -1;
    cli_common_free(&common);
    if (!configured)
        return CLI_EXIT_SETUP;
    if (rc != 0)
        cli_error("logs", "%s", err);
    if (rc == BRIG_LOGS_NOT_STREAMED)
        fprintf(stderr, "brig logs: `brig wait %s` shows its result and output\n", job_id);
    if (rc == BRIG_LOGS_UNKNOWN_JOB || rc == BRIG_LOGS_NOT_STREAMED)
        return 1;
    if (rc == BRIG_LOGS_TIMED_OUT)
        return BRIG_EXIT_NO_ANSWER;
    if (rc < 0)
        return CLI_EXIT_SETUP;
    if (printer.failed) {
        cli_error("logs", "writing the output failed");
        return CLI_EXIT_SETUP;
    }
    if (printer.chunks == 0 && !printer.json)
        fprintf(stderr,
                "brig logs: no log chunks for job %s yet: it has not started, or printed "
                "nothing so far\n",
                job_id);
    return 0;
}
