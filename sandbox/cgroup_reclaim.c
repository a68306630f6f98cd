/* Jail cgroups whose process died (see reclaim.h). A jail's cgroup is named
 * "<pid>-<start>-<n>" after the process that made it (owner.h); before start
 * times were part of the name it was "<pid>-<n>", whose owner is then dead
 * only when no process has that pid. Each hierarchy's brig group is listed,
 * and a directory of a dead owner is removed with rmdir alone: the kernel
 * refuses a cgroup that still holds a process or a child group, so nothing
 * that is in use can go. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/cgroup_impl.h"
#include "sandbox/fd.h"
#include "sandbox/owner.h"

/* The owner of a jail cgroup named name, or false for any other name. */
static bool jail_group_owner(const char *name, struct owner *owner)
{
    const char *rest;
    if (!owner_parse(name, owner, &rest))
        return false;
    if (*rest == '\0') { /* "<pid>-<n>": the start time is not known */
        owner->start = 0;
        return true;
    }
    return rest[0] == '-' && rest[1] >= '0' && rest[1] <= '9' &&
           rest[1 + strspn(rest + 1, "0123456789")] == '\0';
}

static void reclaim_group(const struct cg_dir *brig, size_t *removed, size_t *failed, char *err,
                          size_t errlen)
{
    DIR *dir = dir_list_at(brig->fd, ".");
    if (dir == NULL) {
        if ((*failed)++ == 0)
            snprintf(err, errlen, "reclaiming jail cgroups: listing %s: %s", brig->path,
                     strerror(errno));
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        struct owner owner;
        struct stat st;
        if (!jail_group_owner(entry->d_name, &owner) || owner_alive(&owner) ||
            fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        if (cg_rmdir(brig, entry->d_name) == 0)
            (*removed)++;
        else if ((*failed)++ == 0)
            snprintf(err, errlen, "removing cgroup %s/%s of dead process %d: %s", brig->path,
                     entry->d_name, (int)owner.pid, strerror(errno));
    }
    closedir(dir);
}

void cgroup_reclaim(struct cgroup_backend *backend, size_t *removed, size_t *failed, char *err,
                    size_t errlen)
{
    for (size_t i = 0; i < backend->n_groups; i++)
        reclaim_group(&backend->brig[i], removed, failed, err, errlen);
}
