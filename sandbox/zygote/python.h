/* The interpreter a warm server keeps initialised, and the job's side of a
 * warm start: the only part of brig-zygote that knows Python. */
#ifndef BRIG_SANDBOX_ZYGOTE_PYTHON_H
#define BRIG_SANDBOX_ZYGOTE_PYTHON_H

#include <stddef.h>

#include "sandbox/jail_child.h"

/* Initialises the interpreter as `python3` would be, imports each module of
 * preload (NULL-terminated) and freezes what it made, so that copies of the
 * process share it. version gets "Python X.Y.Z". */
int python_prepare(char *const *preload, char *version, size_t version_len, char *err,
                   size_t errlen);

/* jail_child.start: runs the job's `python3 FILE ARGS...` or
 * `python3 -c CODE ARGS...` in this copy of the interpreter and exits with
 * its status. Returns (so that the job is exec'd instead) when argv is any
 * other command line, or when the python3 the jail would exec is not the
 * interpreter this process embeds. */
void python_start_job(const struct jail_child *child);

#endif
