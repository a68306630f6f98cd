/* brig session show: a session's cells and process jobs in the order they
 * ran, from the audit stores this host can read (session_jobs.h): what each
 * ran, how it ended, what it displayed and raised, and where the
 * interpreter started afresh. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "producer/audit_dbs.h"
#include "producer/cell_display.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/json_bytes.h"
#include "producer/json_put.h"
#include "producer/result_compare.h"
#include "producer/session_jobs.h"

static const char show_help[] =
    "usage: brig session show [--audit-db PATH] [--json] [--lines N] ID\n"
    "\n"
    "Lists the jobs of session ID in the order they ran, from the audit stores\n"
    "of this host's workers and fleet.db (brig audit sync): for each, its id,\n"
    "when it came, its runtime, its status and whether it was a cell (run in the\n"
    "session's live interpreter: its number there, and whether it started a new\n"
    "interpreter, so that earlier state was gone) or a process; the first lines\n"
    "of its code (or its argv), its outputs' MIME types and sizes, and the\n"
    "exception it raised.\n"
    "\n"
    "  --audit-db PATH    read this store only (default: every audit-*.db in\n"
    "                     $BRIG_DATA_DIR, else /var/lib/brig, then fleet.db there)\n"
    "  --lines N          lines of code shown per job (default 3; 0 = all)\n"
    "  --json             one JSON object per job: job_id, created_ms, runtime,\n"
    "                     kind (cell, process), state, status, exit_code,\n"
    "                     attempts, worker_id, audit_db, code or argv, and for a\n"
    "                     cell execution_count, started, state_lost, outputs\n"
    "                     [{kind, types: [{mime, bytes, sha256}]}],\n"
    "                     outputs_truncated, exception {name, value}\n"
    "\n"
    "Exit status: 0, 1 when no store has a job of the session, 125 when a\n"
    "store cannot be read, 2 usage.\n";

enum { OPT_AUDIT_DB = 1100, OPT_JSON, OPT_LINES };
/* Bytes shown of a line of code or argv, and of an exception's message. */
enum { CODE_WIDTH = 100, EXCEPTION_WIDTH = 200 };

struct session_show_options {
    const char *audit_db;
    bool json;
    unsigned long lines;
    const char *session;
};

/* One job of the session, decoded as far as its record allows. */
struct shown_job {
    const struct session_job *entry;
    const struct audit_attempt_record *final;
    bool has_job, has_result;
    struct brig_job job;
    struct brig_result result;
};

static void load(const struct session_job *entry, struct shown_job *s)
{
    struct brig_error error;
    memset(s, 0, sizeof *s);
    s->entry = entry;
    s->final = audit_final_attempt(entry->record);
    s->has_job = brig_job_decode(entry->record->raw, entry->record->raw_len, &s->job, &error) == 0;
    s->has_result = s->final && brig_result_decode(s->final->result, s->final->result_len,
                                                   &s->result, &error) == 0;
}

static void unload(struct shown_job *s)
{
    if (s->has_job)
        brig_job_free(&s->job);
    if (s->has_result)
        brig_result_free(&s->result);
}

static bool is_cell(const struct shown_job *s)
{
    return s->has_result && s->result.has_interpreter;
}

/* The state of the job's latest attempt, when it has no final result. */
static const char *state_of(const struct shown_job *s)
{
    const struct audit_job_record *r = s->entry->record;
    if (s->final)
        return "finished";
    return r->n_attempts ? r->attempts[r->n_attempts - 1].state : "not started";
}

