/* A jail outcome as a JSON object (jansson), for `brig-jail --json` and for
 * anything else that wants a machine-readable record of one run.
 *
 * stdout and stderr are included as text: bytes that are not valid UTF-8 are
 * each replaced by U+FFFD, so "stdout_bytes"/"stderr_bytes" (the raw byte
 * counts) are the authority on length. */
#ifndef BRIG_SANDBOX_OUTCOME_JSON_H
#define BRIG_SANDBOX_OUTCOME_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* What the outcome alone does not say about the run. Strings may be NULL. */
struct outcome_json_context {
    const char *runtime_name; /* for runs of a runtime (--lang); NULL otherwise */
    const char *runtime_version;
    /* The runtime's compile step, when it ran: runtime.compile_us, else null. */
    bool compiled;
    uint64_t compile_us;
    const char *policy_hash;
    const char *cgroup_version;
    const struct jail_limits *limits; /* the run's limits, or NULL */
};

/* Returns a new reference, or NULL when out of memory. */
json_t *outcome_to_json(const struct jail_outcome *outcome,
                        const struct outcome_json_context *context);

/* Writes the record to path (indented, newline-terminated). */
int outcome_json_write(const char *path, const struct jail_outcome *outcome,
                       const struct outcome_json_context *context, char *err, size_t errlen);

#endif
