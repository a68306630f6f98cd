/* brig runtimes: what the pool can run, from the records its workers
 * announced on <prefix>.runtimes (brig_read_runtimes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/json_put.h"

static const char runtimes_help[] =
    "usage: brig runtimes [--verbose] [--json] [--timeout T]\n"
    "\n"
    "Lists the runtimes the workers offer, as each worker announced them when it\n"
    "started: one row per runtime and version, with its aliases (a job may use\n"
    "them; it is recorded under the name), whether it starts warm, its root\n"
    "image's digest (\"-\": the worker's own /usr) and how many workers have it.\n"
    "\n"
    "  -v, --verbose      each worker with its own runtimes and when it started\n"
    "      --json         one JSON object per worker and line: worker_id,\n"
    "                     started_ms, runtimes [{name, aliases, version, warm, image}]\n"
    "      --timeout T    how long the read may take (default 10s)\n"
    "  --brokers LIST, --topic-prefix P   as for brig run\n"
    "\n"
    "Exit status: 0, or 1 when no worker has announced anything.\n";

enum { OPT_JSON = 1100, OPT_TIMEOUT };

/* "py, python3", or "-". */
static void join_aliases(const struct brig_runtime_entry *e, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->alias_count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", e->aliases[i]);
    if (!buf[0])
        snprintf(buf, len, "-");
}

/* Column widths, fitted to the rows. */
struct widths {
    int name, aliases, version, image;
};

static int at_least(int width, const char *text)
{
    int len = (int)strlen(text);
    return len > width ? len : width;
}

static void fit(struct widths *w, const struct brig_runtime_entry *e)
{
    char aliases[256];
    join_aliases(e, aliases, sizeof aliases);
    w->name = at_least(w->name, e->name);
    w->aliases = at_least(w->aliases, aliases);
    w->version = at_least(w->version, e->version ? e->version : "(unknown)");
    w->image = at_least(w->image, e->image ? e->image : "-");
}

