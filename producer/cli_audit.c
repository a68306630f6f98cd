/* brig audit ls / show: what the workers recorded in their audit stores. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "producer/audit_dbs.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/job_json.h"
#include "producer/json_put.h"
#include "producer/result_json.h"
#include "common/units.h"

static const char audit_help[] =
    "usage: brig audit ls [--since DURATION] [--status S] [--lang L] [--limit N] [--json]\n"
    "       brig audit show ID [--json]\n"
    "       brig audit sync [--out DB] [Kafka options]   (brig audit sync --help)\n"
    "\n"
    "Lists the jobs the workers recorded, newest first, with their latest attempt\n"
    "(ls), or everything recorded about one job: the job itself, each attempt\n"
    "with its outcome, usage, runtime version, jail policy hash and kernel, and\n"
    "the result it published (show), or fetches every worker's records from the\n"
    "audit topic into fleet.db (sync).\n"
    "\n"
    "  --audit-db PATH    the store to read (default: every audit-*.db in\n"
    "                     $BRIG_DATA_DIR, else /var/lib/brig, then fleet.db there;\n"
    "                     a job in several is shown from the one with the most of it)\n"
    "  --since DURATION   only jobs recorded in the last DURATION (\"30m\", \"2h\", \"7d\")\n"
    "  --status S         only jobs whose latest attempt ended in status S (ok,\n"
    "                     failed, timeout, oom, seccomp, rejected...)\n"
    "  --lang L           only jobs for runtime L\n"
    "  --tenant T         only jobs signed by tenant T (workers with --tenants)\n"
    "  --limit N          at most N jobs (default 50; 0 = all)\n"
    "  --json             ls: a JSON array; show: a JSON object, binary data as\n"
    "                     strings when valid UTF-8, else {\"base64\": \"...\"}\n";

enum { OPT_AUDIT_DB = 1100, OPT_SINCE, OPT_STATUS, OPT_LANG, OPT_TENANT, OPT_LIMIT, OPT_JSON };

struct audit_options {
    const char *audit_db;
    struct audit_filter filter;
    bool json;
};

/* ---- ls ---- */

struct listed_job {
    char *job_id, *runtime, *session, *replay_of, *state, *status, *worker_id, *tenant;
    const char *db;
    size_t db_index;
    int64_t created_ms, attempts, wall_us;
    int exit_code, signal;
};

struct listing {
    struct listed_job *jobs;
    size_t count, cap;
    const char *db;
    size_t db_index;
    bool failed;
};

static char *copy_or_null(const char *text, bool *failed)
{
    char *copy = text ? strdup(text) : NULL;
    if (text && !copy)
        *failed = true;
    return copy;
}

static int collect_row(void *ctx, const struct audit_list_row *row)
{
    struct listing *l = ctx;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct listed_job *jobs = realloc(l->jobs, cap * sizeof *jobs);
        if (!jobs) {
            l->failed = true;
            return 1;
        }
        l->jobs = jobs;
        l->cap = cap;
    }
    struct listed_job *j = &l->jobs[l->count++];
    *j = (struct listed_job){
        .job_id = copy_or_null(row->job_id, &l->failed),
        .runtime = copy_or_null(row->runtime, &l->failed),
        .session = copy_or_null(row->session, &l->failed),
        .replay_of = copy_or_null(row->replay_of, &l->failed),
        .state = copy_or_null(row->state, &l->failed),
        .status = copy_or_null(row->status, &l->failed),
        .worker_id = copy_or_null(row->worker_id, &l->failed),
        .tenant = copy_or_null(row->tenant, &l->failed),
        .db = l->db,
        .db_index = l->db_index,
        .created_ms = row->created_ms,
        .attempts = row->attempts,
        .wall_us = row->wall_us,
        .exit_code = row->exit_code,
        .signal = row->signal,
    };
    return l->failed;
}

