#include "worker/job_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

void job_limits(const struct brig_job *job, struct jail_limits *limits)
{
    struct brig_limits effective;
    brig_limits_resolve(&job->limits, &effective);
    jail_limits_default(limits);
    limits->wall_ms = effective.wall_ms;
    limits->cpu_ms = effective.cpu_ms;
    limits->memory_bytes = effective.memory_bytes;
    limits->pids = effective.pids;
    limits->output_bytes = effective.output_bytes;
    limits->fsize_bytes = effective.fsize_bytes;
    limits->disk_bytes = effective.disk_bytes;
    limits->tmp_bytes = effective.tmp_bytes;
    limits->cpu_millis = (uint32_t)effective.cpu_millis;
}

char **job_environment(const struct brig_job *job, const char *const *before,
                       const char *const *after)
{
    size_t n_before = strv_len(before), n_after = strv_len(after);
    size_t count = n_before + job->env_count + n_after;
    size_t bytes = (count + 1) * sizeof(char *);
    for (size_t i = 0; i < job->env_count; i++)
        bytes += strlen(job->env[i].name) + strlen(job->env[i].value) + 2;
    char **env = malloc(bytes);
    if (!env)
        return NULL;
    char *text = (char *)(env + count + 1);
    size_t n = 0;
    for (size_t i = 0; i < n_before; i++)
        env[n++] = (char *)before[i];
    for (size_t i = 0; i < job->env_count; i++) {
        env[n++] = text;
        text += sprintf(text, "%s=%s", job->env[i].name, job->env[i].value) + 1;
    }
    for (size_t i = 0; i < n_after; i++)
        env[n++] = (char *)after[i];
    env[n] = NULL;
    return env;
}

const char **job_command(const struct brig_job *job)
{
    size_t n_argv = job->runtime ? 0 : job->argv_count;
    const char **list = calloc(n_argv + job->args_count + 1, sizeof(char *));
    if (!list)
        return NULL;
    if (n_argv)
        memcpy(list, job->argv, n_argv * sizeof(char *));
    if (job->args_count)
        memcpy(list + n_argv, job->args, job->args_count * sizeof(char *));
    return list;
}
