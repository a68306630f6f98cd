#include "producer/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "producer/arena.h"
#include "producer/brig.h"
#include "producer/job_json.h"

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!strchr(" \t\r\n", line[i]))
            return false;
    }
    return true;
}

/* Parses, completes and checks one job. */
static int read_job(const char *line, size_t len, size_t number, struct brig_job *job, char *err,
                    size_t errlen)
{
    json_error_t jerr;
    json_t *value = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!value) {
        snprintf(err, errlen, "line %zu: invalid JSON at column %d: %s", number, jerr.column,
                 jerr.text);
        return -1;
    }
    struct brig_error error;
    int rc = job_from_json(value, job, &error);
    json_decref(value);
    if (rc == 0 && !job->id) {
        char id[BRIG_ID_SIZE];
        brig_new_id(id);
        if (!(job->id = arena_strdup(job->arena, id))) {
            snprintf(error.field, sizeof error.field, "id");
            snprintf(error.reason, sizeof error.reason, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        msgpack_sbuffer check;
        msgpack_sbuffer_init(&check);
        rc = brig_job_encode(job, &check, &error);
        msgpack_sbuffer_destroy(&check);
    }
    if (rc < 0) {
        char why[sizeof error.field + sizeof error.reason + 8];
        brig_error_format(&error, why, sizeof why);
        snprintf(err, errlen, "line %zu: %s", number, why);
        brig_job_free(job);
    }
    return rc;
}

static int grow(struct batch *batch, size_t *cap)
{
    if (batch->count < *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    struct brig_job *jobs = realloc(batch->jobs, n * sizeof *jobs);
    if (!jobs)
        return -1;
    batch->jobs = jobs;
    size_t *lines = realloc(batch->lines, n * sizeof *lines);
    if (!lines)
        return -1;
    batch->lines = lines;
    *cap = n;
    return 0;
}

static int by_id(const void *a, const void *b, void *jobs)
{
    const struct brig_job *j = jobs;
    return strcmp(j[*(const size_t *)a].id, j[*(const size_t *)b].id);
}

/* Two jobs with one id would be taken for a redelivery by the workers: the
 * second would get the first one's result. */
static int check_unique_ids(const struct batch *batch, char *err, size_t errlen)
{
    size_t *order = malloc((batch->count ? batch->count : 1) * sizeof *order);
    if (!order) {
        snprintf(err, errlen, "checking the job ids: %s", strerror(ENOMEM));
        return -1;
    }
    for (size_t i = 0; i < batch->count; i++)
        order[i] = i;
    qsort_r(order, batch->count, sizeof *order, by_id, batch->jobs);
    int rc = 0;
    for (size_t i = 1; i < batch->count && rc == 0; i++) {
        size_t a = order[i - 1], b = order[i];
        if (strcmp(batch->jobs[a].id, batch->jobs[b].id) != 0)
            continue;
        size_t first = a < b ? a : b, second = a < b ? b : a;
        snprintf(err, errlen, "line %zu: id: \"%s\" is already the id of the job on line %zu",
                 batch->lines[second], batch->jobs[second].id, batch->lines[first]);
        rc = -1;
    }
    free(order);
    return rc;
}

int batch_read(FILE *in, struct batch *batch, char *err, size_t errlen)
{
    char *line = NULL;
    size_t line_cap = 0, cap = 0, number = 0;
    ssize_t len;
    memset(batch, 0, sizeof *batch);
    int rc = -1;
    errno = 0;
    while ((len = getline(&line, &line_cap, in)) >= 0) {
        number++;
        if (blank(line, (size_t)len))
            continue;
        if (grow(batch, &cap) < 0) {
            snprintf(err, errlen, "line %zu: %s", number, strerror(ENOMEM));
            goto out;
        }
        if (read_job(line, (size_t)len, number, &batch->jobs[batch->count], err, errlen) < 0)
            goto out;
        batch->lines[batch->count++] = number;
    }
    if (ferror(in)) {
        snprintf(err, errlen, "reading line %zu: %s", number + 1, strerror(errno));
        goto out;
    }
    if (batch->count == 0) {
        snprintf(err, errlen, "no jobs: every line is blank");
        goto out;
    }
    rc = check_unique_ids(batch, err, errlen);
out:
    free(line);
    if (rc < 0)
        batch_free(batch);
    return rc;
}

void batch_free(struct batch *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        brig_job_free(&batch->jobs[i]);
    free(batch->jobs);
    free(batch->lines);
    memset(batch, 0, sizeof *batch);
}