static void listed_job_free(struct listed_job *j)
{
    free(j->job_id);
    free(j->runtime);
    free(j->tenant);
    free(j->session);
    free(j->replay_of);
    free(j->state);
    free(j->status);
    free(j->worker_id);
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->count; i++)
        listed_job_free(&l->jobs[i]);
    free(l->jobs);
}

static int newest_first(const void *a, const void *b)
{
    const struct listed_job *x = a, *y = b;
    if (x->created_ms != y->created_ms)
        return x->created_ms < y->created_ms ? 1 : -1;
    return strcmp(y->job_id ? y->job_id : "", x->job_id ? x->job_id : "");
}

/* A job's rows together, the one to keep first: the most attempts, then
 * the earlier store. */
static int by_job_best_first(const void *a, const void *b)
{
    const struct listed_job *x = a, *y = b;
    int c = strcmp(x->job_id ? x->job_id : "", y->job_id ? y->job_id : "");
    if (c != 0)
        return c;
    if (x->attempts != y->attempts)
        return x->attempts > y->attempts ? -1 : 1;
    return x->db_index < y->db_index ? -1 : x->db_index > y->db_index;
}

/* One row per job: a job several stores recorded (a local store and the
 * fleet store, or two workers' stores) is listed from the one with the
 * most of it. */
static void keep_one_per_job(struct listing *l)
{
    size_t kept = 0;
    qsort(l->jobs, l->count, sizeof *l->jobs, by_job_best_first);
    for (size_t i = 0; i < l->count; i++) {
        struct listed_job *j = &l->jobs[i];
        if (kept > 0 && strcmp(l->jobs[kept - 1].job_id ? l->jobs[kept - 1].job_id : "",
                               j->job_id ? j->job_id : "") == 0) {
            listed_job_free(j);
            continue;
        }
        l->jobs[kept++] = *j;
    }
    l->count = kept;
}

static json_t *listed_to_json(const struct listed_job *j)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "job_id", j->job_id, &ok);
    json_put(o, "created_ms", json_integer(j->created_ms), &ok);
    json_put(o, "runtime", j->runtime ? json_string(j->runtime) : json_null(), &ok);
    json_put_string(o, "session", j->session, &ok);
    json_put_string(o, "replay_of", j->replay_of, &ok);
    json_put_string(o, "tenant", j->tenant, &ok);
    json_put(o, "attempts", json_integer(j->attempts), &ok);
    json_put(o, "state", j->state ? json_string(j->state) : json_null(), &ok);
    json_put(o, "status", j->status ? json_string(j->status) : json_null(), &ok);
    json_put(o, "exit_code", j->exit_code >= 0 ? json_integer(j->exit_code) : json_null(), &ok);
    if (j->signal)
        json_put(o, "signal", json_integer(j->signal), &ok);
    json_put(o, "wall_us", j->wall_us >= 0 ? json_integer(j->wall_us) : json_null(), &ok);
    json_put_string(o, "worker_id", j->worker_id, &ok);
    json_put_string(o, "audit_db", j->db, &ok);
    return json_done(o, ok);
}

static int print_listing(const struct listing *l, size_t shown, bool json)
{
    if (json) {
        json_t *array = json_array();
        for (size_t i = 0; array && i < shown; i++) {
            if (json_array_append_new(array, listed_to_json(&l->jobs[i])) < 0) {
                json_decref(array);
                array = NULL;
            }
        }
        return print_json_line(array);
    }
    printf("%-24s  %-19s  %-10s  %-12s  %4s  %9s  %5s  %s\n", "JOB", "CREATED", "RUNTIME", "STATUS",
           "EXIT", "WALL", "TRIES", "WORKER");
    for (size_t i = 0; i < shown; i++) {
        const struct listed_job *j = &l->jobs[i];
        char created[32], exit_code[16], wall[32];
        cli_format_time(j->created_ms, created, sizeof created);
        if (j->exit_code >= 0)
            snprintf(exit_code, sizeof exit_code, "%d", j->exit_code);
        else if (j->signal)
            snprintf(exit_code, sizeof exit_code, "sig%d", j->signal);
        else
            snprintf(exit_code, sizeof exit_code, "-");
        if (j->wall_us >= 0)
            units_format_duration_us((uint64_t)j->wall_us, wall, sizeof wall);
        else
            snprintf(wall, sizeof wall, "-");
        printf("%-24s  %-19s  %-10s  %-12s  %4s  %9s  %5lld  %s\n", j->job_id, created,
               j->runtime ? j->runtime : "(argv)",
               j->status  ? j->status
               : j->state ? j->state
                          : "queued",
               exit_code, wall, (long long)j->attempts, j->worker_id ? j->worker_id : "-");
    }
    return fflush(stdout) == 0 ? 0 : -1;
}

