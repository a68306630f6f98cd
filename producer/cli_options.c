#include "producer/cli_options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/cli_limits.h"
#include "common/units.h"
#include "common/common.h"

enum option_id {
    OPT_LANG = 'l',
    OPT_CODE = 'c',
    OPT_HELP = 'h',
    OPT_ENV = 'e',
    OPT_FILE = 'f',
    OPT_STDIN = 256,
    OPT_ARG,
    OPT_COLLECT,
    OPT_ALLOW,
    OPT_SESSION,
    OPT_ID,
    OPT_META,
    OPT_JSON,
    OPT_OUT,
    OPT_TIMEOUT,
    OPT_BATCH,
    OPT_NO_LOGS,
    /* cli_limit_flags[i] has id OPT_LIMIT + i */
    OPT_LIMIT = 512,
};

/* Which commands take an option. */
enum { FOR_RUN = 1, FOR_SUBMIT = 2, FOR_BOTH = 3 };

static const struct {
    struct option option;
    int commands;
    bool job; /* describes the job (refused with --batch) */
} option_table[] = {
    {{"lang", required_argument, NULL, OPT_LANG}, FOR_BOTH, true},
    {{"code", required_argument, NULL, OPT_CODE}, FOR_BOTH, true},
    {{"stdin", required_argument, NULL, OPT_STDIN}, FOR_BOTH, true},
    {{"arg", required_argument, NULL, OPT_ARG}, FOR_BOTH, true},
    {{"env", required_argument, NULL, OPT_ENV}, FOR_BOTH, true},
    {{"file", required_argument, NULL, OPT_FILE}, FOR_BOTH, true},
    {{"collect", required_argument, NULL, OPT_COLLECT}, FOR_BOTH, true},
    {{"allow", required_argument, NULL, OPT_ALLOW}, FOR_BOTH, true},
    {{"session", required_argument, NULL, OPT_SESSION}, FOR_BOTH, true},
    {{"id", required_argument, NULL, OPT_ID}, FOR_BOTH, true},
    {{"meta", required_argument, NULL, OPT_META}, FOR_BOTH, true},
    {{"brokers", required_argument, NULL, CLI_OPT_BROKERS}, FOR_BOTH, false},
    {{"topic-prefix", required_argument, NULL, CLI_OPT_TOPIC_PREFIX}, FOR_BOTH, false},
    {{"kafka-config", required_argument, NULL, CLI_OPT_KAFKA_CONFIG}, FOR_BOTH, false},
    {{"reply-topic", required_argument, NULL, CLI_OPT_REPLY_TOPIC}, FOR_BOTH, false},
    {{"tenant", required_argument, NULL, CLI_OPT_TENANT}, FOR_BOTH, false},
    {{"key", required_argument, NULL, CLI_OPT_KEY}, FOR_BOTH, false},
    {{"help", no_argument, NULL, OPT_HELP}, FOR_BOTH, false},
    {{"json", no_argument, NULL, OPT_JSON}, FOR_RUN, false},
    {{"out", required_argument, NULL, OPT_OUT}, FOR_RUN, false},
    {{"timeout", required_argument, NULL, OPT_TIMEOUT}, FOR_RUN, false},
    {{"batch", required_argument, NULL, OPT_BATCH}, FOR_SUBMIT, false},
    {{"no-logs", no_argument, NULL, OPT_NO_LOGS}, FOR_SUBMIT, true},
};
#define OPTION_COUNT ARRAY_SIZE(option_table)

bool cli_common_option(int id, const char *value, struct cli_common *common)
{
    if (id == CLI_OPT_BROKERS) {
        common->brokers = value;
    } else if (id == CLI_OPT_TOPIC_PREFIX) {
        common->topic_prefix = value;
    } else if (id == CLI_OPT_KAFKA_CONFIG) {
        common->kafka_config = value;
    } else if (id == CLI_OPT_REPLY_TOPIC) {
        common->reply_topic = value;
    } else if (id == CLI_OPT_TENANT) {
        common->tenant = value;
    } else if (id == CLI_OPT_KEY) {
        common->key_file = value;
    } else if (id == 'X') {
        /* NULL-terminated: a brig_client_config takes it as it is. */
        const char **grown =
            realloc(common->kafka_properties, (common->n_kafka_properties + 2) * sizeof(*grown));
        if (!grown)
            return false;
        grown[common->n_kafka_properties++] = value;
        grown[common->n_kafka_properties] = NULL;
        common->kafka_properties = grown;
    } else {
        return false;
    }
    return true;
}

