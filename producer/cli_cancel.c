/* brig cancel: asks the workers to cancel jobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "producer/cli_common.h"
#include "producer/commands.h"

static const char cancel_help[] =
    "usage: brig cancel [--by NAME] ID...\n"
    "\n"
    "Asks the workers to cancel jobs, through <prefix>.control: a job waiting for\n"
    "a slot is answered cancelled without running, a running one is stopped and\n"
    "answered cancelled with its output so far; a job already answered, or one\n"
    "no worker knows, is left as it is (a job that arrives within ten minutes of\n"
    "its cancel is answered cancelled unrun). The answer is the job's result:\n"
    "brig wait ID shows it. Asking twice is asking once.\n"
    "\n"
    "  --by NAME          who asks, for the workers' audit stores (default\n"
    "                     $USER@host)\n" CLI_COMMON_HELP "\n"
    "Exit status: 0 once every request is on the broker, 125 when one is not.\n";

enum { OPT_BY = 1100 };

void cli_default_requester(char *buf, size_t len)
{
    char host[256] = "localhost";
    const char *user = getenv("USER");
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, len, "%s@%s", user && *user ? user : "unknown", host);
}

int cmd_cancel(int argc, char **argv)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"by", required_argument, NULL, OPT_BY},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cli_common common = {0};
    char by[BRIG_CONTROL_BY_MAX + 1] = "", err[1024];
    int id;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (id == 'h') {
            fputs(cancel_help, stdout);
            cli_common_free(&common);
            return 0;
        }
        if (id == OPT_BY) {
            snprintf(by, sizeof(by), "%s", optarg);
        } else if (!cli_common_option(id, optarg, &common)) {
            cli_option_error(id, argv, err, sizeof err);
            cli_common_free(&common);
            return cli_usage_error("cancel", err);
        }
    }
    if (argc - optind < 1) {
        cli_common_free(&common);
        return cli_usage_error("cancel", "give the id of at least one job");
    }
    if (!by[0])
        cli_default_requester(by, sizeof(by));
    cli_common_defaults(&common);
    struct brig_client_config config = {.submit_only = true};
    struct brig_client *client = NULL;
    int rc = CLI_EXIT_SETUP;
    if (cli_client_open("cancel", &common, &config, &client) == 0) {
        rc = 0;
        for (int i = optind; i < argc && rc == 0; i++) {
            if (brig_cancel(client, argv[i], by, err, sizeof err) < 0) {
                cli_error("cancel", "%s", err);
                rc = CLI_EXIT_SETUP;
            } else {
                fprintf(stderr, "brig cancel: asked to cancel job %s\n", argv[i]);
            }
        }
    }
    brig_client_free(client);
    cli_common_free(&common);
    return rc;
}
