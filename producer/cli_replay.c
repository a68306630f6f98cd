/* brig replay: run a recorded job again and say whether it did the same; a
 * cell with its session's jobs before it (replay_cells.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/audit_dbs.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/json_put.h"
#include "producer/replay_cells.h"
#include "producer/result_compare.h"
#include "producer/result_json.h"

static const char replay_help[] =
    "usage: brig replay [--audit-db PATH] [--timeout T] [--json] ID\n"
    "\n"
    "Publishes the job recorded as ID again, exactly as it was received but with\n"
    "a new id, replay_of = ID and no deadline, waits for its result and compares\n"
    "it with the original run's final result: status, exit code, signal, stdout,\n"
    "stderr and every collected file (by SHA-256). Prints REPRODUCED, or DIFFERS\n"
    "and each field that differs, then the environment both ran in (the runtime's\n"
    "root image by digest, or the host's tree, and the jail policy hash) and\n"
    "whether it changed, when the replay's worker recorded it in a store here.\n"
    "\n"
    "A cell (a job run in its session's live interpreter) depends on the jobs\n"
    "of the session before it: they are replayed too, from the session's first\n"
    "recorded job up to the cell, in order, in a new session (replay-<id>), and\n"
    "the cell's result is compared, also its exception (name and value) and its\n"
    "outputs in order (kind, and each MIME type's data by SHA-256: a matplotlib\n"
    "PNG is the same bytes run to run; an SVG or PDF carries its creation date\n"
    "unless the cell fixes it). Tracebacks, execution counts and whether the\n"
    "interpreter was fresh are not compared. The replay's session stays on its\n"
    "worker until its idle time runs out.\n"
    "\n"
    "  --audit-db PATH    where the job was recorded (default: every audit-*.db in\n"
    "                     $BRIG_DATA_DIR, else /var/lib/brig)\n"
    "  --timeout T        how long to wait for the replay (default 600s; 0 = forever)\n"
    "  --json             {\"verdict\", \"original\", \"replay\", \"differences\": [...],\n"
    "                     \"original_result\", \"replay_result\", \"original_environment\",\n"
    "                     \"replay_environment\" (null when not found), for a cell\n"
    "                     \"session_replay\": {\"original_session\", \"session\",\n"
    "                     \"incomplete\", \"jobs\": [{\"original\", \"replay\",\n"
    "                     \"original_status\", \"replay_status\"}]}}\n" CLI_COMMON_HELP "\n"
    "Exit status: 0 reproduced, 1 differs, 118 no answer, 125 brig failed, 2 usage.\n";

enum { OPT_AUDIT_DB = 1100, OPT_TIMEOUT, OPT_JSON };

struct replay_options {
    struct cli_common common;
    const char *audit_db;
    int64_t timeout_ms;
    bool json;
    const char *job_id;
};

static int parse(int argc, char **argv, struct replay_options *o, char *err, size_t errlen)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"audit-db", required_argument, NULL, OPT_AUDIT_DB},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int id;
    o->timeout_ms = CLI_RUN_TIMEOUT_MS;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (id == 'h')
            return 1;
        if (id == OPT_AUDIT_DB) {
            o->audit_db = optarg;
        } else if (id == OPT_JSON) {
            o->json = true;
        } else if (id == OPT_TIMEOUT) {
            if (cli_parse_timeout(optarg, &o->timeout_ms, err, errlen) < 0)
                return -1;
        } else if (!cli_common_option(id, optarg, &o->common)) {
            cli_option_error(id, argv, err, errlen);
            return -1;
        }
    }
    if (argc - optind != 1) {
        snprintf(err, errlen, "give the id of one recorded job");
        return -1;
    }
    o->job_id = argv[optind];
    return 0;
}

/* Where a run ran, as its attempt's record says. */
struct environment {
    bool known;
    char *image_digest; /* NULL: the host's /usr and /etc */
    char *policy_hash;
};

static void environment_of(const struct audit_attempt_record *a, struct environment *env)
{
    env->known = true;
    env->image_digest = a->image_digest ? strdup(a->image_digest) : NULL;
    env->policy_hash = a->policy_hash ? strdup(a->policy_hash) : NULL;
}

