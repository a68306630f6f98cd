/* Collecting a job's files out of its workspace after the run (the job's
 * `collect` patterns, the result's `files` and `files_omitted`).
 *
 * The workspace is hostile: the job chose every name, type and link in it.
 * The collector, running as root on the host, therefore never follows a
 * symlink, never leaves the workspace or its file system, never opens
 * anything but a regular file for reading (FIFOs, sockets and devices are
 * looked at through O_PATH descriptors only, so nothing blocks and no driver
 * runs), never writes there, and bounds its walk so that no tree the job
 * builds can make it spin or fill the host's memory. */
#ifndef BRIG_WORKER_COLLECT_H
#define BRIG_WORKER_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

/* Directory levels below /work the walk enters: deeper directories are
 * reported as not searched. */
#define COLLECT_DEPTH_MAX 32
/* Directory entries the walk reads in all before it stops. */
#define COLLECT_ENTRIES_MAX 100000
/* fnmatch(3) calls in all: 32 patterns of many components over a large tree
 * could otherwise cost minutes. */
#define COLLECT_MATCH_STEPS_MAX 4000000
/* Matching entries examined, the first in path order: every one needs a file
 * or a files_omitted entry, and a result holds at most BRIG_FILES_MAX plus
 * BRIG_OMITTED_MAX of them; the slack lets a later match be returned when
 * many earlier ones were left out. This bounds memory whatever the tree
 * holds. */
#define COLLECT_CANDIDATES_MAX 1024

/* Arrays and strings allocated for the caller, laid out as struct
 * brig_result wants them: result.files = c.files, and so on. */
struct collection {
    struct brig_file *files; /* sorted by path; each content is followed by a NUL */
    size_t file_count;
    struct brig_omitted_file *omitted; /* in path order; where a stopped walk stopped last */
    size_t omitted_count;
    bool omitted_truncated; /* omitted does not list every match left out */
    uint64_t total_bytes;   /* content bytes in files */
};

/* Collects the regular files under root_fd (the workspace root, an O_PATH
 * descriptor will do) whose path relative to it matches any of the patterns,
 * in path order (bytewise), while they fit in max_bytes and BRIG_FILES_MAX.
 * Every matching entry that is not returned, and every symlink a pattern
 * would have searched through, is in omitted with a reason, while omitted
 * holds fewer than BRIG_OMITTED_MAX; names that are not valid UTF-8 or hold
 * control characters are shown with \xhh escapes. omitted_truncated says
 * that some were not listed: omitted was full, matches past the first
 * COLLECT_CANDIDATES_MAX were not examined, or the walk stopped early.
 *
 * Returns 0 (out filled, perhaps with nothing), or -1 with err when the
 * patterns are invalid or the host failed (memory, descriptors); out is then
 * empty. */
int collect_files(int root_fd, const char *const *patterns, size_t pattern_count,
                  uint64_t max_bytes, struct collection *out, char *err, size_t errlen);

void collection_free(struct collection *c);

#endif
