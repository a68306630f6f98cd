#include "sandbox/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

DIR *dir_list_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (dir == NULL && fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return dir;
}
