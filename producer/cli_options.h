/* The command lines of `brig run` and `brig submit`: parsed into options
 * first (no file is read), then built into a job. Kept apart from the
 * commands so that both steps can be tested without a broker. */
#ifndef BRIG_PRODUCER_CLI_OPTIONS_H
#define BRIG_PRODUCER_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

/* Options every command that talks to Kafka takes. */
struct cli_common {
    const char *brokers;           /* --brokers; NULL: discovered */
    const char *topic_prefix;      /* --topic-prefix, else $BRIG_TOPIC_PREFIX, else NULL */
    const char *kafka_config;      /* --kafka-config; NULL: $BRIG_KAFKA_CONFIG */
    const char *reply_topic;       /* --reply-topic, else $BRIG_REPLY_TOPIC, else NULL */
    const char **kafka_properties; /* -X KEY=VALUE, NULL-terminated (or NULL) */
    size_t n_kafka_properties;
    const char *tenant;   /* --tenant; NULL: $BRIG_TENANT (libbrig reads it) */
    const char *key_file; /* --key; NULL: $BRIG_KEY */
};

/* A list of option values, pointing into argv. */
struct cli_list {
    const char **items;
    size_t count;
};

struct job_options {
    const char *lang;       /* --lang: a runtime job */
    const char *code;       /* -c CODE */
    const char *code_file;  /* FILE after --lang; "-" = standard input */
    struct cli_list argv;   /* without --lang: the program and its arguments */
    struct cli_list args;   /* --arg, then what follows FILE or -c */
    const char *stdin_file; /* --stdin; "-" = standard input */
    struct cli_list env;    /* --env K=V, or K to pass the local value on */
    struct cli_list files;  /* --file LOCAL[:PATH] */
    struct cli_list collect;
    struct cli_list allow; /* --allow RULE: network allow-list */
    struct cli_list meta;  /* --meta K=V */
    struct brig_limits limits;
    const char *session;
    const char *id;
    bool no_logs; /* --no-logs: the worker does not stream the output */
};

enum job_command { JOB_COMMAND_RUN, JOB_COMMAND_SUBMIT };

struct job_command_options {
    struct cli_common common;
    struct job_options job;
    bool json;              /* run */
    const char *out_dir;    /* run: --out */
    int64_t timeout_ms;     /* run: how long to wait for the result */
    const char *batch_file; /* submit: --batch */
};

/* Default wait of `brig run` for its result: queueing included. */
#define CLI_RUN_TIMEOUT_MS 600000

/* Parses argv (argv[0] is the command name). Returns 0, 1 when --help was
 * asked for, or -1 with err naming the option. The options point into argv;
 * release them with job_command_options_free whatever the outcome. */
int job_command_parse(enum job_command command, int argc, char **argv,
                      struct job_command_options *opts, char *err, size_t errlen);
void job_command_options_free(struct job_command_options *opts);

/* Builds the job the options describe, reading the code, stdin and input
 * files they name; everything lives in job->arena (brig_job_free releases
 * it). The job is checked as a worker would check it. Returns 0, or -1 with
 * err naming the option or file. */
int job_options_build(const struct job_options *opts, struct brig_job *job, char *err,
                      size_t errlen);

/* A duration as `brig` takes it: the forms of common/units.h ("2", "1.5s",
 * "250ms") and also minutes, hours and days ("10m", "2h", "7d"). */
int cli_parse_duration_ms(const char *text, uint64_t *ms, char *err, size_t errlen);

/* --timeout T of the commands that wait: *timeout_ms gets T in ms, or -1
 * (forever) for 0. Returns 0, or -1 with err naming the flag. */
int cli_parse_timeout(const char *text, int64_t *timeout_ms, char *err, size_t errlen);

/* For the getopt_long() tables of the other commands: the options of
 * struct cli_common, with ids no short option can have. */
enum {
    CLI_OPT_BROKERS = 1000,
    CLI_OPT_TOPIC_PREFIX,
    CLI_OPT_KAFKA_CONFIG,
    CLI_OPT_REPLY_TOPIC,
    CLI_OPT_TENANT,
    CLI_OPT_KEY
};
#define CLI_COMMON_OPTIONS                                                                         \
    {"brokers", required_argument, NULL, CLI_OPT_BROKERS},                                         \
        {"topic-prefix", required_argument, NULL, CLI_OPT_TOPIC_PREFIX},                           \
        {"reply-topic", required_argument, NULL, CLI_OPT_REPLY_TOPIC},                             \
        {"tenant", required_argument, NULL, CLI_OPT_TENANT},                                       \
        {"key", required_argument, NULL, CLI_OPT_KEY},                                             \
    {                                                                                              \
        "kafka-config", required_argument, NULL, CLI_OPT_KAFKA_CONFIG                              \
    }
/* Their help, for the commands that say "as for brig run". */
#define CLI_COMMON_HELP                                                                            \
    "  --brokers LIST, --topic-prefix P, --reply-topic T, --tenant T, --key FILE,\n"               \
    "  --kafka-config FILE, -X KEY=VALUE  as for brig run\n"
/* The short option of struct cli_common: -X KEY=VALUE. */
#define CLI_COMMON_SHORT "X:"

/* Stores a CLI_COMMON_OPTIONS option (or -X); false when id is not one, or
 * when out of memory. */
bool cli_common_option(int id, const char *value, struct cli_common *common);
/* Frees what cli_common_option() allocated. */
void cli_common_free(struct cli_common *common);

/* The message for getopt_long()'s '?' (unknown option) or ':' (missing
 * value), with opterr = 0 and ':' leading the short options. */
void cli_option_error(int id, char **argv, char *err, size_t errlen);

/* $BRIG_TOPIC_PREFIX unless --topic-prefix was given. */
void cli_common_defaults(struct cli_common *common);

#endif
