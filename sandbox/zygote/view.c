#include "sandbox/zygote/view.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/jail_host.h"

static int enter(const char *root, const struct mnt_plan *base, char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNS) != 0) {
        snprintf(err, errlen, "making a mount namespace to preload in: %s", strerror(errno));
        return -1;
    }
    struct jail_limits limits;
    jail_limits_default(&limits);
    struct mnt_plan job;
    if (mnt_plan_job(&job, root, &limits, NULL, NULL, 0, err, errlen) != 0)
        return -1;
    struct jail_fail fail = {0};
    int rc = mnt_enter_new_root(root, base, &job, &fail);
    mnt_plan_free(&job);
    if (rc != 0) {
        snprintf(err, errlen, "building the jail's filesystem to preload in: %s: %s", fail.step,
                 strerror(fail.err));
        return -1;
    }
    if (chdir("/work") != 0) {
        snprintf(err, errlen, "entering /work to preload in: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int view_enter(const char *root, const struct mnt_plan *base, int *host_ns, char *err,
               size_t errlen)
{
    *host_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (*host_ns < 0) {
        snprintf(err, errlen, "opening the host's mount namespace: %s", strerror(errno));
        return -1;
    }
    if (enter(root, base, err, errlen) != 0) {
        close(*host_ns);
        *host_ns = -1;
        return -1;
    }
    return 0;
}

int view_leave(int host_ns, char *err, size_t errlen)
{
    int rc = setns(host_ns, CLONE_NEWNS);
    if (rc != 0)
        snprintf(err, errlen,
                 "returning to the host's mount namespace after the preload: %s (a module it "
                 "imported may have started a thread)",
                 strerror(errno));
    close(host_ns);
    return rc;
}
