/* Inherited descriptors: the jail closes everything above stderr, so the
 * test hands brig-jail extra open descriptors (a host file, a socket) and
 * this program looks for any of them: /proc/self/fd must list only 0, 1
 * and 2, and no descriptor up to the RLIMIT_NOFILE may answer fcntl. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

static void describe(int fd, char *target, size_t len)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, len - 1);
    target[n < 0 ? 0 : n] = '\0';
}

int main(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        perror("opening /proc/self/fd");
        return 2;
    }
    int own = dirfd(dir);
    int listed = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        int fd = atoi(entry->d_name);
        if (fd <= STDERR_FILENO || fd == own)
            continue;
        char target[256];
        describe(fd, target, sizeof(target));
        attack_escaped("descriptor %d is open: %s", fd, target);
        listed++;
    }
    closedir(dir);
    if (listed == 0)
        attack_contained("/proc/self/fd lists only 0, 1 and 2");

    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    int open_fds = 0;
    for (rlim_t fd = STDERR_FILENO + 1; fd < nofile.rlim_cur && fd < 65536; fd++) {
        if (fcntl((int)fd, F_GETFD) >= 0) {
            attack_escaped("descriptor %d answers fcntl", (int)fd);
            open_fds++;
        }
    }
    if (open_fds == 0)
        attack_contained("no descriptor above 2 answers fcntl (checked up to %llu)",
                         (unsigned long long)nofile.rlim_cur);
    return attack_finish();
}
