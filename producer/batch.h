/* `brig submit --batch`: a JSON Lines file, one job per line in the form
 * job_json.h describes, read and checked in full before anything is sent.
 * Blank lines are skipped. Jobs without an id get a fresh one. */
#ifndef BRIG_PRODUCER_BATCH_H
#define BRIG_PRODUCER_BATCH_H

#include <stddef.h>
#include <stdio.h>

#include "schema/schema.h"

struct batch {
    struct brig_job *jobs;
    size_t *lines; /* the line each job came from */
    size_t count;
};

/* Reads every line of in. Returns 0, or -1 with err naming the first bad
 * line and its field ("line 3: limits.wall_ms: out of range ..."), and then
 * *batch empty. */
int batch_read(FILE *in, struct batch *batch, char *err, size_t errlen);
void batch_free(struct batch *batch);

#endif
