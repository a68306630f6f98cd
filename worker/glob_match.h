/* A job's collect patterns (SCHEMA.md §5.3), compiled for a walk of its
 * workspace: each pattern becomes a small automaton over path components that
 * is advanced one directory entry at a time. At every directory the walk can
 * then tell whether the path so far matches a pattern, and whether anything
 * below it still could, without ever building the list of all paths.
 *
 * Within a component, *, ? and [...] are fnmatch(3)'s, with FNM_PERIOD: a
 * leading "." must be matched by a "." in the pattern. A whole component **
 * matches zero or more directories whose names do not start with "."; as
 * the last component it is followed by an implicit "*" component, so it
 * matches every such file at any depth below. */
#ifndef BRIG_WORKER_GLOB_MATCH_H
#define BRIG_WORKER_GLOB_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/bounds.h"

/* A pattern of BRIG_GLOB_MAX bytes has at most half as many components, plus
 * the "*" a trailing ** gains; one more state means "matched". */
#define GLOB_COMPONENTS_MAX (BRIG_GLOB_MAX / 2 + 1)
#define GLOB_STATE_WORDS ((GLOB_COMPONENTS_MAX + 1 + 63) / 64)

struct glob_pattern {
    char text[BRIG_GLOB_MAX + 1]; /* the pattern with each "/" made a NUL */
    const char *components[GLOB_COMPONENTS_MAX];
    size_t component_count;
};

struct glob_set {
    struct glob_pattern patterns[BRIG_COLLECT_MAX];
    size_t count;
};

/* Where a path stands in every pattern of a set: bit i of a pattern's states
 * is set when the path matches the pattern's first i components. */
struct glob_position {
    uint64_t states[BRIG_COLLECT_MAX][GLOB_STATE_WORDS];
};

/* Checks each pattern against SCHEMA.md's glob rules (an error names it as
 * "collect[i]") and compiles it. Returns 0, or -1 with err. */
int glob_set_compile(struct glob_set *set, const char *const *patterns, size_t count, char *err,
                     size_t errlen);

/* The position of the empty path, /work itself. */
void glob_position_start(const struct glob_set *set, struct glob_position *start);

/* The position of parent's path followed by the component name. Returns the
 * number of fnmatch(3) calls it made, so the caller can bound the work a
 * hostile set of patterns and names costs. */
uint64_t glob_position_step(const struct glob_set *set, const struct glob_position *parent,
                            const char *name, struct glob_position *child);

/* The path matches at least one pattern. */
bool glob_position_matches(const struct glob_set *set, const struct glob_position *at);

/* Some longer path below this one could match a pattern. */
bool glob_position_can_continue(const struct glob_set *set, const struct glob_position *at);

#endif