static json_t *outputs_json(const struct brig_result *r)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < r->output_count; i++) {
        const struct brig_output *output = &r->outputs[i];
        json_t *types = json_array();
        if (!types) {
            json_decref(array);
            return NULL;
        }
        for (size_t j = 0; j < output->data_count; j++) {
            char hex[65];
            data_sha256_hex(output->data[j].content.data, output->data[j].content.len, hex);
            if (json_array_append_new(
                    types, json_pack("{s:s, s:I, s:s}", "mime", output->data[j].path, "bytes",
                                     (json_int_t)output->data[j].content.len, "sha256", hex)) < 0) {
                json_decref(types);
                json_decref(array);
                return NULL;
            }
        }
        if (json_array_append_new(
                array, json_pack("{s:s?, s:o}", "kind", output->kind, "types", types)) < 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

static json_t *job_json(const struct shown_job *s)
{
    const struct audit_job_record *r = s->entry->record;
    json_t *o = json_object();
    bool ok = o != NULL;
    json_put_string(o, "job_id", r->job_id, &ok);
    json_put(o, "created_ms", json_integer(r->created_ms), &ok);
    json_put(o, "runtime", r->runtime ? json_string(r->runtime) : json_null(), &ok);
    json_put_string(o, "kind", is_cell(s) ? "cell" : "process", &ok);
    json_put_string(o, "state", state_of(s), &ok);
    json_put(o, "status", s->final ? json_string(s->final->status) : json_null(), &ok);
    json_put(o, "exit_code",
             s->final && s->final->exit_code >= 0 ? json_integer(s->final->exit_code) : json_null(),
             &ok);
    json_put(o, "attempts", json_integer((json_int_t)r->n_attempts), &ok);
    json_put_string(o, "worker_id", s->final ? s->final->worker_id : NULL, &ok);
    json_put_string(o, "audit_db", s->entry->db, &ok);
    if (s->has_job && s->job.runtime)
        json_put(o, "code", json_from_bytes(s->job.code.data, s->job.code.len), &ok);
    else if (s->has_job)
        json_put(o, "argv", json_string_array(s->job.argv, s->job.argv_count), &ok);
    if (is_cell(s)) {
        const struct brig_result *c = &s->result;
        json_put(o, "execution_count",
                 c->execution_count ? json_integer((json_int_t)c->execution_count) : json_null(),
                 &ok);
        json_put(o, "started", json_boolean(c->interpreter_started), &ok);
        json_put(o, "state_lost", json_boolean(c->state_lost), &ok);
        json_put(o, "outputs", outputs_json(c), &ok);
        json_put(o, "outputs_truncated", json_boolean(c->outputs_truncated), &ok);
        if (c->exception_name)
            json_put(
                o, "exception",
                json_pack("{s:s, s:s?}", "name", c->exception_name, "value", c->exception_value),
                &ok);
    }
    return json_done(o, ok);
}

/* Text of the job's as it stands, shortened to width bytes, with control
 * characters shown as '?': the code and the exception are whatever the
 * agent sent, and must not drive the terminal. */
static void put_visible(const char *text, size_t len, size_t width)
{
    for (size_t i = 0; i < len && i < width; i++) {
        unsigned char c = (unsigned char)text[i];
        putchar((c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
    }
    if (len > width)
        fputs(" ...", stdout);
}

static void print_code_line(const char *line, size_t len)
{
    fputs("    > ", stdout);
    put_visible(line, len, CODE_WIDTH);
    putchar('\n');
}

static void print_code(const struct brig_bytes *code, unsigned long most)
{
    const char *at = code->data, *end = code->data + code->len;
    unsigned long shown = 0, lines = 0;
    for (const char *p = at; p < end; p++)
        lines += *p == '\n' || p + 1 == end;
    while (at < end && (most == 0 || shown < most)) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        size_t len = newline ? (size_t)(newline - at) : (size_t)(end - at);
        print_code_line(at, len);
        shown++;
        at += len + 1;
    }
    if (shown < lines)
        printf("    > ... (%lu more line%s)\n", lines - shown, lines - shown == 1 ? "" : "s");
}

static void print_heading(const struct shown_job *s)
{
    const struct audit_job_record *r = s->entry->record;
    char when[32], label[32];
    cli_format_time(r->created_ms, when, sizeof when);
    if (is_cell(s) && s->result.execution_count)
        snprintf(label, sizeof label, "cell [%llu]", (unsigned long long)s->result.execution_count);
    else
        snprintf(label, sizeof label, "%s", is_cell(s) ? "cell [?]" : "process");
    printf("%-10s %s  %s  %s  %s", label, r->job_id, when, r->runtime ? r->runtime : "(argv)",
           s->final && s->final->status ? s->final->status : state_of(s));
    if (s->final && s->final->exit_code >= 0)
        printf(" · exit %d", s->final->exit_code);
    if (s->final && s->final->signal)
        printf(" · signal %d", s->final->signal);
    if (is_cell(s) && s->result.interpreter_started)
        printf(" · new interpreter");
    if (is_cell(s) && s->result.state_lost)
        printf(" · interpreter ended");
    if (r->n_attempts > 1)
        printf(" · %zu attempts", r->n_attempts);
    putchar('\n');
}

static void print_job(const struct session_show_options *o, const struct shown_job *s)
{
    print_heading(s);
    if (!s->has_job) {
        printf("    (the recorded job does not decode)\n");
    } else if (s->job.runtime) {
        print_code(&s->job.code, o->lines);
    } else {
        fputs("    $", stdout);
        for (size_t i = 0; i < s->job.argv_count; i++) {
            putchar(' ');
            put_visible(s->job.argv[i], strlen(s->job.argv[i]), CODE_WIDTH);
        }
        putchar('\n');
    }
    if (!is_cell(s))
        return;
    const struct brig_result *c = &s->result;
    for (size_t i = 0; i < c->output_count; i++) {
        char types[1024];
        cell_describe_bundle(&c->outputs[i], true, types, sizeof types);
        printf("    output %zu (%s): %s\n", i + 1, c->outputs[i].kind, types);
    }
    if (c->outputs_truncated)
        printf("    (outputs past the bounds were left out)\n");
    if (c->exception_name) {
        /* Its first line only: this is a listing, not the cell's output. */
        const char *value = c->exception_value ? c->exception_value : "";
        size_t len = strcspn(value, "\n");
        printf("    ! %s%s", c->exception_name, *value ? ": " : "");
        put_visible(value, len, EXCEPTION_WIDTH);
        if (len <= EXCEPTION_WIDTH && value[len])
            fputs(" ...", stdout);
        putchar('\n');
    }
}

static int parse(int argc, char **argv, struct session_show_options *o, char *err, size_t errlen)
{
    static const struct option options[] = {
        {"audit-db", required_argument, NULL, OPT_AUDIT_DB},
        {"json", no_argument, NULL, OPT_JSON},
        {"lines", required_argument, NULL, OPT_LINES},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int id;
    o->lines = 3;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (id == 'h')
            return 1;
        if (id == OPT_AUDIT_DB) {
            o->audit_db = optarg;
        } else if (id == OPT_JSON) {
            o->json = true;
        } else if (id == OPT_LINES) {
            char *end;
            o->lines = strtoul(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-') {
                snprintf(err, errlen, "--lines: expected a number of lines, got \"%s\"", optarg);
                return -1;
            }
        } else {
            cli_option_error(id, argv, err, errlen);
            return -1;
        }
    }
    if (argc - optind != 1) {
        snprintf(err, errlen, "show takes one session id");
        return -1;
    }
    o->session = argv[optind];
    return 0;
}

int cmd_session_show(int argc, char **argv)
{
    struct session_show_options o = {0};
    struct audit_dbs dbs;
    struct session_jobs jobs;
    char err[1024];
    int parsed = parse(argc, argv, &o, err, sizeof err);
    if (parsed != 0)
        return parsed > 0 ? (fputs(show_help, stdout), 0) : cli_usage_error("session", err);
    if (audit_dbs_find(o.audit_db, &dbs, err, sizeof err) < 0) {
        cli_error("session", "%s", err);
        return CLI_EXIT_SETUP;
    }
    if (session_jobs_read(&dbs, o.session, true, &jobs, err, sizeof err) < 0) {
        cli_error("session", "%s", err);
        audit_dbs_free(&dbs);
        return CLI_EXIT_SETUP;
    }
    int rc = 0;
    if (jobs.count == 0) {
        cli_error("session", "no job of session %s in %s%s", o.session, dbs.paths[0],
                  dbs.count > 1 ? " or the other audit stores" : "");
        rc = 1;
    }
    for (size_t i = 0; i < jobs.count && rc == 0; i++) {
        struct shown_job s;
        load(&jobs.jobs[i], &s);
        if (o.json) {
            if (print_json_line(job_json(&s)) < 0)
                rc = CLI_EXIT_SETUP;
        } else {
            if (i == 0)
                printf("session %s: %zu job%s\n", o.session, jobs.count,
                       jobs.count == 1 ? "" : "s");
            print_job(&o, &s);
        }
        unload(&s);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = CLI_EXIT_SETUP;
    if (rc == CLI_EXIT_SETUP)
        cli_error("session", "writing the listing failed");
    session_jobs_free(&jobs);
    audit_dbs_free(&dbs);
    return rc;
}
