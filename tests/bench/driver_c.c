/* bench_driver_c: a long-lived libbrig client for the agent-pace harness
 * (tests/bench/agent_pace.py, which describes the driver protocol).
 *
 * One brig_client for the whole run, as an agent's tool process keeps
 * one: connected before it says ready, then per job line on stdin one
 * brig_submit + brig_wait, timed on the monotonic clock from just before
 * the submit to the moment the result is in hand, and one result line on
 * stdout, with the result's received, started and finished times and the
 * client's own around the call (wall clock, ms). Brokers and topic prefix come from BRIG_BROKERS
 * and BRIG_TOPIC_PREFIX. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "producer/brig.h"

#define WAIT_MS 120000

static int say(json_t *line)
{
    int rc = line && json_dumpf(line, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF &&
                     fflush(stdout) == 0
                 ? 0
                 : -1;
    json_decref(line);
    return rc;
}

/* One job line: {"id", "runtime", "code"}. */
static int run_one(struct brig_client *client, const char *text)
{
    json_error_t jerr;
    json_t *in = json_loads(text, 0, &jerr);
    const char *id = NULL, *runtime = NULL, *code = NULL;
    if (!in || json_unpack_ex(in, &jerr, 0, "{s:s, s:s, s:s}", "id", &id, "runtime", &runtime,
                              "code", &code) < 0) {
        fprintf(stderr, "bench_driver_c: bad job line: %s\n", jerr.text);
        json_decref(in);
        return -1;
    }
    struct brig_job job = {.id = id, .runtime = runtime, .code = {code, strlen(code)}};
    struct brig_result result;
    char err[1024], got[BRIG_ID_SIZE];
    int64_t submitted_ms = wall_clock_ms(), start_ns = (int64_t)monotonic_ns();
    int rc = brig_submit(client, &job, got, err, sizeof err);
    if (rc == 0)
        rc = brig_wait(client, got, WAIT_MS, &result, err, sizeof err);
    double client_ms = (double)((int64_t)monotonic_ns() - start_ns) / 1e6;
    int64_t answered_ms = wall_clock_ms();
    if (rc != 0) {
        fprintf(stderr, "bench_driver_c: job %s: %s\n", id, err);
        json_decref(in);
        return -1;
    }
    /* The result's own times, and the client's on the same clock, give
     * the phases of the call. */
    rc = say(json_pack("{s:s, s:f, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "id", result.id,
                       "client_ms", client_ms, "wall_us", (json_int_t)result.wall_us, "status",
                       brig_status_name(result.status), "submitted_ms", (json_int_t)submitted_ms,
                       "received_ms", (json_int_t)result.received_ms, "started_ms",
                       (json_int_t)result.started_ms, "finished_ms", (json_int_t)result.finished_ms,
                       "answered_ms", (json_int_t)answered_ms));
    brig_result_free(&result);
    json_decref(in);
    return rc;
}

int main(void)
{
    char brokers[1024], err[1024];
    if (brig_discover_brokers(NULL, brokers, sizeof brokers, err, sizeof err) < 0) {
        fprintf(stderr, "bench_driver_c: %s\n", err);
        return 1;
    }
    struct brig_client_config config = {.brokers = brokers,
                                        .topic_prefix = getenv("BRIG_TOPIC_PREFIX")};
    struct brig_client *client;
    if (brig_client_new(&config, &client, err, sizeof err) < 0) {
        fprintf(stderr, "bench_driver_c: %s\n", err);
        return 1;
    }
    int rc = say(json_pack("{s:b}", "ready", 1));
    char *line = NULL;
    size_t cap = 0;
    while (rc == 0 && getline(&line, &cap, stdin) > 0)
        rc = run_one(client, line);
    free(line);
    brig_client_free(client);
    return rc == 0 ? 0 : 1;
}
