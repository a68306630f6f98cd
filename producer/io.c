#include "producer/io.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int read_fully(int fd, size_t max, char **data, size_t *len)
{
    size_t cap = 65536, used = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -1;
    for (;;) {
        if (used == cap) {
            /* One byte past max is enough to know it is too much. */
            if (cap > max) {
                free(buf);
                errno = EFBIG;
                return -1;
            }
            char *grown = realloc(buf, cap * 2 + 1);
            if (!grown) {
                free(buf);
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            free(buf);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used > max) {
        free(buf);
        errno = EFBIG;
        return -1;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}
