/* What `brig replay` compares between a job's recorded result and the result
 * of running it again: status, exit code, signal, stdout, stderr, every
 * collected file (content by SHA-256), and for a cell its exception (name and
 * value), its outputs in order (kind, and each MIME type's data by SHA-256),
 * outputs_truncated and interpreter.state_lost. Times, usage, worker,
 * attempt, a traceback, the execution count and whether the interpreter
 * was fresh are expected to differ and are not compared. */
#ifndef BRIG_PRODUCER_RESULT_COMPARE_H
#define BRIG_PRODUCER_RESULT_COMPARE_H

#include <stddef.h>

#include "schema/schema.h"

struct result_difference {
    /* "status", "stdout", "files[\"out/a.txt\"]", "outputs[2][\"image/png\"]" */
    char field[BRIG_PATH_MAX + 16];
    char original[160]; /* the value, or a summary: "12 bytes, sha256 3f2a..." */
    char replay[160];
    char detail[96]; /* for data: "first difference at byte 7"; else "" */
};

/* Fills *diffs (malloc'd, the caller frees; NULL when there is none) with
 * the differences in the order above, files (and a bundle's types) in the
 * original's order then the replay's extra ones; outputs numbered from 1. Returns how many, or -1
 * when out of memory. */
long result_compare(const struct brig_result *original, const struct brig_result *replay,
                    struct result_difference **diffs);

/* The lowercase hex SHA-256 of data; "" when it cannot be computed. */
void data_sha256_hex(const char *data, size_t len, char hex[65]);

/* "12 bytes, sha256 3f2a5b7c9d1e0f42" (the first 16 hex digits). */
void describe_data(const char *data, size_t len, char *buf, size_t buflen);

#endif
