/* Shared by the schema unit tests: the canonical JSON view of decoded
 * messages (SCHEMA.md, "Test vectors") and file helpers. */
#ifndef BRIG_TEST_SCHEMA_SUPPORT_H
#define BRIG_TEST_SCHEMA_SUPPORT_H

#include <jansson.h>
#include <stddef.h>

#include "schema/schema.h"

json_t *job_json(const struct brig_job *job);
json_t *result_json(const struct brig_result *result);
json_t *log_chunk_json(const struct brig_log_chunk *chunk);
json_t *dead_letter_json(const struct brig_dead_letter *letter);
json_t *runtimes_json(const struct brig_runtimes *record);

/* Decodes buf as kind ("job", "result", "log_chunk", "dead_letter",
 * "runtimes") into its
 * JSON view; NULL with err filled when it does not decode. With reencode,
 * the decoded struct is encoded and decoded once more first, so the view is
 * of the round trip. */
json_t *decode_to_json(const char *kind, const void *buf, size_t len, int reencode,
                       struct brig_error *err);

/* BRIG_SCHEMA_VECTORS, or schema/vectors (the tests run from the repo root). */
const char *vectors_dir(void);

/* The whole file in a malloc'd buffer; NULL when it cannot be read. */
char *read_whole_file(const char *path, size_t *len);

#endif
