#include "schema/status.h"

#include <string.h>

static const char *const status_names[BRIG_STATUS_COUNT] = {
    [BRIG_STATUS_OK] = "ok",
    [BRIG_STATUS_FAILED] = "failed",
    [BRIG_STATUS_SIGNALED] = "signaled",
    [BRIG_STATUS_TIMEOUT] = "timeout",
    [BRIG_STATUS_CPU_TIMEOUT] = "cpu_timeout",
    [BRIG_STATUS_OOM] = "oom",
    [BRIG_STATUS_OUTPUT_LIMIT] = "output_limit",
    [BRIG_STATUS_SECCOMP] = "seccomp",
    [BRIG_STATUS_COMPILE_ERROR] = "compile_error",
    [BRIG_STATUS_SETUP_ERROR] = "setup_error",
    [BRIG_STATUS_REJECTED] = "rejected",
    [BRIG_STATUS_INTERNAL_ERROR] = "internal_error",
    [BRIG_STATUS_CANCELLED] = "cancelled",
};

const char *brig_status_name(brig_status status)
{
    if ((unsigned)status >= BRIG_STATUS_COUNT)
        return NULL;
    return status_names[status];
}

bool brig_status_parse(const char *name, brig_status *out)
{
    for (int i = 0; i < BRIG_STATUS_COUNT; i++) {
        if (strcmp(status_names[i], name) == 0) {
            *out = (brig_status)i;
            return true;
        }
    }
    return false;
}