void cli_common_free(struct cli_common *common)
{
    free(common->kafka_properties);
    common->kafka_properties = NULL;
    common->n_kafka_properties = 0;
}

void cli_option_error(int id, char **argv, char *err, size_t errlen)
{
    /* A long option is the word itself (without any "=value"); a short one
     * may sit in a cluster ("-xl"), so only optopt names it. */
    const char *word = argv[optind - 1];
    char shortname[3] = {'-', (char)optopt, '\0'};
    int len = strncmp(word, "--", 2) == 0 ? (int)strcspn(word, "=") : 2;
    snprintf(err, errlen, id == '?' ? "unknown option %.*s" : "option %.*s needs a value", len,
             strncmp(word, "--", 2) == 0 ? word : shortname);
}

void cli_common_defaults(struct cli_common *common)
{
    const char *prefix = getenv("BRIG_TOPIC_PREFIX");
    const char *reply = getenv("BRIG_REPLY_TOPIC");
    if (!common->topic_prefix && prefix && *prefix)
        common->topic_prefix = prefix;
    if (!common->reply_topic && reply && *reply)
        common->reply_topic = reply;
}

int cli_parse_duration_ms(const char *text, uint64_t *ms, char *err, size_t errlen)
{
    static const struct {
        char suffix;
        uint64_t seconds;
    } long_units[] = {{'m', 60}, {'h', 3600}, {'d', 86400}};
    size_t len = strlen(text);
    char number[64];
    for (size_t i = 0; i < ARRAY_SIZE(long_units); i++) {
        if (len < 2 || len >= sizeof number || text[len - 1] != long_units[i].suffix)
            continue;
        uint64_t seconds_ms;
        memcpy(number, text, len - 1);
        number[len - 1] = '\0';
        /* "250ms" ends in 's', so only a bare number can come before m. */
        if (units_parse_duration_ms(number, &seconds_ms, err, errlen) < 0 ||
            strspn(number, "0123456789.") != len - 1)
            break;
        if (seconds_ms > UINT64_MAX / long_units[i].seconds) {
            snprintf(err, errlen, "\"%s\" is too long a duration", text);
            return -1;
        }
        *ms = seconds_ms * long_units[i].seconds;
        return 0;
    }
    if (units_parse_duration_ms(text, ms, err, errlen) == 0)
        return 0;
    snprintf(err, errlen, "\"%s\" is not a duration (for example 30, 1.5s, 250ms, 10m, 2h, 7d)",
             text);
    return -1;
}

int cli_parse_timeout(const char *text, int64_t *timeout_ms, char *err, size_t errlen)
{
    char why[256];
    uint64_t ms;
    if (cli_parse_duration_ms(text, &ms, why, sizeof why) < 0) {
        snprintf(err, errlen, "--timeout: %s", why);
        return -1;
    }
    if (ms > INT64_MAX) {
        snprintf(err, errlen, "--timeout: \"%s\" is too long a duration", text);
        return -1;
    }
    *timeout_ms = ms == 0 ? -1 : (int64_t)ms;
    return 0;
}

static int add_item(struct cli_list *list, const char *value)
{
    const char **items = realloc(list->items, (list->count + 1) * sizeof *items);
    if (!items)
        return -1;
    items[list->count++] = value;
    list->items = items;
    return 0;
}

