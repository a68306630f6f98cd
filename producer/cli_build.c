/* From `brig run` / `brig submit` options to a job: reading the code, stdin
 * and input files, splitting K=V pairs, parsing network rules. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "producer/arena.h"
#include "producer/brig.h"
#include "producer/cli_options.h"
#include "producer/input_files.h"
#include "producer/io.h"
#include "schema/netrule.h"

/* A whole file ("-" = standard input) into arena, refusing more than max
 * bytes; what names the option for messages. */
static int read_input(const char *path, size_t max, const char *what, msgpack_zone *arena,
                      struct brig_bytes *out, char *err, size_t errlen)
{
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    char *data = NULL;
    size_t len;
    if (fd < 0 || read_fully(fd, max, &data, &len) < 0) {
        if (errno == EFBIG)
            snprintf(err, errlen, "%s %s: larger than the %zu bytes a job may carry there", what,
                     path, max);
        else
            snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    } else if (!(out->data = arena_memdup(arena, data, len))) {
        snprintf(err, errlen, "%s %s: %s", what, path, strerror(ENOMEM));
    } else {
        out->len = len;
    }
    free(data);
    if (fd >= 0 && !is_stdin)
        close(fd);
    return out->data ? 0 : -1;
}

/* "K=V" into a pair; "K" alone takes K's value here, when env_fallback. */
static int split_pair(const char *text, const char *what, bool env_fallback, msgpack_zone *arena,
                      struct brig_pair *pair, char *err, size_t errlen)
{
    const char *eq = strchr(text, '=');
    const char *value = eq ? eq + 1 : env_fallback ? getenv(text) : NULL;
    if (!eq && !env_fallback) {
        snprintf(err, errlen, "%s %s: expected NAME=VALUE", what, text);
        return -1;
    }
    if (!value) {
        snprintf(err, errlen, "%s %s: no '=' and %s is not set here to pass on", what, text, text);
        return -1;
    }
    char *name = arena_memdup(arena, text, eq ? (size_t)(eq - text) : strlen(text));
    char *copy = arena_strdup(arena, value);
    if (!name || !copy) {
        snprintf(err, errlen, "%s: %s", what, strerror(ENOMEM));
        return -1;
    }
    pair->name = name;
    pair->value = copy;
    return 0;
}

static int build_pairs(const struct cli_list *list, const char *what, bool env_fallback,
                       msgpack_zone *arena, struct brig_pair **pairs, size_t *count, char *err,
                       size_t errlen)
{
    if (list->count == 0)
        return 0;
    if (!(*pairs = arena_calloc(arena, list->count, sizeof **pairs))) {
        snprintf(err, errlen, "%s: %s", what, strerror(ENOMEM));
        return -1;
    }
    for (size_t i = 0; i < list->count; i++) {
        if (split_pair(list->items[i], what, env_fallback, arena, &(*pairs)[i], err, errlen) < 0)
            return -1;
    }
    *count = list->count;
    return 0;
}

static int build_files(const struct cli_list *specs, msgpack_zone *arena, struct brig_job *job,
                       char *err, size_t errlen)
{
    struct input_files files = {0};
    int rc = 0;
    for (size_t i = 0; i < specs->count && rc == 0; i++)
        rc = input_files_add(&files, specs->items[i], arena, err, errlen);
    if (rc == 0 && files.count) {
        const char **executable = NULL;
        job->files = arena_calloc(arena, files.count, sizeof *job->files);
        if (files.executable_count)
            executable = arena_calloc(arena, files.executable_count, sizeof *executable);
        if (job->files && (executable || !files.executable_count)) {
            memcpy(job->files, files.items, files.count * sizeof *job->files);
            job->file_count = files.count;
            if (executable)
                memcpy(executable, files.executable, files.executable_count * sizeof *executable);
            job->executable = executable;
            job->executable_count = files.executable_count;
        } else {
            snprintf(err, errlen, "--file: %s", strerror(ENOMEM));
            rc = -1;
        }
    }
    input_files_free(&files);
    return rc;
}

