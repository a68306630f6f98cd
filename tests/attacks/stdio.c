/* The job's stdio pipes, reopened by name. Programs open /dev/stdin,
 * /dev/stdout, /dev/stderr and /proc/self/fd/0-2, so the jail lets the job
 * open each pipe in the direction it already has. This program checks that
 * it can (NOTE lines the test counts) and that from there it reaches nothing
 * more: not the other end of a pipe (writing into its own stdin, which is
 * the supervisor's end, or reading its output before the supervisor does),
 * not the pipes' owner or mode, not another process's descriptors, no
 * hard link to a pipe, and that fdinfo names nothing of the host.
 *
 * Usage: attack_stdio (stdin must hold a line from the host) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

struct name {
    const char *path;
    int fd; /* the descriptor it names */
};

static const struct name names[] = {
    {"/dev/stdin", 0},      {"/proc/self/fd/0", 0}, {"/dev/fd/0", 0},       {"/dev/stdout", 1},
    {"/proc/self/fd/1", 1}, {"/dev/stderr", 2},     {"/proc/self/fd/2", 2},
};

/* stdin is read, stdout and stderr written. */
static int own_direction(int fd)
{
    return fd == 0 ? O_RDONLY : O_WRONLY;
}

static int other_direction(int fd)
{
    return fd == 0 ? O_WRONLY : O_RDONLY;
}

/* Neither the owner nor the mode of a pipe may change, through any
 * descriptor of it: either would open it further. */
static void try_to_change(int fd, const char *what)
{
    attack_must_fail(fchmod(fd, 0666), "fchmod 0666 of %s", what);
    attack_must_fail(fchown(fd, getuid(), getgid()), "fchown of %s to the job's own uid", what);
    attack_must_fail(fchown(fd, 0, 0), "fchown of %s to uid 0", what);
}

static void reopen(const struct name *name)
{
    int flags = own_direction(name->fd);
    int fd = open(name->path, flags | O_CLOEXEC);
    if (fd < 0) {
        attack_note("cannot reopen %s: %s", name->path, attack_errno_name(errno));
        return;
    }
    attack_note("reopened %s (%s)", name->path, flags == O_RDONLY ? "read" : "write");
    if (name->fd == 0 && strcmp(name->path, "/dev/stdin") == 0) {
        char line[128];
        ssize_t n = read(fd, line, sizeof(line) - 1);
        line[n > 0 ? n : 0] = '\0';
        line[strcspn(line, "\n")] = '\0';
        attack_note("read through %s: %s", name->path, line);
    }
    try_to_change(fd, name->path);
    close(fd);
}

/* fdinfo says where a descriptor is and how it was opened: for a pipe,
 * never a host path. */
static void read_fdinfo(int fd)
{
    char path[64], info[1024];
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    if (attack_read_file(path, info, sizeof(info)) < 0) {
        attack_contained("reading %s: %s", path, attack_errno_name(errno));
        return;
    }
    for (char *c = info; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    if (strchr(info, '/') != NULL)
        attack_escaped("%s names a path: %s", path, info);
    else
        attack_contained("%s names no path: %s", path, info);
}

int main(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        reopen(&names[i]);
        attack_open_must_fail(names[i].path, other_direction(names[i].fd));
        attack_open_must_fail(names[i].path, O_RDWR);
    }
    for (int fd = 0; fd <= 2; fd++) {
        char what[32];
        snprintf(what, sizeof(what), "descriptor %d", fd);
        try_to_change(fd, what);
        read_fdinfo(fd);
    }
    char byte = 'x';
    attack_must_fail(write(0, &byte, 1), "write into stdin through descriptor 0");
    attack_must_fail(read(1, &byte, 1), "read stdout back through descriptor 1");
    /* Init holds the other ends of its report and go pipes at 3 and 4. */
    for (int fd = 0; fd <= 4; fd++) {
        char path[32];
        snprintf(path, sizeof(path), "/proc/1/fd/%d", fd);
        attack_open_must_fail(path, O_RDONLY);
        attack_open_must_fail(path, O_WRONLY);
    }
    attack_must_fail(
        linkat(AT_FDCWD, "/proc/self/fd/0", AT_FDCWD, "/work/stdin-link", AT_SYMLINK_FOLLOW),
        "hard link of stdin's pipe into /work");
    attack_must_fail(linkat(1, "", AT_FDCWD, "/work/stdout-link", AT_EMPTY_PATH),
                     "hard link of stdout's pipe by descriptor");
    return attack_finish();
}
