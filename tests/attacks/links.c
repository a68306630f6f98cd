/* Links in /work to files outside it. A symlink may be made but must lead
 * only into the jail's own view: one to HOST_PATH (a host file outside every
 * bind) or /etc/shadow opens nothing. A hard link to a file of a read-only
 * bind must fail (EXDEV: another mount), by name, by an open descriptor
 * (AT_EMPTY_PATH) and through /proc/self/fd: otherwise the job would hold a
 * writable name for a host inode, and host code working in /work could be
 * fooled into changing it. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

static void try_symlink(const char *target, const char *link)
{
    if (symlink(target, link) != 0) {
        fprintf(stderr, "making the symlink %s -> %s, which /work allows: ", link, target);
        perror(NULL);
        _exit(2);
    }
    attack_open_must_fail(link, O_RDONLY);
}

static void try_hardlinks(const char *source, const char *name)
{
    attack_must_fail(link(source, name), "hard link %s to %s", name, source);

    int fd = open(source, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        attack_must_fail(fd, "open %s (it should be there)", source);
        return;
    }
    attack_must_fail(linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH),
                     "hard link %s to a descriptor of %s", name, source);
    char by_fd[64];
    snprintf(by_fd, sizeof(by_fd), "/proc/self/fd/%d", fd);
    attack_must_fail(linkat(AT_FDCWD, by_fd, AT_FDCWD, name, AT_SYMLINK_FOLLOW),
                     "hard link %s to %s through %s", name, source, by_fd);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        attack_usage("attack_links HOST_PATH ATTACK_PROGRAM (this program's own path)");
    try_symlink(argv[1], "/work/link-to-host");
    try_symlink("/etc/shadow", "/work/link-to-shadow");

    const char *sources[] = {"/etc/passwd", "/usr/bin/su", "/usr/bin/env", argv[2]};
    for (size_t i = 0; i < ARRAY_SIZE(sources); i++) {
        char link[64];
        snprintf(link, sizeof(link), "/work/hardlink-%zu", i);
        try_hardlinks(sources[i], link);
    }
    return attack_finish();
}