static int build_network(const struct cli_list *allow, msgpack_zone *arena,
                         struct brig_network *network, char *err, size_t errlen)
{
    if (allow->count == 0)
        return 0;
    network->mode = BRIG_NETWORK_ALLOW;
    if (!(network->rules = arena_calloc(arena, allow->count, sizeof *network->rules))) {
        snprintf(err, errlen, "--allow: %s", strerror(ENOMEM));
        return -1;
    }
    for (size_t i = 0; i < allow->count; i++) {
        struct net_rule_parts parts;
        char why[192];
        const char *entry = allow->items[i];
        if (!net_rule_parse(entry, strlen(entry), &parts, why, sizeof why)) {
            snprintf(err, errlen, "--allow %s: %s", entry, why);
            return -1;
        }
        char *host = arena_memdup(arena, entry + parts.host_start, parts.host_len);
        if (!host) {
            snprintf(err, errlen, "--allow: %s", strerror(ENOMEM));
            return -1;
        }
        network->rules[i] = (struct brig_net_rule){host, parts.wildcard, parts.port};
    }
    network->rule_count = allow->count;
    return 0;
}

/* Everything but the checks that need the whole job. */
static int build(const struct job_options *o, msgpack_zone *arena, struct brig_job *job, char *err,
                 size_t errlen)
{
    if (o->code_file && o->stdin_file && strcmp(o->code_file, "-") == 0 &&
        strcmp(o->stdin_file, "-") == 0) {
        snprintf(err, errlen, "the code and --stdin cannot both come from standard input");
        return -1;
    }
    job->runtime = o->lang;
    job->argv = o->argv.count ? o->argv.items : NULL;
    job->argv_count = o->argv.count;
    job->args = o->args.items;
    job->args_count = o->args.count;
    job->collect = o->collect.items;
    job->collect_count = o->collect.count;
    job->limits = o->limits;
    job->session = o->session;
    job->id = o->id;
    job->stream_logs = !o->no_logs;
    if (o->code) {
        job->code.data = o->code;
        job->code.len = strlen(o->code);
    } else if (o->code_file && read_input(o->code_file, BRIG_CODE_MAX_BYTES, "code file", arena,
                                          &job->code, err, errlen) < 0) {
        return -1;
    }
    if (o->stdin_file && read_input(o->stdin_file, BRIG_STDIN_MAX_BYTES, "--stdin", arena,
                                    &job->stdin_data, err, errlen) < 0)
        return -1;
    if (build_pairs(&o->env, "--env", true, arena, &job->env, &job->env_count, err, errlen) < 0 ||
        build_pairs(&o->meta, "--meta", false, arena, &job->metadata, &job->metadata_count, err,
                    errlen) < 0 ||
        build_network(&o->allow, arena, &job->network, err, errlen) < 0)
        return -1;
    if (build_files(&o->files, arena, job, err, errlen) < 0)
        return -1;
    if (!job->id) {
        char id[BRIG_ID_SIZE];
        brig_new_id(id);
        if (!(job->id = arena_strdup(arena, id))) {
            snprintf(err, errlen, "job id: %s", strerror(ENOMEM));
            return -1;
        }
    }
    return 0;
}

int job_options_build(const struct job_options *o, struct brig_job *job, char *err, size_t errlen)
{
    memset(job, 0, sizeof *job);
    msgpack_zone *arena = arena_new();
    if (!arena) {
        snprintf(err, errlen, "building the job: %s", strerror(ENOMEM));
        return -1;
    }
    job->arena = arena;
    struct brig_error error;
    msgpack_sbuffer check;
    msgpack_sbuffer_init(&check);
    int rc = build(o, arena, job, err, errlen);
    if (rc == 0 && brig_job_encode(job, &check, &error) < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "invalid job: %s", why);
        rc = -1;
    }
    msgpack_sbuffer_destroy(&check);
    if (rc < 0)
        brig_job_free(job);
    return rc;
}
