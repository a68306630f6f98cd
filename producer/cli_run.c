/* brig run: submit a job, stream its output live, show a cell's outputs,
 * save its collected files and images, and exit as the job did. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "producer/cli_common.h"
#include "producer/cli_limits.h"
#include "producer/cli_show.h"
#include "producer/commands.h"
#include "producer/result_json.h"

/* How long the log stream may lag behind the result: log chunks and results
 * travel on different topics, so the last chunks can arrive after it. */
#define LOG_GRACE_MS 3000

static const char run_help[] =
    "usage: brig run [options] --lang LANG (-c CODE | FILE) [ARG...]\n"
    "       brig run [options] [--] PROGRAM [ARG...]\n"
    "\n"
    "Runs a job on a brig worker and waits for it: its stdout and stderr are\n"
    "streamed here as it runs, collected files are written under --out, and a\n"
    "one-line summary (status, exit code, wall and CPU time, peak memory) goes\n"
    "to stderr. A cell (a python, javascript or typescript job of a --session,\n"
    "run in the session's live interpreter) then shows its outputs in order:\n"
    "each one's text/plain (the value of a last expression, a DataFrame), or a\n"
    "line naming its MIME types; images (PNG, JPEG, GIF, WebP, SVG, PDF) and,\n"
    "where no text/plain stands for them, HTML, JSON, Markdown and LaTeX are\n"
    "saved under --out as output-<n>.<ext> with a line on stderr naming each; an\n"
    "exception as Python prints it (traceback, then Name: value), and a line\n"
    "when the cell ran in a new interpreter after earlier cells of the session\n"
    "(their variables are gone) or when the interpreter ended during it.\n"
    "\n"
    "The job:\n"
    "  -l, --lang LANG        run code with a runtime (python, javascript, sh, c...)\n"
    "  -c, --code CODE        the code; or a FILE after the options (\"-\" = stdin)\n"
    "                         without --lang, the operands are an explicit argv\n"
    "      --arg A            an argument for the program (repeatable)\n"
    "      --stdin FILE       the program's standard input (\"-\" = brig's)\n"
    "  -e, --env K=V          an environment variable; K alone passes K's value on\n"
    "  -f, --file LOCAL[:PATH]  a file for the job's directory, at PATH (default:\n"
    "                         LOCAL's name); a directory sends the regular files\n"
    "                         below it, under PATH (links and devices refused)\n"
    "      --collect GLOB     files to bring back afterwards (repeatable)\n"
    "      --allow RULE       allow network access to host[:port] (repeatable)\n"
    "      --session ID       run in a session (its jobs run in order)\n"
    "      --id ID            the job id (default: a random one)\n"
    "      --meta K=V         metadata, echoed in the result\n";

/* After the limits, which cli_limits_help() prints. */
static const char run_help_rest[] =
    "  SIZE is bytes or K, M, G (powers of 1024); T is seconds (\"2\", \"1.5s\"),\n"
    "  \"250ms\" or minutes (\"10m\"); CORES may be a fraction (\"0.5\"). A worker\n"
    "  may cap limits lower.\n"
    "Output:\n"
    "      --json             print the result as JSON instead of streaming; stdout,\n"
    "                         stderr and file contents are strings when valid UTF-8,\n"
    "                         else {\"base64\": \"...\"}; a cell's outputs are\n"
    "                         {\"kind\", \"data\": {MIME: data}}, binary types always\n"
    "                         {\"base64\": ...} (no output file is written)\n"
    "      --out DIR          where collected files and a cell's images go (default\n"
    "                         ./brig-out/<job id>)\n"
    "      --timeout T        how long to wait for the result (default 600s; 0 = forever)\n"
    "Kafka:\n"
    "      --brokers LIST     bootstrap servers (default $BRIG_BROKERS, else the\n"
    "                         embedded broker of a local brig-worker)\n"
    "      --topic-prefix P   topics P.jobs, P.results, P.logs (default\n"
    "                         $BRIG_TOPIC_PREFIX, else brig)\n"
    "      --reply-topic T    where results come back (default $BRIG_REPLY_TOPIC,\n"
    "                         else P.results); an agent's own under Kafka ACLs\n"
    "      --tenant T         sign as tenant T, for workers with --tenants (default\n"
    "                         $BRIG_TENANT); results then come on P.results.T\n"
    "      --key FILE         the tenant's private key, from brig keygen (default\n"
    "                         $BRIG_KEY)\n"
    "      --kafka-config F   librdkafka properties, KEY=VALUE a line: TLS, SASL,\n"
    "                         tuning (default $BRIG_KAFKA_CONFIG)\n"
    "  -X KEY=VALUE           one more property, after the file's; repeatable\n"
    "\n";

