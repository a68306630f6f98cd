/* The limit flags of `brig run` and `brig submit`: one per limit of the wire
 * schema (SCHEMA.md §5.1), each taking the units people type ("256M",
 * "30s", "0.5") and refused outside the schema's bounds in those same
 * units ("--wall-time: 700s is over the maximum of 600s"), never in the
 * wire's (limits.wall_ms, 700000). */
#ifndef BRIG_PRODUCER_CLI_LIMITS_H
#define BRIG_PRODUCER_CLI_LIMITS_H

#include <stddef.h>
#include <stdio.h>

#include "schema/schema.h"

enum cli_limit_unit { CLI_LIMIT_SIZE, CLI_LIMIT_DURATION, CLI_LIMIT_COUNT, CLI_LIMIT_CPUS };

struct cli_limit_flag {
    const char *name;  /* the long option, without "--" */
    const char *value; /* what it takes, for the help: "SIZE" */
    const char *what;  /* what it limits, for the help */
    enum cli_limit_unit unit;
    size_t offset; /* of its field in struct brig_limits */
    unsigned long long min, max, fallback;
};

#define CLI_LIMIT_FLAG_COUNT 10
extern const struct cli_limit_flag cli_limit_flags[CLI_LIMIT_FLAG_COUNT];

/* Parses value for flag into its field of limits. Returns 0, or -1 with err
 * naming the flag. */
int cli_limit_parse(const struct cli_limit_flag *flag, const char *value,
                    struct brig_limits *limits, char *err, size_t errlen);

/* The flags' lines for a help text: each with its range and default. */
void cli_limits_help(FILE *out);

#endif