static int audit_ls(const struct audit_options *o, const struct audit_dbs *dbs)
{
    struct listing listing = {0};
    char err[1024];
    int rc = CLI_EXIT_SETUP;
    for (size_t i = 0; i < dbs->count; i++) {
        listing.db = dbs->paths[i];
        listing.db_index = i;
        if (audit_list(dbs->paths[i], &o->filter, collect_row, &listing, err, sizeof err) < 0) {
            cli_error("audit", "%s", err);
            goto out;
        }
        if (listing.failed) {
            cli_error("audit", "listing %s: %s", dbs->paths[i], strerror(ENOMEM));
            goto out;
        }
    }
    keep_one_per_job(&listing);
    qsort(listing.jobs, listing.count, sizeof *listing.jobs, newest_first);
    size_t shown =
        o->filter.limit && listing.count > o->filter.limit ? o->filter.limit : listing.count;
    if (print_listing(&listing, shown, o->json) < 0) {
        cli_error("audit", "writing the listing failed");
        goto out;
    }
    rc = 0;
out:
    listing_free(&listing);
    return rc;
}

/* ---- show ---- */

static json_t *int_or_null(int64_t value)
{
    return value >= 0 ? json_integer(value) : json_null();
}

static json_t *decoded_result_json(const void *raw, size_t len)
{
    struct brig_result result;
    struct brig_error error;
    if (!raw)
        return json_null();
    if (brig_result_decode(raw, len, &result, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        return json_pack("{s:s}", "undecodable", why);
    }
    json_t *json = result_to_json(&result);
    brig_result_free(&result);
    return json;
}

static json_t *attempt_to_json(const struct audit_attempt_record *a)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put(o, "attempt", json_integer(a->number), &ok);
    json_put_string(o, "state", a->state, &ok);
    json_put_string(o, "worker_id", a->worker_id, &ok);
    json_put(o, "started_ms", int_or_null(a->started_ms), &ok);
    json_put(o, "finished_ms", int_or_null(a->finished_ms), &ok);
    json_put(o, "status", a->status ? json_string(a->status) : json_null(), &ok);
    json_put(o, "exit_code", a->exit_code >= 0 ? json_integer(a->exit_code) : json_null(), &ok);
    if (a->signal)
        json_put(o, "signal", json_integer(a->signal), &ok);
    json_put(o, "wall_us", int_or_null(a->wall_us), &ok);
    json_put(o, "cpu_us", int_or_null(a->cpu_us), &ok);
    json_put(o, "peak_memory_bytes", int_or_null(a->peak_memory_bytes), &ok);
    json_put_string(o, "runtime_name", a->runtime_name, &ok);
    json_put_string(o, "runtime_version", a->runtime_version, &ok);
    json_put_string(o, "policy_hash", a->policy_hash, &ok);
    json_put_string(o, "image_digest", a->image_digest, &ok);
    json_put_string(o, "kernel", a->kernel, &ok);
    json_put_string(o, "error", a->error, &ok);
    json_put(o, "result", decoded_result_json(a->result, a->result_len), &ok);
    return json_done(o, ok);
}