static void print_help(void)
{
    fputs(run_help, stdout);
    puts("The job's limits [default; range]:");
    cli_limits_help(stdout);
    fputs(run_help_rest, stdout);
    fputs(cli_exit_help, stdout);
}

/* What the live stream has shown, shared by the consumer thread (which
 * prints chunks) and the main thread (which waits for the end). */
struct live_output {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t attempt;
    size_t shown[2]; /* bytes of stdout, stderr shown for attempt */
    bool ended[2];
    bool closed; /* the result is out: late chunks are not printed */
};

static void show_chunk(void *ctx, const struct brig_log_chunk *chunk)
{
    struct live_output *live = ctx;
    size_t s = chunk->stream == BRIG_STREAM_STDERR ? 1 : 0;
    pthread_mutex_lock(&live->lock);
    if (!live->closed) {
        if (chunk->attempt != live->attempt) {
            if (live->attempt)
                fprintf(stderr,
                        "brig: the job was started again (attempt %llu); its output "
                        "starts over\n",
                        (unsigned long long)chunk->attempt);
            live->attempt = chunk->attempt;
            memset(live->shown, 0, sizeof live->shown);
            memset(live->ended, 0, sizeof live->ended);
        }
        /* A terminal that went away is no reason to stop waiting: the
         * result still comes, and the exit status with it. */
        if (write_all(s ? STDERR_FILENO : STDOUT_FILENO, chunk->data.data, chunk->data.len) == 0)
            live->shown[s] += chunk->data.len;
        live->ended[s] = live->ended[s] || chunk->eos;
        pthread_cond_broadcast(&live->changed);
    }
    pthread_mutex_unlock(&live->lock);
}

/* Ctrl-C: the first asks the workers to cancel the job, and brig run goes
 * on waiting for its answer; the second leaves at once. */
static volatile sig_atomic_t interrupts;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupts++;
}

#define LEFT_ON_INTERRUPT 2
#define WAIT_STEP_MS 100

/* brig_wait in short steps, so that Ctrl-C is acted on at once. Returns as
 * brig_wait does, or LEFT_ON_INTERRUPT. */
static int wait_interruptible(struct brig_client *client, const char *id, int64_t timeout_ms,
                              struct brig_result *result, char *err, size_t errlen)
{
    struct sigaction sa = {.sa_handler = on_interrupt}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : monotonic_ms() + timeout_ms;
    bool asked = false;
    int rc;
    for (;;) {
        int64_t left = deadline - monotonic_ms();
        rc = brig_wait(client, id, left < WAIT_STEP_MS ? (left > 0 ? left : 0) : WAIT_STEP_MS,
                       result, err, errlen);
        if (rc != BRIG_TIMED_OUT || monotonic_ms() >= deadline)
            break;
        if (interrupts >= 2) {
            rc = LEFT_ON_INTERRUPT;
            break;
        }
        if (interrupts == 1 && !asked) {
            char by[BRIG_CONTROL_BY_MAX + 1], why[512];
            cli_default_requester(by, sizeof(by));
            asked = true;
            if (brig_cancel(client, id, by, why, sizeof(why)) < 0)
                cli_error("run", "asking to cancel job %s: %s", id, why);
            else
                fprintf(stderr,
                        "brig run: cancelling job %s (Ctrl-C again to leave without "
                        "waiting)\n",
                        id);
        }
    }
    sigaction(SIGINT, &old, NULL);
    return rc;
}

