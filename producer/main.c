/* brig: the command-line client. Each subcommand lives in its own file
 * (cli_run.c, cli_submit.c, ...); this only dispatches. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "brig_version.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "common/common.h"

static const char help[] =
    "usage: brig COMMAND [options]\n"
    "\n"
    "Runs code in brig's jails through Kafka.\n"
    "\n"
    "  run       run a job and stream its output:  brig run --lang python -c 'print(42)'\n"
    "  submit    publish jobs without waiting (one, or a JSON Lines --batch)\n"
    "  wait      wait for the results of jobs by id\n"
    "  logs      print a job's streamed output (-f to follow)\n"
    "  audit     ls / show what the workers recorded; sync it from the audit topic\n"
    "  session   ls / rm the session workspaces of this host\n"
    "  runtimes  what the workers can run: languages, aliases, versions\n"
    "  replay    run a recorded job again and compare\n"
    "  cancel    stop jobs, or answer them cancelled before they run\n"
    "  mcp       serve brig's tools to AI agents over MCP (stdio, or --http ADDR)\n"
    "  keygen    make a tenant's key, to sign jobs for workers with --tenants\n"
    "\n"
    "`brig COMMAND --help` describes each. The broker is --brokers, else\n"
    "$BRIG_BROKERS, else the embedded broker of a brig-worker on this host (found\n"
    "through its state directory, $BRIG_STATE_DIR or /run/brig).\n"
    "\n"
    "  brig --version   brig's version and the commit it was built from\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"run", cmd_run},         {"submit", cmd_submit},     {"wait", cmd_wait},
    {"logs", cmd_logs},       {"audit", cmd_audit},       {"replay", cmd_replay},
    {"session", cmd_session}, {"runtimes", cmd_runtimes}, {"cancel", cmd_cancel},
    {"mcp", cmd_mcp},         {"keygen", cmd_keygen},
};

int main(int argc, char **argv)
{
    /* A closed pipe (brig logs ID | head) shows as a failed write, not a
     * silent death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(help, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(help, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("brig %s\n", BRIG_VERSION);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_SETUP;
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "brig: unknown command \"%s\"\n", argv[1]);
    fputs(help, stderr);
    return CLI_EXIT_USAGE;
}
