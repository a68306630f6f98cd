/* What a job asks of the jail, from its decoded fields: the limits, the
 * environment and the command line. */
#ifndef BRIG_WORKER_JOB_SPEC_H
#define BRIG_WORKER_JOB_SPEC_H

#include "sandbox/sandbox.h"
#include "schema/schema.h"

/* The job's limits, its absent ones at their defaults (SCHEMA.md 5.1). */
void job_limits(const struct brig_job *job, struct jail_limits *limits);

/* "K=V" strings for the jail, in one allocation with the pointer array (free
 * the array): before, the job's variables, then after (each NULL-terminated,
 * or NULL); the jail applies them in that order, a later one replacing an
 * earlier one of the same name. NULL when out of memory. */
char **job_environment(const struct brig_job *job, const char *const *before,
                       const char *const *after);

/* What the jail runs after the program, NULL-terminated (free the array):
 * for an argv job, argv then args (SCHEMA.md section 5); for a runtime job,
 * args (the runtime puts its own command in front). NULL when out of memory. */
const char **job_command(const struct brig_job *job);

#endif