static json_t *record_to_json(const struct audit_job_record *r, const struct brig_job *job,
                              const char *job_error, const char *db)
{
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "job_id", r->job_id, &ok);
    json_put_string(o, "audit_db", db, &ok);
    json_put(o, "created_ms", json_integer(r->created_ms), &ok);
    if (r->message_id >= 0)
        json_put(o, "message",
                 json_pack("{s:s?, s:i, s:I, s:I}", "topic", r->topic, "partition",
                           (int)r->partition, "offset", (json_int_t)r->offset, "received_ms",
                           (json_int_t)r->received_ms),
                 &ok);
    if (job)
        json_put(o, "job", job_to_json(job), &ok);
    else
        json_put(o, "job_error", json_string(job_error), &ok);
    json_t *attempts = json_array();
    for (size_t i = 0; attempts && i < r->n_attempts; i++) {
        if (json_array_append_new(attempts, attempt_to_json(&r->attempts[i])) < 0)
            ok = false;
    }
    json_put(o, "attempts", attempts, &ok);
    json_t *redeliveries = json_array();
    for (size_t i = 0; redeliveries && i < r->n_redeliveries; i++) {
        const struct audit_redelivery_record *d = &r->redeliveries[i];
        json_t *row = json_pack("{s:I, s:s?, s:I}", "answered_with", (json_int_t)d->answered_with,
                                "worker_id", d->worker_id, "ts_ms", (json_int_t)d->ts_ms);
        if (row && d->message_id >= 0)
            json_put(row, "message_id", json_integer(d->message_id), &ok);
        if (json_array_append_new(redeliveries, row) < 0)
            ok = false;
    }
    json_put(o, "redeliveries", redeliveries, &ok);
    return json_done(o, ok);
}

/* One line of text from data for a glance: its first line, shortened. */
static void preview(const struct brig_bytes *data, char *buf, size_t len)
{
    size_t n = 0;
    while (n < data->len && n + 4 < len && data->data[n] != '\n' &&
           (unsigned char)data->data[n] >= 0x20)
        n++;
    snprintf(buf, len, "%.*s%s", (int)n, data->data, n < data->len ? " ..." : "");
}

static void print_job(const struct brig_job *job)
{
    char text[80];
    if (job->runtime) {
        preview(&job->code, text, sizeof text);
        printf("  runtime    %s\n  code       %zu bytes: %s\n", job->runtime, job->code.len, text);
    } else {
        printf("  argv      ");
        for (size_t i = 0; i < job->argv_count; i++)
            printf(" %s", job->argv[i]);
        printf("\n");
    }
    for (size_t i = 0; i < job->args_count; i++)
        printf("  arg        %s\n", job->args[i]);
    if (job->stdin_data.data)
        printf("  stdin      %zu bytes\n", job->stdin_data.len);
    for (size_t i = 0; i < job->env_count; i++)
        printf("  env        %s=%s\n", job->env[i].name, job->env[i].value);
    for (size_t i = 0; i < job->file_count; i++)
        printf("  file       %s (%zu bytes)\n", job->files[i].path, job->files[i].content.len);
    for (size_t i = 0; i < job->collect_count; i++)
        printf("  collect    %s\n", job->collect[i]);
    struct brig_limits limits;
    brig_limits_resolve(&job->limits, &limits);
    char mem[32];
    units_format_size(limits.memory_bytes, mem, sizeof mem);
    printf("  limits     wall %llums, cpu %llums, memory %s, pids %llu%s\n",
           (unsigned long long)limits.wall_ms, (unsigned long long)limits.cpu_ms, mem,
           (unsigned long long)limits.pids,
           job->network.mode == BRIG_NETWORK_ALLOW ? ", network allow-list" : "");
    if (job->session && *job->session)
        printf("  session    %s\n", job->session);
    if (job->replay_of)
        printf("  replay of  %s\n", job->replay_of);
}