/* One row per entry; count[i] workers each when count is not NULL. */
static void print_table(const struct brig_runtime_entry *const *rows, size_t n,
                        const unsigned *count)
{
    struct widths w = {7, 7, 7, 5};
    for (size_t i = 0; i < n; i++)
        fit(&w, rows[i]);
    printf("%-*s  %-*s  %-*s  %-4s  %-*s%s\n", w.name, "RUNTIME", w.aliases, "ALIASES", w.version,
           "VERSION", "WARM", w.image, "IMAGE", count ? "  WORKERS" : "");
    for (size_t i = 0; i < n; i++) {
        const struct brig_runtime_entry *e = rows[i];
        char aliases[256], workers[24] = "";
        join_aliases(e, aliases, sizeof aliases);
        if (count)
            snprintf(workers, sizeof workers, "  %u", count[i]);
        /* The last column is not padded: no trailing blanks. */
        printf("%-*s  %-*s  %-*s  %-4s  %-*s%s\n", w.name, e->name, w.aliases, aliases, w.version,
               e->version ? e->version : "(unknown)", e->warm ? "yes" : "no", count ? w.image : 0,
               e->image ? e->image : "-", workers);
    }
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_entry(const struct brig_runtime_entry *a, const struct brig_runtime_entry *b)
{
    if (strcmp(a->name, b->name) != 0 || !same_text(a->version, b->version) || a->warm != b->warm ||
        !same_text(a->image, b->image) || a->alias_count != b->alias_count)
        return false;
    for (size_t i = 0; i < a->alias_count; i++) {
        if (strcmp(a->aliases[i], b->aliases[i]) != 0)
            return false;
    }
    return true;
}

/* The union: each distinct runtime once, in the order first seen, with the
 * number of workers that offer it. */
static int print_union(const struct brig_runtimes_read *read)
{
    size_t total = 0, n = 0;
    for (size_t w = 0; w < read->count; w++)
        total += read->workers[w].runtime_count;
    const struct brig_runtime_entry **rows = calloc(total, sizeof *rows);
    unsigned *workers = calloc(total, sizeof *workers);
    if (!rows || !workers) {
        free(rows);
        free(workers);
        cli_error("runtimes", "listing %zu runtimes: out of memory", total);
        return CLI_EXIT_SETUP;
    }
    for (size_t w = 0; w < read->count; w++) {
        for (size_t r = 0; r < read->workers[w].runtime_count; r++) {
            const struct brig_runtime_entry *e = &read->workers[w].runtimes[r];
            size_t k = 0;
            while (k < n && !same_entry(rows[k], e))
                k++;
            if (k == n)
                rows[n++] = e;
            workers[k]++;
        }
    }
    print_table(rows, n, workers);
    free(rows);
    free(workers);
    return 0;
}

static int print_workers(const struct brig_runtimes_read *read)
{
    uint64_t now = (uint64_t)wall_clock_ms();
    for (size_t w = 0; w < read->count; w++) {
        const struct brig_runtimes *worker = &read->workers[w];
        char started[32], age[32];
        cli_format_time((int64_t)worker->started_ms, started, sizeof started);
        cli_format_age(now > worker->started_ms ? now - worker->started_ms : 0, age, sizeof age);
        printf("%sworker %s, started %s (%s ago)\n", w ? "\n" : "", worker->worker_id, started,
               age);
        const struct brig_runtime_entry **rows = calloc(worker->runtime_count, sizeof *rows);
        if (!rows)
            return -1;
        for (size_t r = 0; r < worker->runtime_count; r++)
            rows[r] = &worker->runtimes[r];
        print_table(rows, worker->runtime_count, NULL);
        free(rows);
    }
    return 0;
}

static json_t *worker_json(const struct brig_runtimes *worker)
{
    bool ok = true;
    json_t *o = json_object(), *list = json_array();
    json_put_string(o, "worker_id", worker->worker_id, &ok);
    json_put(o, "started_ms", json_integer((json_int_t)worker->started_ms), &ok);
    for (size_t r = 0; list && r < worker->runtime_count; r++) {
        const struct brig_runtime_entry *e = &worker->runtimes[r];
        json_t *entry = json_object();
        bool entry_ok = true;
        json_put_string(entry, "name", e->name, &entry_ok);
        json_put(entry, "aliases", json_string_array(e->aliases, e->alias_count), &entry_ok);
        json_put(entry, "version", e->version ? json_string(e->version) : json_null(), &entry_ok);
        json_put(entry, "warm", json_boolean(e->warm), &entry_ok);
        json_put(entry, "image", e->image ? json_string(e->image) : json_null(), &entry_ok);
        entry = json_done(entry, entry_ok);
        if (!entry || json_array_append_new(list, entry) < 0)
            ok = false;
    }
    json_put(o, "runtimes", list, &ok);
    return json_done(o, ok);
}

int cmd_runtimes(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cli_common common = {0};
    bool verbose = false, json = false;
    int64_t timeout_ms = 10000;
    char err[1024], brokers[1024];
    int id;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, "+:hv", options, NULL)) != -1) {
        if (id == 'h') {
            fputs(runtimes_help, stdout);
            return 0;
        }
        if (id == '?' || id == ':') {
            cli_option_error(id, argv, err, sizeof err);
            return cli_usage_error("runtimes", err);
        }
        if (id == 'v') {
            verbose = true;
        } else if (id == OPT_JSON) {
            json = true;
        } else if (id == OPT_TIMEOUT) {
            if (cli_parse_timeout(optarg, &timeout_ms, err, sizeof err) < 0)
                return cli_usage_error("runtimes", err);
        } else {
            cli_common_option(id, optarg, &common);
        }
    }
    if (optind < argc)
        return cli_usage_error("runtimes", "it takes no operands");
    cli_common_defaults(&common);
    struct brig_client_config config = {
        .timeout_ms = timeout_ms < 0 || timeout_ms > UINT32_MAX ? UINT32_MAX : (unsigned)timeout_ms,
    };
    if (cli_client_config("runtimes", &common, &config, brokers, sizeof brokers) < 0)
        return CLI_EXIT_SETUP;
    struct brig_runtimes_read read;
    if (brig_read_runtimes(&config, &read, err, sizeof err) < 0) {
        cli_error("runtimes", "%s", err);
        return CLI_EXIT_SETUP;
    }
    int rc = 0;
    if (read.undecodable)
        cli_error("runtimes", "skipped %zu record(s) that are not runtimes records, the first: %s",
                  read.undecodable, read.undecodable_why);
    if (read.count == 0) {
        cli_error("runtimes", "no worker has announced its runtimes on %s.runtimes",
                  common.topic_prefix ? common.topic_prefix : "brig");
        rc = 1;
    } else if (json) {
        for (size_t w = 0; w < read.count && rc == 0; w++) {
            if (print_json_line(worker_json(&read.workers[w])) < 0) {
                cli_error("runtimes", "writing the runtimes of worker %s failed",
                          read.workers[w].worker_id);
                rc = CLI_EXIT_SETUP;
            }
        }
    } else if (verbose) {
        if (print_workers(&read) < 0) {
            cli_error("runtimes", "listing the runtimes: out of memory");
            rc = CLI_EXIT_SETUP;
        }
    } else {
        rc = print_union(&read);
    }
    if (rc == 0 && fflush(stdout) != 0) {
        cli_error("runtimes", "writing to stdout failed");
        rc = CLI_EXIT_SETUP;
    }
    brig_runtimes_read_free(&read);
    return rc;
}
