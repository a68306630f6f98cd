/* Writing a result's collected files to a local directory. The names come
 * from the job, which is hostile: each must be a relative path with no "."
 * or ".." component (schema/paths.h), every directory on the way is opened
 * without following symbolic links, and the file itself is opened with
 * O_NOFOLLOW, so nothing is ever written outside the directory. */
#ifndef BRIG_PRODUCER_OUT_DIR_H
#define BRIG_PRODUCER_OUT_DIR_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/schema.h"

/* Whether a collected file's name may be written under the directory. */
bool out_name_valid(const char *path, char *why, size_t whylen);

/* Creates dir (and its missing parents), then writes every file under it,
 * replacing files of the same name. Returns 0, or -1 with err naming the
 * file; files written before the failure stay. */
int out_dir_write(const char *dir, const struct brig_file *files, size_t count, char *err,
                  size_t errlen);

#endif
