/* brig submit: publish one job, or a JSON Lines batch, and print the ids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/batch.h"
#include "producer/cli_common.h"
#include "producer/commands.h"

static const char submit_help[] =
    "usage: brig submit [options] --lang LANG (-c CODE | FILE) [ARG...]\n"
    "       brig submit [options] [--] PROGRAM [ARG...]\n"
    "       brig submit --batch FILE.jsonl\n"
    "\n"
    "Publishes a job and prints its id without waiting (see brig wait, brig logs).\n"
    "The job options are those of brig run (brig run --help). Its output is\n"
    "streamed to the logs topic for brig logs unless --no-logs is given.\n"
    "\n"
    "  --no-logs      do not stream the output (the result still carries it)\n"
    "  --batch FILE   one job per line (\"-\" = stdin), as a JSON object with the\n"
    "                 wire schema's field names, for example\n"
    "                   {\"runtime\": \"python\", \"code\": \"print(1)\", \"stdin\": \"text\",\n"
    "                    \"env\": {\"K\": \"v\"}, \"limits\": {\"wall_ms\": 2000},\n"
    "                    \"files\": {\"a.txt\": \"text\", \"b.bin\": {\"base64\": \"AAE=\"}}}\n"
    "                 Binary values (code, stdin, file contents) are strings or\n"
    "                 {\"base64\": ...}. Every line is checked before any job is sent:\n"
    "                 a bad line is reported with its number and field and nothing is\n"
    "                 submitted. The ids print one per line.\n" CLI_COMMON_HELP;

static int submit_batch(const struct job_command_options *o, struct brig_client_config *config)
{
    FILE *in = strcmp(o->batch_file, "-") == 0 ? stdin : fopen(o->batch_file, "re");
    struct batch batch = {0};
    struct brig_client *client = NULL;
    char(*ids)[BRIG_ID_SIZE] = NULL;
    char err[2048];
    int rc = CLI_EXIT_USAGE;
    if (!in) {
        cli_error("submit", "--batch %s: %s", o->batch_file, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (batch_read(in, &batch, err, sizeof err) < 0) {
        cli_error("submit", "%s: %s (nothing was submitted)", o->batch_file, err);
        goto out;
    }
    rc = CLI_EXIT_SETUP;
    if (!(ids = calloc(batch.count, sizeof *ids))) {
        cli_error("submit", "allocating %zu ids: %s", batch.count, strerror(errno));
        goto out;
    }
    if (cli_client_open("submit", &o->common, config, &client) < 0)
        goto out;
    if (brig_submit_batch(client, batch.jobs, batch.count, ids, err, sizeof err) < 0) {
        cli_error("submit", "%s", err);
        goto out;
    }
    for (size_t i = 0; i < batch.count; i++)
        printf("%s\n", ids[i]);
    rc = fflush(stdout) == 0 ? 0 : CLI_EXIT_SETUP;
out:
    brig_client_free(client);
    free(ids);
    batch_free(&batch);
    if (in != stdin)
        fclose(in);
    return rc;
}

static int submit_one(const struct job_command_options *o, struct brig_client_config *config)
{
    struct brig_job job;
    struct brig_client *client = NULL;
    char err[2048], id[BRIG_ID_SIZE];
    if (job_options_build(&o->job, &job, err, sizeof err) < 0)
        return cli_usage_error("submit", err);
    int rc = CLI_EXIT_SETUP;
    if (cli_client_open("submit", &o->common, config, &client) < 0)
        goto out;
    if (brig_submit(client, &job, id, err, sizeof err) < 0) {
        cli_error("submit", "%s", err);
        goto out;
    }
    printf("%s\n", id);
    rc = fflush(stdout) == 0 ? 0 : CLI_EXIT_SETUP;
out:
    brig_client_free(client);
    brig_job_free(&job);
    return rc;
}

int cmd_submit(int argc, char **argv)
{
    struct job_command_options o;
    char err[1024];
    int rc;
    int parsed = job_command_parse(JOB_COMMAND_SUBMIT, argc, argv, &o, err, sizeof err);
    if (parsed != 0) {
        rc = parsed > 0 ? (fputs(submit_help, stdout), 0) : cli_usage_error("submit", err);
    } else {
        cli_common_defaults(&o.common);
        struct brig_client_config config = {.submit_only = true};
        rc = o.batch_file ? submit_batch(&o, &config) : submit_one(&o, &config);
    }
    job_command_options_free(&o);
    return rc;
}
