/* brig wait: the results of jobs submitted earlier, by anyone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/cli_common.h"
#include "producer/cli_show.h"
#include "producer/commands.h"
#include "producer/result_json.h"

static const char wait_help[] =
    "usage: brig wait [--timeout T] [--json] [--out DIR] ID...\n"
    "\n"
    "Waits for the results of jobs and prints each as brig run does: its stdout\n"
    "and stderr, a cell's outputs, exception and notes, then a summary on stderr;\n"
    "collected files and a cell's images are saved under --out (with --json: one\n"
    "JSON object per line, in the order of the ids, stdout/stderr/file contents\n"
    "as strings when valid UTF-8, else {\"base64\": \"...\"}, a cell's outputs\n"
    "in it and not saved). The results topic is read from its beginning, so a\n"
    "result published before brig wait started is found too.\n"
    "\n"
    "  --timeout T        how long to wait (default 600s; 0 = forever)\n"
    "  --json             print the results as JSON\n"
    "  --out DIR          where files go (default ./brig-out/<job id>; with several\n"
    "                     ids, DIR/<job id>)\n" CLI_COMMON_HELP "\n"
    "Exit status: with one id, as for brig run; with several, 0 when every job\n"
    "succeeded, else the status of the first that did not, 118 when a result is\n"
    "missing.\n";

enum { OPT_TIMEOUT = 1100, OPT_JSON, OPT_OUT };

static int show(const struct brig_result *results, size_t n, const struct show_options *o)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const struct brig_result *r = &results[i];
        if (!r->id)
            continue;
        if (!o->json && n > 1)
            fprintf(stderr, "== job %s\n", r->id);
        if (!o->json)
            print_outputs(r, 0, 0);
        /* Several jobs under one --out would overwrite each other's
         * output-1.png: each gets its own directory in it. */
        char dir[4096];
        struct show_options each = *o;
        if (o->out_dir && n > 1) {
            snprintf(dir, sizeof dir, "%s/%s", o->out_dir, r->id);
            each.out_dir = dir;
        }
        if (cli_show_result(&each, r) < 0)
            return CLI_EXIT_SETUP;
        if (o->json && print_json_line(result_to_json(r)) < 0) {
            cli_error("wait", "writing the result of job %s failed", r->id);
            return CLI_EXIT_SETUP;
        }
        int status = result_exit_status(r);
        if (rc == 0)
            rc = status;
    }
    return rc;
}

int cmd_wait(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"json", no_argument, NULL, OPT_JSON},
        {"out", required_argument, NULL, OPT_OUT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cli_common common = {0};
    struct show_options show_options = {.command = "wait"};
    int64_t timeout_ms = CLI_RUN_TIMEOUT_MS;
    char err[1024];
    int id;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, "+:h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (id == 'h') {
            fputs(wait_help, stdout);
            return 0;
        }
        if (id == '?' || id == ':') {
            cli_option_error(id, argv, err, sizeof err);
            return cli_usage_error("wait", err);
        }
        if (id == OPT_JSON) {
            show_options.json = true;
        } else if (id == OPT_OUT) {
            show_options.out_dir = optarg;
        } else if (id == OPT_TIMEOUT) {
            if (cli_parse_timeout(optarg, &timeout_ms, err, sizeof err) < 0)
                return cli_usage_error("wait", err);
        } else {
            cli_common_option(id, optarg, &common);
        }
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0)
        return cli_usage_error("wait", "give the id of at least one job");
    cli_common_defaults(&common);

    const char *const *ids = (const char *const *)argv + optind;
    struct brig_client_config config = {
        .start = BRIG_START_BEGINNING,
        .watch_ids = ids,
        .n_watch_ids = n,
    };
    struct brig_client *client = NULL;
    struct brig_result *results = calloc(n, sizeof *results);
    int rc = CLI_EXIT_SETUP;
    if (!results) {
        cli_error("wait", "allocating %zu results: out of memory", n);
        return rc;
    }
    if (cli_client_open("wait", &common, &config, &client) < 0)
        goto out;
    int waited = brig_wait_many(client, ids, n, timeout_ms, results, err, sizeof err);
    if (waited < 0) {
        cli_error("wait", "%s", err);
        goto out;
    }
    rc = show(results, n, &show_options);
    if (waited == BRIG_TIMED_OUT) {
        cli_error("wait", "%s", err);
        rc = BRIG_EXIT_NO_ANSWER;
    }
out:
    for (size_t i = 0; i < n; i++)
        brig_result_free(&results[i]);
    free(results);
    brig_client_free(client);
    cli_common_free(&common);
    return rc;
}