static void live_init(struct live_output *live)
{
    pthread_condattr_t attr;
    memset(live, 0, sizeof *live);
    pthread_mutex_init(&live->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&live->changed, &attr);
    pthread_condattr_destroy(&attr);
}

static void live_destroy(struct live_output *live)
{
    pthread_cond_destroy(&live->changed);
    pthread_mutex_destroy(&live->lock);
}

/* Waits a little for the stream of the result's attempt to end, stops it,
 * then shows from the result whatever the stream missed. */
static void finish_live(struct live_output *live, const struct brig_result *result)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += LOG_GRACE_MS / 1000;
    pthread_mutex_lock(&live->lock);
    while (!(live->attempt == result->attempt && live->ended[0] && live->ended[1])) {
        if (pthread_cond_timedwait(&live->changed, &live->lock, &deadline) != 0)
            break;
    }
    live->closed = true;
    if (live->attempt != result->attempt)
        memset(live->shown, 0, sizeof live->shown);
    size_t shown_out = live->shown[0], shown_err = live->shown[1];
    pthread_mutex_unlock(&live->lock);
    print_outputs(result, shown_out, shown_err);
}

int cmd_run(int argc, char **argv)
{
    struct job_command_options o;
    struct brig_job job = {0};
    struct brig_client *client = NULL;
    struct brig_result result = {0};
    struct live_output live;
    char err[2048], id[BRIG_ID_SIZE];
    int rc;

    live_init(&live);
    int parsed = job_command_parse(JOB_COMMAND_RUN, argc, argv, &o, err, sizeof err);
    if (parsed != 0) {
        rc = parsed > 0 ? (print_help(), 0) : cli_usage_error("run", err);
        goto out;
    }
    cli_common_defaults(&o.common);
    if (job_options_build(&o.job, &job, err, sizeof err) < 0) {
        rc = cli_usage_error("run", err);
        goto out;
    }
    job.stream_logs = !o.json;
    struct brig_client_config config = {
        .start = BRIG_START_END,
        .on_log = o.json ? NULL : show_chunk,
        .log_ctx = &live,
    };
    rc = CLI_EXIT_SETUP;
    if (cli_client_open("run", &o.common, &config, &client) < 0)
        goto out;
    if (brig_client_logs_unavailable(client)) {
        fprintf(stderr, "brig run: no live output: %s; the output comes with the result\n",
                brig_client_logs_unavailable(client));
        job.stream_logs = false;
    }
    if (brig_submit(client, &job, id, err, sizeof err) < 0) {
        cli_error("run", "%s", err);
        goto out;
    }
    int waited = wait_interruptible(client, id, o.timeout_ms, &result, err, sizeof err);
    if (waited == LEFT_ON_INTERRUPT) {
        fprintf(stderr, "brig run: left without waiting; `brig wait %s` shows its answer\n", id);
        rc = BRIG_EXIT_CANCELLED;
        goto out;
    }
    if (waited != 0) {
        cli_error("run", "%s", err);
        if (waited == BRIG_TIMED_OUT) {
            fprintf(stderr, "brig run: is a brig-worker running? `brig wait %s` can wait on\n", id);
            rc = BRIG_EXIT_NO_ANSWER;
        }
        goto out;
    }
    if (!o.json) {
        finish_live(&live, &result);
        brig_forget(client, id);
    }
    struct show_options show = {.command = "run", .out_dir = o.out_dir, .json = o.json};
    if (cli_show_result(&show, &result) < 0)
        goto out;
    if (o.json && print_json_line(result_to_json(&result)) < 0) {
        cli_error("run", "writing the result: out of memory or stdout closed");
        goto out;
    }
    rc = result_exit_status(&result);
out:
    brig_result_free(&result);
    brig_client_free(client);
    brig_job_free(&job);
    job_command_options_free(&o);
    live_destroy(&live);
    return rc;
}
