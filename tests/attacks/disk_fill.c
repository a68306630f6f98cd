/* Disk filler: fills DIR until the file system refuses, with data (1 MiB
 * files) or with empty files (inodes). The jail's size-limited tmpfs must
 * answer ENOSPC (or EFBIG for the file-size rlimit) before the filler has
 * stored MAX of them (bytes for data, files for inodes). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

enum { CHUNK = 1 << 20 };

/* Writes one file of len bytes, adding what it stores to *stored. Returns 0,
 * or the errno once the file system refuses. */
static int write_file(const char *path, const char *data, long len, long *stored)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int err = 0;
    for (long done = 0; done < len;) {
        ssize_t n = write(fd, data + done, (size_t)(len - done));
        if (n < 0) {
            err = errno;
            break;
        }
        done += n;
        *stored += n;
    }
    close(fd);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "data") != 0 && strcmp(argv[2], "inodes") != 0))
        attack_usage("attack_disk_fill DIR data|inodes MAX");
    const char *dir = argv[1];
    bool data = strcmp(argv[2], "data") == 0;
    long max = strtol(argv[3], NULL, 10);
    /* Past RLIMIT_FSIZE a write fails with EFBIG instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);

    static char chunk[CHUNK];
    memset(chunk, 'x', sizeof(chunk));
    long bytes = 0;
    long files = 0;
    int err = 0;
    while ((data ? bytes : files) <= max) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/fill-%ld", dir, files);
        err = write_file(path, chunk, data ? CHUNK : 0, &bytes);
        if (err != 0)
            break;
        files++;
    }

    long stored = data ? bytes : files;
    const char *unit = data ? "bytes" : "files";
    if (err == ENOSPC || err == EFBIG || err == EDQUOT)
        attack_contained("filling %s stopped after %ld %s: %s", dir, stored, unit,
                         attack_errno_name(err));
    else if (err == 0)
        attack_escaped("stored %ld %s in %s, past the limit %ld", stored, unit, dir, max);
    else
        attack_escaped("filling %s failed for another reason after %ld %s: %s", dir, stored, unit,
                       attack_errno_name(err));
    return attack_finish();
}