static void print_attempt(const struct audit_attempt_record *a)
{
    char started[32], finished[32];
    struct brig_result result;
    struct brig_error error;
    bool has_result =
        a->result && brig_result_decode(a->result, a->result_len, &result, &error) == 0;
    cli_format_time(a->started_ms, started, sizeof started);
    cli_format_time(a->finished_ms, finished, sizeof finished);
    printf("attempt %lld  %s", (long long)a->number, a->state ? a->state : "?");
    if (a->status)
        printf("  %s", a->status);
    if (a->exit_code >= 0)
        printf("  exit %d", a->exit_code);
    if (a->signal)
        printf("  signal %d", a->signal);
    printf("\n  worker     %s\n  started    %s\n  finished   %s\n",
           a->worker_id ? a->worker_id : "-", started, finished);
    if (a->wall_us >= 0) {
        char wall[32], cpu[32], mem[32];
        units_format_duration_us((uint64_t)a->wall_us, wall, sizeof wall);
        units_format_duration_us(a->cpu_us >= 0 ? (uint64_t)a->cpu_us : 0, cpu, sizeof cpu);
        units_format_size(a->peak_memory_bytes >= 0 ? (uint64_t)a->peak_memory_bytes : 0, mem,
                          sizeof mem);
        printf("  usage      wall %s, cpu %s, peak memory %s\n", wall, cpu, mem);
    }
    /* What ran is what the published result says: the job may have named
     * the runtime by an alias ("ts"), and the version is learnt during the
     * run. The attempt's record stands in when there is no result. */
    bool from_result = has_result && result.runtime_name;
    const char *name = from_result ? result.runtime_name : a->runtime_name;
    const char *version =
        from_result && result.runtime_version ? result.runtime_version : a->runtime_version;
    if (name)
        printf("  runtime    %s %s\n", name, version ? version : "(version unknown)");
    printf("  policy     %s\n", a->policy_hash ? a->policy_hash : "-");
    printf("  image      %s\n", a->image_digest ? a->image_digest : "- (the host's /usr and /etc)");
    if (a->kernel)
        printf("  kernel     %s\n", a->kernel);
    if (a->error)
        printf("  error      %s\n", a->error);
    if (has_result) {
        char out[64], err_size[64];
        units_format_size(result.stdout_data.len, out, sizeof out);
        units_format_size(result.stderr_data.len, err_size, sizeof err_size);
        printf("  result     stdout %s, stderr %s, %zu collected file%s\n", out, err_size,
               result.file_count, result.file_count == 1 ? "" : "s");
        brig_result_free(&result);
    }
}

static int audit_show_job(const struct audit_options *o, const struct audit_dbs *dbs,
                          const char *job_id)
{
    struct audit_job_record *record = NULL;
    struct brig_job job;
    struct brig_error error;
    const char *db = NULL;
    char err[1024], why[sizeof error.field + sizeof error.reason + 8] = "";
    int found = audit_dbs_show(dbs, job_id, &record, &db, err, sizeof err);
    if (found < 0) {
        cli_error("audit", "%s", err);
        return CLI_EXIT_SETUP;
    }
    if (found == 0) {
        cli_error("audit", "no job %s in %s%s", job_id, dbs->paths[0],
                  dbs->count > 1 ? " or the other audit stores" : "");
        return 1;
    }
    bool decoded = brig_job_decode(record->raw, record->raw_len, &job, &error) == 0;
    if (!decoded)
        brig_error_format(&error, why, sizeof why);
    int rc = 0;
    if (o->json) {
        if (print_json_line(record_to_json(record, decoded ? &job : NULL, why, db)) < 0) {
            cli_error("audit", "writing the record failed");
            rc = CLI_EXIT_SETUP;
        }
    } else {
        char created[32];
        cli_format_time(record->created_ms, created, sizeof created);
        printf("job %s\n  store      %s\n  created    %s\n", record->job_id, db, created);
        if (record->message_id >= 0)
            printf("  message    %s[%d]@%lld\n", record->topic ? record->topic : "?",
                   (int)record->partition, (long long)record->offset);
        if (decoded)
            print_job(&job);
        else
            printf("  job        cannot be decoded: %s\n", why);
        for (size_t i = 0; i < record->n_attempts; i++)
            print_attempt(&record->attempts[i]);
        if (record->n_attempts == 0)
            printf("no attempt yet\n");
        for (size_t i = 0; i < record->n_redeliveries; i++) {
            char when[32];
            cli_format_time(record->redeliveries[i].ts_ms, when, sizeof when);
            printf("delivered again %s, answered with attempt row %lld by %s\n", when,
                   (long long)record->redeliveries[i].answered_with,
                   record->redeliveries[i].worker_id ? record->redeliveries[i].worker_id : "?");
        }
    }
    if (decoded)
        brig_job_free(&job);
    audit_job_record_free(record);
    return rc;
}

