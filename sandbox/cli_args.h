/* The brig-jail command line: options in, exit status out. Kept apart from
 * main.c so that both ends can be tested without running a jail. */
#ifndef BRIG_SANDBOX_CLI_ARGS_H
#define BRIG_SANDBOX_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sandbox/sandbox.h"

/* brig-jail's own exit statuses; otherwise it exits as the program did, or
 * 128+N when the program died of signal N. */
enum {
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_COMPILE_ERROR = 119,
    CLI_EXIT_CPU_TIMEOUT = 120,
    CLI_EXIT_OOM = 121,
    CLI_EXIT_OUTPUT_LIMIT = 122,
    CLI_EXIT_SECCOMP = 123,
    CLI_EXIT_TIMEOUT = 124, /* as coreutils timeout(1) */
    CLI_EXIT_SETUP = 125,   /* the jail could not be built, or brig failed */
};

struct cli_options {
    struct jail_limits limits;
    struct jail_bind *binds;
    size_t n_binds;
    char **env; /* NULL-terminated "K=V" list */
    size_t n_env;
    const char *workdir;
    const char *stdin_path; /* "-" = brig-jail's stdin */
    const char *json_path;
    const char *runtimes_path;
    const char *lang;
    const char *code_path; /* "-" = brig-jail's stdin */
    char **program;        /* with --lang: the program's arguments; else argv; NULL-terminated */
    bool quiet;
    bool help;
    bool version;
};

/* Parses argv (argv[0] is the program name) over the given default limits.
 * Returns 0, or -1 with a sentence in err that names the offending option.
 * opts points into argv; free it with cli_options_free either way. */
int cli_parse(int argc, char **argv, const struct jail_limits *defaults, struct cli_options *opts,
              char *err, size_t errlen);
void cli_options_free(struct cli_options *opts);

/* The help, showing the given default limits. */
void cli_print_help(FILE *out, const struct jail_limits *defaults);

/* The exit status for an outcome, per the table in --help. */
int cli_exit_status(const struct jail_outcome *outcome);

#endif