static void environment_free(struct environment *env)
{
    free(env->image_digest);
    free(env->policy_hash);
}

/* The replay's environment, from the stores the original was found in; its
 * worker recorded the attempt before it answered. Unknown when that
 * worker's store is elsewhere. */
static void replay_environment(const struct replay_options *o, const char *replay_id,
                               struct environment *env)
{
    struct audit_dbs dbs;
    struct audit_job_record *record = NULL;
    const char *db;
    char err[1024];
    if (audit_dbs_find(o->audit_db, &dbs, err, sizeof err) < 0)
        return;
    if (audit_dbs_show(&dbs, replay_id, &record, &db, err, sizeof err) > 0 &&
        audit_final_attempt(record) != NULL)
        environment_of(audit_final_attempt(record), env);
    audit_job_record_free(record);
    audit_dbs_free(&dbs);
}

static json_t *environment_json(const struct environment *env)
{
    if (!env->known)
        return json_null();
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put(o, "image_digest", env->image_digest ? json_string(env->image_digest) : json_null(),
             &ok);
    json_put(o, "policy_hash", env->policy_hash ? json_string(env->policy_hash) : json_null(), &ok);
    return json_done(o, ok);
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void print_environment(const struct environment *original, const struct environment *replay)
{
    const char *host = "the host's /usr and /etc";
    const char *image = original->image_digest ? original->image_digest : host;
    if (!replay->known) {
        printf("  environment: %s, policy %.16s (the replay's is not in the audit stores here)\n",
               image, original->policy_hash ? original->policy_hash : "-");
        return;
    }
    if (same_text(original->image_digest, replay->image_digest) &&
        same_text(original->policy_hash, replay->policy_hash)) {
        printf("  environment: %s, policy %.16s (the same)\n", image,
               original->policy_hash ? original->policy_hash : "-");
        return;
    }
    if (!same_text(original->image_digest, replay->image_digest))
        printf("  note: the image changed: %s -> %s\n", image,
               replay->image_digest ? replay->image_digest : host);
    if (!same_text(original->policy_hash, replay->policy_hash))
        printf("  note: the jail policy changed: %s -> %s\n",
               original->policy_hash ? original->policy_hash : "-",
               replay->policy_hash ? replay->policy_hash : "-");
}

static json_t *cells_json(const char *original_session, const struct cell_replay *cells)
{
    json_t *jobs = json_array();
    for (size_t i = 0; jobs && i < cells->count; i++) {
        const struct replayed_job *j = &cells->jobs[i];
        json_t *row =
            json_pack("{s:s, s:s, s:s?, s:s?}", "original", j->original, "replay", j->replay,
                      "original_status", j->original_status[0] ? j->original_status : NULL,
                      "replay_status", j->answered ? brig_status_name(j->replay_status) : NULL);
        if (json_array_append_new(jobs, row) < 0) {
            json_decref(jobs);
            jobs = NULL;
        }
    }
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "original_session", original_session, &ok);
    json_put_string(o, "session", cells->session, &ok);
    json_put(o, "incomplete", json_boolean(cells->incomplete), &ok);
    json_put(o, "jobs", jobs, &ok);
    return json_done(o, ok);
}

/* The session's replay: its size, the earlier jobs that ended otherwise
 * than they did, and a warning when its start is not in the stores. */
static void print_cells(const char *original_session, const struct cell_replay *cells)
{
    printf("  session %s replayed as %s: %zu job%s, the cell last\n", original_session,
           cells->session, cells->count, cells->count == 1 ? "" : "s");
    for (size_t i = 0; i + 1 < cells->count; i++) {
        const struct replayed_job *j = &cells->jobs[i];
        const char *now = brig_status_name(j->replay_status);
        if (j->original_status[0] && strcmp(j->original_status, now) != 0)
            printf("  note: job %s (%zu of %zu) ended %s, %s originally\n", j->original, i + 1,
                   cells->count, now, j->original_status);
    }
    if (cells->incomplete)
        printf("  note: the session's first recorded job did not start its interpreter: jobs "
               "before it are not in the audit stores here (brig audit sync may have them)\n");
}

