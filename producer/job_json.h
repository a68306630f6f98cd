/* A job as JSON, for `brig submit --batch` (one per line) and `brig audit
 * show --json`. The fields and their names are the wire schema's
 * (schema/SCHEMA.md); binary fields (code, stdin, file contents) follow
 * json_bytes.h: a string, or {"base64": "..."}. So
 *
 *   {"runtime": "python", "code": "print(1)", "env": {"K": "v"},
 *    "files": {"data/in.txt": "text", "blob.bin": {"base64": "AAEC"}},
 *    "limits": {"wall_ms": 2000, "memory_bytes": 67108864}}
 *
 * "v" may be given and must then be 1. Every other key is an error, as is a
 * value of the wrong JSON type; the rules on values (lengths, names, ranges)
 * are the encoder's, so a job that parses here must still pass
 * brig_job_encode(). */
#ifndef BRIG_PRODUCER_JOB_JSON_H
#define BRIG_PRODUCER_JOB_JSON_H

#include <jansson.h>

#include "schema/schema.h"

/* Fills *job from a JSON object, its memory in a new job->arena (release it
 * with brig_job_free). Returns 0, or -1 with err naming the field (and *job
 * freed). */
int job_from_json(const json_t *object, struct brig_job *job, struct brig_error *err);

/* A new JSON object for job, or NULL when out of memory. */
json_t *job_to_json(const struct brig_job *job);

/* {name: value} for env and metadata. */
json_t *pairs_to_json(const struct brig_pair *pairs, size_t count);

/* {path: content} for a job's input files or a result's collected files. */
json_t *job_files_to_json(const struct brig_file *files, size_t count);

#endif
