/* Relative paths inside a job's /work (input files, collected files) and the
 * glob patterns that select files to collect. */
#ifndef BRIG_SCHEMA_PATHS_H
#define BRIG_SCHEMA_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/schema.h"

/* "a/b.txt": relative, components separated by single slashes, none empty,
 * "." or "..", none longer than BRIG_PATH_COMPONENT_MAX, no control
 * characters. Same signature as the text.h checks. */
bool check_relative_path(const char *s, size_t len, char *why, size_t whylen);

/* A relative path whose components may hold fnmatch(3) wildcards; the same
 * rules as check_relative_path(). */
bool check_glob(const char *s, size_t len, char *why, size_t whylen);

/* Finds a file whose path continues another file's path ("a" and "a/b"),
 * which cannot both exist: true with the two indexes, the first such file in
 * order and the first file it conflicts with. */
bool find_path_conflict(const struct brig_file *files, size_t count, size_t *file, size_t *parent);

#endif