static int report(const struct replay_options *o, const char *replay_id,
                  const struct brig_result *original, const struct brig_result *replay,
                  const struct result_difference *diffs, long n,
                  const struct environment *original_env, const struct environment *replay_env,
                  const struct cell_replay *cells)
{
    const char *verdict = n == 0 ? "REPRODUCED" : "DIFFERS";
    if (o->json) {
        json_t *list = json_array();
        for (long i = 0; list && i < n; i++) {
            json_t *d = json_pack("{s:s, s:s, s:s}", "field", diffs[i].field, "original",
                                  diffs[i].original, "replay", diffs[i].replay);
            if (d && diffs[i].detail[0])
                json_object_set_new(d, "detail", json_string(diffs[i].detail));
            if (json_array_append_new(list, d) < 0) {
                json_decref(list);
                list = NULL;
            }
        }
        json_t *out = json_object();
        bool ok = out != NULL;
        json_put(out, "verdict", json_string(verdict), &ok);
        json_put(out, "original", json_string(o->job_id), &ok);
        json_put(out, "replay", json_string(replay_id), &ok);
        json_put(out, "differences", list, &ok);
        json_put(out, "original_result", result_to_json(original), &ok);
        json_put(out, "replay_result", result_to_json(replay), &ok);
        json_put(out, "original_environment", environment_json(original_env), &ok);
        json_put(out, "replay_environment", environment_json(replay_env), &ok);
        if (cells)
            json_put(out, "session_replay", cells_json(original->session, cells), &ok);
        return print_json_line(json_done(out, ok));
    }
    bool colour = cli_colour(stdout);
    printf("%s%s%s  job %s replayed as %s\n", colour ? (n == 0 ? "\033[1;32m" : "\033[1;31m") : "",
           verdict, colour ? "\033[0m" : "", o->job_id, replay_id);
    if (cells)
        print_cells(original->session, cells);
    for (long i = 0; i < n; i++) {
        printf("  %s: %s -> %s", diffs[i].field, diffs[i].original, diffs[i].replay);
        if (diffs[i].detail[0])
            printf(" (%s)", diffs[i].detail);
        printf("\n");
    }
    if (original->runtime_version && replay->runtime_version &&
        strcmp(original->runtime_version, replay->runtime_version) != 0)
        printf("  note: the runtime changed: %s -> %s\n", original->runtime_version,
               replay->runtime_version);
    print_environment(original_env, replay_env);
    return fflush(stdout) == 0 ? 0 : -1;
}

/* The recorded job and its final result, from the audit stores. */
static int load(const struct replay_options *o, struct brig_job *job, struct brig_result *original,
                struct environment *env)
{
    struct audit_dbs dbs;
    struct audit_job_record *record = NULL;
    struct brig_error error;
    const char *db;
    char err[1024], why[sizeof error.field + sizeof error.reason + 8];
    int rc = CLI_EXIT_SETUP;
    if (audit_dbs_find(o->audit_db, &dbs, err, sizeof err) < 0) {
        cli_error("replay", "%s", err);
        return rc;
    }
    int found = audit_dbs_show(&dbs, o->job_id, &record, &db, err, sizeof err);
    if (found <= 0) {
        if (found < 0)
            cli_error("replay", "%s", err);
        else
            cli_error("replay", "no job %s in the audit store%s (%s%s)", o->job_id,
                      dbs.count > 1 ? "s" : "", dbs.paths[0], dbs.count > 1 ? ", ..." : "");
        goto out;
    }
    const struct audit_attempt_record *final = audit_final_attempt(record);
    if (!final) {
        cli_error("replay", "job %s has no finished run to compare with (in %s)", o->job_id, db);
        goto out;
    }
    if (brig_job_decode(record->raw, record->raw_len, job, &error) < 0) {
        brig_error_format(&error, why, sizeof why);
        cli_error("replay", "the recorded job %s cannot be decoded: %s", o->job_id, why);
        goto out;
    }
    if (brig_result_decode(final->result, final->result_len, original, &error) < 0) {
        brig_error_format(&error, why, sizeof why);
        cli_error("replay", "the recorded result of job %s cannot be decoded: %s", o->job_id, why);
        brig_job_free(job);
        goto out;
    }
    environment_of(final, env);
    rc = 0;
out:
    audit_job_record_free(record);
    audit_dbs_free(&dbs);
    return rc;
}

