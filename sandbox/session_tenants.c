/* Each tenant's sessions under a root of their own (session.h): tenant B's
 * "nb1" and tenant A's "nb1" are two sessions, two tmpfs mounts, two uids.
 * Only the tenant's name, checked here and verified by the worker's
 * signature check before that, chooses the directory; the session id stays
 * what the job says, with the same rules as without tenants. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/session.h"
#include "schema/signature.h"

#define TENANTS_SUBDIR "tenants"

static int make_private_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0711) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "session: creating %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int jail_session_tenant_root(const char *sessions_dir, const char *tenant, bool create, char *buf,
                             size_t len, char *err, size_t errlen)
{
    char why[160];
    if (!tenant || !tenant[0]) {
        snprintf(buf, len, "%s", sessions_dir);
        return 0;
    }
    if (!brig_tenant_name_ok(tenant, strlen(tenant), why, sizeof why)) {
        snprintf(err, errlen, "session: tenant \"%s\": %s", tenant, why);
        return -1;
    }
    int n = snprintf(buf, len, "%s/%s", sessions_dir, TENANTS_SUBDIR);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "session: %s/%s: the path is too long", sessions_dir, TENANTS_SUBDIR);
        return -1;
    }
    /* The parents the store does not make itself: it makes only its root. */
    if (create &&
        (make_private_dir(sessions_dir, err, errlen) < 0 || make_private_dir(buf, err, errlen) < 0))
        return -1;
    n = snprintf(buf + n, len - (size_t)n, "/%s", tenant);
    if (n < 0 || strlen(buf) + 1 >= len) {
        snprintf(err, errlen, "session: the root of tenant %s is too long a path", tenant);
        return -1;
    }
    return 0;
}

long jail_session_tenants(const char *sessions_dir, jail_session_tenant_fn fn, void *arg, char *err,
                          size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sessions_dir, TENANTS_SUBDIR);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "session: opening %s: %s", path, strerror(errno));
        return -1;
    }
    DIR *dir = dir_list_at(fd, ".");
    close(fd);
    if (!dir) {
        snprintf(err, errlen, "session: listing %s: %s", path, strerror(errno));
        return -1;
    }
    long count = 0;
    struct dirent *entry;
    char why[160];
    while ((entry = readdir(dir)) != NULL) {
        /* Only directories named as tenants are: nothing else is ours. */
        if (entry->d_type != DT_DIR ||
            !brig_tenant_name_ok(entry->d_name, strlen(entry->d_name), why, sizeof why))
            continue;
        fn(arg, entry->d_name);
        count++;
    }
    closedir(dir);
    return count;
}

struct sweep {
    const char *sessions_dir;
    uint64_t ttl_ms, now_ms;
    size_t removed;
    int rc;
    char *err;
    size_t errlen;
};

static void sweep_tenant(void *arg, const char *tenant)
{
    struct sweep *s = arg;
    char root[4096], err[512];
    size_t removed = 0;
    if (jail_session_tenant_root(s->sessions_dir, tenant, false, root, sizeof root, err,
                                 sizeof err) < 0 ||
        jail_session_sweep(root, s->ttl_ms, s->now_ms, &removed, err, sizeof err) < 0) {
        if (s->rc == 0)
            snprintf(s->err, s->errlen, "%s", err);
        s->rc = -1;
    }
    s->removed += removed;
}

int jail_session_sweep_all(const char *sessions_dir, uint64_t ttl_ms, uint64_t now_ms,
                           size_t *removed, char *err, size_t errlen)
{
    struct sweep s = {sessions_dir, ttl_ms, now_ms, 0, 0, err, errlen};
    /* The first failure is the one err names; the others are still swept. */
    s.rc = jail_session_sweep(sessions_dir, ttl_ms, now_ms, &s.removed, err, errlen);
    char tenants_err[512];
    if (jail_session_tenants(sessions_dir, sweep_tenant, &s, tenants_err, sizeof tenants_err) < 0) {
        if (s.rc == 0)
            snprintf(err, errlen, "%s", tenants_err);
        s.rc = -1;
    }
    *removed = s.removed;
    return s.rc;
}
