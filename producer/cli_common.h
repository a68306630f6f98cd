/* What the brig subcommands share: exit statuses, connecting, errors,
 * colour and the result summary. */
#ifndef BRIG_PRODUCER_CLI_COMMON_H
#define BRIG_PRODUCER_CLI_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "producer/brig.h"
#include "producer/cli_options.h"
#include "producer/io.h"
#include "sandbox/cli_args.h"

/* brig's exit statuses beyond brig-jail's CLI_EXIT_* (sandbox/cli_args.h),
 * which `brig run` shares: a job that runs under brig run exits as it would
 * under brig-jail. These two are what brig-jail cannot have. */
enum {
    BRIG_EXIT_REJECTED = 117,  /* the worker refused the job as invalid */
    BRIG_EXIT_NO_ANSWER = 118, /* no result within the timeout */
    BRIG_EXIT_CANCELLED = 130, /* the job was cancelled (as a shell's Ctrl-C) */
};

/* The exit-status table, for the help of run and wait. */
extern const char cli_exit_help[];

/* The status brig exits with for a result, per cli_exit_help. */
int result_exit_status(const struct brig_result *result);

/* "brig <command>: <message>" on stderr. */
void cli_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Connects a client for command: brokers from common (or discovered), the
 * topic prefix from common. Prints the error itself. */
int cli_client_open(const char *command, const struct cli_common *common,
                    struct brig_client_config *config, struct brig_client **client);

/* The client settings for command, for brig_read_logs(); brokers goes into
 * buf. Prints the error itself. */
int cli_client_config(const char *command, const struct cli_common *common,
                      struct brig_client_config *config, char *buf, size_t len);

/* "$USER@host": who asks for a cancel, unless the user says. */
void cli_default_requester(char *buf, size_t len);

/* Colour on stream: only on a terminal, and never when NO_COLOR is set. */
bool cli_colour(FILE *stream);

/* "ok · exit 0 · wall 41.2ms · cpu 30.1ms · mem 9.5 MiB · compile 4.1ms · job <id>" (compile
 * when the runtime has a compile step), plus the
 * error or the refused system call when there is one, on one line. */
void print_summary(FILE *out, const struct brig_result *result, bool colour);

/* "brig: not collected: PATH: REASON" for each file the job's --collect
 * matched and the result left out. */
void print_omitted(FILE *out, const struct brig_result *result);

/* The result's stdout and stderr to brig's own, from the given offsets on
 * (what a live stream already showed is not shown again). */
void print_outputs(const struct brig_result *result, size_t stdout_from, size_t stderr_from);

/* Unix ms as local time, "2025-06-01 12:34:56"; "-" for none (<= 0). */
void cli_format_time(int64_t ms, char *buf, size_t len);

/* A duration in ms as an age, to the two largest units: "42s", "3m12s",
 * "2h05m", "3d04h". */
void cli_format_age(uint64_t ms, char *buf, size_t len);

/* "brig <command>: <message>" and a pointer to the command's help, for a
 * bad command line; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *message);

/* Writes value (taking the reference) as one line of JSON on stdout;
 * -1 when value is NULL (out of memory) or stdout fails. */
int print_json_line(json_t *value);

#endif