/* Publishes the job again and waits for it: 0, or as brig_wait (said). */
static int replay_job(const struct replay_options *o, struct brig_client *client,
                      struct brig_job *job, struct brig_result *replay,
                      char replay_id[BRIG_ID_SIZE])
{
    char err[1024];
    /* The same job under a new id: the old id would be taken for a
     * redelivery and answered from the store. Its deadline is long past, and
     * its reply topic may belong to a client that is gone. */
    job->id = NULL;
    job->replay_of = o->job_id;
    job->deadline_ms = 0;
    job->reply_topic = NULL;
    job->stream_logs = false;
    if (brig_submit(client, job, replay_id, err, sizeof err) < 0) {
        cli_error("replay", "%s", err);
        return -1;
    }
    int waited = brig_wait(client, replay_id, o->timeout_ms, replay, err, sizeof err);
    if (waited != 0)
        cli_error("replay", "%s", err);
    return waited;
}

static int replay_cell(const struct replay_options *o, struct brig_client *client,
                       const struct brig_result *original, struct cell_replay *cells,
                       struct brig_result *replay, char replay_id[BRIG_ID_SIZE])
{
    char err[1024];
    if (!o->json)
        fprintf(stderr,
                "brig replay: job %s is a cell of session %s: replaying the session's jobs up "
                "to it in a new session\n",
                o->job_id, original->session);
    int waited = replay_cells(client, o->audit_db, original->session, o->job_id, o->timeout_ms,
                              cells, replay, err, sizeof err);
    if (waited != 0) {
        cli_error("replay", "%s", err);
        return waited;
    }
    snprintf(replay_id, BRIG_ID_SIZE, "%s", cells->jobs[cells->count - 1].replay);
    return 0;
}

int cmd_replay(int argc, char **argv)
{
    struct replay_options o = {0};
    struct brig_job job = {0};
    struct brig_result original = {0}, replay = {0};
    struct brig_client *client = NULL;
    struct result_difference *diffs = NULL;
    struct environment original_env = {0}, replay_env = {0};
    struct cell_replay cells = {0};
    char err[1024], replay_id[BRIG_ID_SIZE];
    int parsed = parse(argc, argv, &o, err, sizeof err);
    if (parsed != 0)
        return parsed > 0 ? (fputs(replay_help, stdout), 0) : cli_usage_error("replay", err);
    cli_common_defaults(&o.common);
    int rc = load(&o, &job, &original, &original_env);
    if (rc != 0)
        return rc;

    rc = CLI_EXIT_SETUP;
    struct brig_client_config config = {.start = BRIG_START_END};
    if (cli_client_open("replay", &o.common, &config, &client) < 0)
        goto out;
    /* A cell's result is its session's doing as much as its own. */
    bool is_cell = original.has_interpreter && original.session && *original.session;
    int waited = is_cell ? replay_cell(&o, client, &original, &cells, &replay, replay_id)
                         : replay_job(&o, client, &job, &replay, replay_id);
    if (waited != 0) {
        rc = waited == BRIG_TIMED_OUT ? BRIG_EXIT_NO_ANSWER : CLI_EXIT_SETUP;
        goto out;
    }
    long n = result_compare(&original, &replay, &diffs);
    if (n < 0) {
        cli_error("replay", "comparing the results: out of memory");
        goto out;
    }
    replay_environment(&o, replay_id, &replay_env);
    if (report(&o, replay_id, &original, &replay, diffs, n, &original_env, &replay_env,
               is_cell ? &cells : NULL) < 0) {
        cli_error("replay", "writing the report failed");
        goto out;
    }
    rc = n == 0 ? 0 : 1;
out:
    free(diffs);
    cell_replay_free(&cells);
    environment_free(&original_env);
    environment_free(&replay_env);
    brig_client_free(client);
    brig_result_free(&replay);
    brig_result_free(&original);
    brig_job_free(&job);
    cli_common_free(&o.common);
    return rc;
}