/* ---- options ---- */

static int parse(int argc, char **argv, struct audit_options *o, char *err, size_t errlen)
{
    static const struct option options[] = {
        {"audit-db", required_argument, NULL, OPT_AUDIT_DB},
        {"since", required_argument, NULL, OPT_SINCE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"lang", required_argument, NULL, OPT_LANG},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    uint64_t value;
    brig_status status;
    char why[256];
    int id;
    o->filter.limit = 50;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (id) {
        case 'h':
            return 1;
        case OPT_AUDIT_DB:
            o->audit_db = optarg;
            break;
        case OPT_SINCE:
            if (cli_parse_duration_ms(optarg, &value, why, sizeof why) < 0) {
                snprintf(err, errlen, "--since: %s", why);
                return -1;
            }
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
            o->filter.since_ms = value >= (uint64_t)now_ms ? 1 : now_ms - (int64_t)value;
            break;
        case OPT_STATUS:
            if (!brig_status_parse(optarg, &status)) {
                char names[256] = "";
                for (int i = 0; i < BRIG_STATUS_COUNT; i++)
                    snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                             i ? ", " : "", brig_status_name((brig_status)i));
                snprintf(err, errlen, "--status %s: not a status (%s)", optarg, names);
                return -1;
            }
            o->filter.status = optarg;
            break;
        case OPT_LANG:
            o->filter.runtime = optarg;
            break;
        case OPT_TENANT:
            o->filter.tenant = optarg;
            break;
        case OPT_LIMIT:
            if (units_parse_count(optarg, &value, why, sizeof why) < 0) {
                snprintf(err, errlen, "--limit: %s", why);
                return -1;
            }
            if (value > 1000000000) {
                snprintf(err, errlen, "--limit %s: at most 1000000000", optarg);
                return -1;
            }
            o->filter.limit = (unsigned)value;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        default:
            cli_option_error(id, argv, err, errlen);
            return -1;
        }
    }
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    struct audit_options o = {0};
    struct audit_dbs dbs;
    char err[1024];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(audit_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *action = argv[1];
    if (strcmp(action, "sync") == 0)
        return cmd_audit_sync(argc - 1, argv + 1);
    bool ls = strcmp(action, "ls") == 0, show = strcmp(action, "show") == 0;
    if (!ls && !show) {
        snprintf(err, sizeof err, "unknown action \"%s\": ls, show or sync", action);
        return cli_usage_error("audit", err);
    }
    int parsed = parse(argc - 1, argv + 1, &o, err, sizeof err);
    if (parsed > 0) {
        fputs(audit_help, stdout);
        return 0;
    }
    if (parsed < 0)
        return cli_usage_error("audit", err);
    int operands = argc - 1 - optind;
    if (ls && operands != 0)
        return cli_usage_error("audit", "ls takes no operand; filter with the options");
    if (show && operands != 1)
        return cli_usage_error("audit", "show takes the id of one job");
    if (audit_dbs_find(o.audit_db, &dbs, err, sizeof err) < 0) {
        cli_error("audit", "%s", err);
        return CLI_EXIT_SETUP;
    }
    int rc = ls ? audit_ls(&o, &dbs) : audit_show_job(&o, &dbs, argv[1 + optind]);
    audit_dbs_free(&dbs);
    return rc;
}
