/* The closed set of outcomes a job can have. The jail, the worker, the wire
 * format and the audit store all speak this one set. */
#ifndef BRIG_SCHEMA_STATUS_H
#define BRIG_SCHEMA_STATUS_H

#include <stdbool.h>

typedef enum {
    BRIG_STATUS_OK = 0,         /* exited 0 */
    BRIG_STATUS_FAILED,         /* exited non-zero */
    BRIG_STATUS_SIGNALED,       /* killed by a signal it did not get from the jail */
    BRIG_STATUS_TIMEOUT,        /* wall-clock limit */
    BRIG_STATUS_CPU_TIMEOUT,    /* CPU-time limit */
    BRIG_STATUS_OOM,            /* memory limit */
    BRIG_STATUS_OUTPUT_LIMIT,   /* stdout+stderr over the output budget */
    BRIG_STATUS_SECCOMP,        /* a forbidden system call */
    BRIG_STATUS_COMPILE_ERROR,  /* the runtime's compile step failed */
    BRIG_STATUS_SETUP_ERROR,    /* the jail could not be built */
    BRIG_STATUS_REJECTED,       /* the job itself was invalid */
    BRIG_STATUS_INTERNAL_ERROR, /* brig failed for reasons of its own */
    BRIG_STATUS_CANCELLED,      /* stopped, or never started, on request (result v2) */
    BRIG_STATUS_COUNT
} brig_status;

/* The wire name ("ok", "cpu_timeout", ...), or NULL for a value out of range. */
const char *brig_status_name(brig_status status);

/* Parses a wire name; false when it names no status. */
bool brig_status_parse(const char *name, brig_status *out);

#endif
