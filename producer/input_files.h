/* The input files of a job, from the --file LOCAL[:PATH] options of
 * `brig run` and `brig submit`. LOCAL is a file, or a directory whose
 * regular files are all sent, each under PATH at its path below LOCAL; PATH
 * defaults to LOCAL's last component ("--file src" sends src/a.c as
 * src/a.c, "--file src:lib" as lib/a.c).
 *
 * Inside a directory only regular files and directories are taken: a
 * symbolic link (never followed), a FIFO, a socket or a device is refused,
 * naming it. Everything a job can carry is checked as files are added, so
 * that a refusal names the local file rather than the wire field: at most
 * BRIG_FILES_MAX files, each path valid in the job (SCHEMA.md §5.3), and
 * their contents together within BRIG_JOB_MAX_BYTES. Directories are read
 * in byte order of their names, so that the same tree makes the same job;
 * empty directories are not sent (a job has files only). A file that any of
 * the local execute bits marks executable is listed in executable, which the
 * job carries (SCHEMA.md, `executable`): it keeps its mode in the job. */
#ifndef BRIG_PRODUCER_INPUT_FILES_H
#define BRIG_PRODUCER_INPUT_FILES_H

#include <msgpack.h>
#include <stddef.h>

#include "schema/schema.h"

struct input_files {
    struct brig_file *items; /* malloc'd; paths and contents live in the arena */
    size_t count, cap;
    size_t total_bytes;
    const char **executable; /* malloc'd, cap long; the paths of items */
    size_t executable_count;
};

/* Adds the file or tree of one --file spec. Returns 0, or -1 with err
 * naming the option and the local path. */
int input_files_add(struct input_files *files, const char *spec, msgpack_zone *arena, char *err,
                    size_t errlen);

void input_files_free(struct input_files *files);

#endif