static void list_free(struct cli_list *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

static const struct cli_limit_flag *limit_flag(int id)
{
    return id >= OPT_LIMIT && id < OPT_LIMIT + CLI_LIMIT_FLAG_COUNT
               ? &cli_limit_flags[id - OPT_LIMIT]
               : NULL;
}

/* Stores one option; -1 with err on a bad value. */
static int take_option(int id, const char *value, struct job_command_options *o, char *err,
                       size_t errlen)
{
    struct job_options *job = &o->job;
    int rc = 0;
    if (cli_common_option(id, value, &o->common))
        return 0;
    switch (id) {
    case OPT_LANG:
        job->lang = value;
        break;
    case OPT_CODE:
        job->code = value;
        break;
    case OPT_STDIN:
        job->stdin_file = value;
        break;
    case OPT_ARG:
        rc = add_item(&job->args, value);
        break;
    case OPT_ENV:
        rc = add_item(&job->env, value);
        break;
    case OPT_FILE:
        rc = add_item(&job->files, value);
        break;
    case OPT_COLLECT:
        rc = add_item(&job->collect, value);
        break;
    case OPT_ALLOW:
        rc = add_item(&job->allow, value);
        break;
    case OPT_META:
        rc = add_item(&job->meta, value);
        break;
    case OPT_SESSION:
        job->session = value;
        break;
    case OPT_ID:
        job->id = value;
        break;
    case OPT_JSON:
        o->json = true;
        break;
    case OPT_OUT:
        o->out_dir = value;
        break;
    case OPT_BATCH:
        o->batch_file = value;
        break;
    case OPT_NO_LOGS:
        job->no_logs = true;
        break;
    case OPT_TIMEOUT:
        return cli_parse_timeout(value, &o->timeout_ms, err, errlen);
    default:
        return cli_limit_parse(limit_flag(id), value, &job->limits, err, errlen);
    }
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* The name of a job option, or NULL for the others. */
static const char *job_option_name(int id)
{
    if (limit_flag(id))
        return limit_flag(id)->name;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (option_table[i].option.val == id)
            return option_table[i].job ? option_table[i].option.name : NULL;
    }
    return NULL;
}

/* What is left after the options: the program, or the code file and the
 * program's arguments. */
static int take_operands(struct job_command_options *o, int argc, char **argv, char *err,
                         size_t errlen)
{
    struct job_options *job = &o->job;
    int i = optind;
    if (o->batch_file) {
        if (i < argc) {
            snprintf(err, errlen, "--batch takes no job on the command line (found \"%s\")",
                     argv[i]);
            return -1;
        }
        return 0;
    }
    if (!job->lang) {
        if (job->code) {
            snprintf(err, errlen, "-c needs --lang: the code is run by a language runtime");
            return -1;
        }
        if (i == argc) {
            snprintf(err, errlen,
                     "nothing to run: give --lang LANG with -c CODE or a FILE, or a program "
                     "and its arguments");
            return -1;
        }
        for (; i < argc; i++) {
            if (add_item(&job->argv, argv[i]) < 0)
                goto oom;
        }
        return 0;
    }
    if (!job->code) {
        if (i == argc) {
            snprintf(err, errlen, "--lang %s needs the code: -c CODE or a FILE (\"-\" = stdin)",
                     job->lang);
            return -1;
        }
        job->code_file = argv[i++];
    }
    for (; i < argc; i++) {
        if (add_item(&job->args, argv[i]) < 0)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int job_command_parse(enum job_command command, int argc, char **argv,
                      struct job_command_options *o, char *err, size_t errlen)
{
    struct option longopts[OPTION_COUNT + CLI_LIMIT_FLAG_COUNT + 1];
    size_t n = 0;
    int mask = command == JOB_COMMAND_RUN ? FOR_RUN : FOR_SUBMIT;
    memset(o, 0, sizeof *o);
    o->timeout_ms = CLI_RUN_TIMEOUT_MS;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        if (option_table[i].commands & mask)
            longopts[n++] = option_table[i].option;
    }
    for (size_t i = 0; i < CLI_LIMIT_FLAG_COUNT; i++)
        longopts[n++] =
            (struct option){cli_limit_flags[i].name, required_argument, NULL, OPT_LIMIT + (int)i};
    memset(&longopts[n], 0, sizeof longopts[n]);

    const char *job_option = NULL;
    optind = 0; /* a full restart of getopt, so that parsing can be repeated */
    opterr = 0;
    for (;;) {
        int index = -1;
        /* "+": the first operand ends the options, so a program's own
         * options (brig run ls -l) stay its own. */
        int id = getopt_long(argc, argv, "+:l:c:e:f:h" CLI_COMMON_SHORT, longopts, &index);
        if (id == -1)
            break;
        if (id == 'h')
            return 1;
        if (id == '?' || id == ':') {
            cli_option_error(id, argv, err, errlen);
            return -1;
        }
        if (job_option_name(id))
            job_option = job_option_name(id);
        if (take_option(id, optarg, o, err, errlen) < 0)
            return -1;
    }
    if (o->batch_file && job_option) {
        snprintf(err, errlen, "--batch takes its jobs from the file only (found --%s)", job_option);
        return -1;
    }
    return take_operands(o, argc, argv, err, errlen);
}

void job_command_options_free(struct job_command_options *o)
{
    struct job_options *job = &o->job;
    list_free(&job->argv);
    list_free(&job->args);
    list_free(&job->env);
    list_free(&job->files);
    list_free(&job->collect);
    list_free(&job->allow);
    list_free(&job->meta);
    cli_common_free(&o->common);
}
