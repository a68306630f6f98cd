/* The interpreter a warm server keeps initialised, and the job's side of a
 * warm start: the only part of brig-zygote that knows Python. */
#ifndef BRIG_SANDBOX_ZYGOTE_PYTHON_H
#define BRIG_SANDBOX_ZYGOTE_PYTHON_H

#include <stddef.h>

#include "sandbox/jail_child.h"

/* Reads, while the host's files are in sight (before view_enter), the
 * files of preload's entries NAME=PATH: python_prepare runs each as the
 * module NAME, where a program such as a kernel builds what its copies
 * start with. Other entries are module names. */
int python_read_sources(char *const *preload, char *err, size_t errlen);

/* Initialises the interpreter as `python3` would be, imports each module of
 * preload (NULL-terminated; or runs its source, python_read_sources) and
 * freezes what it made, so that copies of the process share it. version
 * gets "Python X.Y.Z". */
int python_prepare(char *const *preload, char *version, size_t version_len, char *err,
                   size_t errlen);

/* jail_child.start: runs the job's `python3 FILE ARGS...` or
 * `python3 -c CODE ARGS...` in this copy of the interpreter and exits with
 * its status. Returns (so that the job is exec'd instead) when argv is any
 * other command line, or when the python3 the jail would exec is not the
 * interpreter this process embeds. */
void python_start_job(const struct jail_child *child);

#endif
