/* Read-only binds: tries to change the jail's root, /usr, /etc and the
 * attack programs' own bind. Every change must fail (EROFS, EACCES, EPERM).
 * Each attempt is one the host would survive if it went through: files are
 * created under names the test checks for afterwards, and existing files are
 * only given the mode, owner and times they already have. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

#define PLANTED "brig-attack-write-ro"

static void try_create(const char *dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/" PLANTED, strcmp(dir, "/") == 0 ? "" : dir);
    attack_open_must_fail(path, O_WRONLY | O_CREAT);
    attack_must_fail(mkdir(path, 0755), "mkdir %s", path);
    attack_must_fail(symlink("/", path), "symlink %s", path);
}

static void try_modify(const char *path)
{
    attack_open_must_fail(path, O_WRONLY | O_APPEND);
    struct stat st;
    if (stat(path, &st) != 0) {
        attack_must_fail(-1, "stat %s (it should be there)", path);
        return;
    }
    attack_must_fail(chmod(path, st.st_mode & 07777), "chmod %s", path);
    attack_must_fail(chown(path, st.st_uid, st.st_gid), "chown %s", path);
    const struct timespec same[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
    attack_must_fail(utimensat(AT_FDCWD, path, same, 0), "touch %s", path);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        attack_usage("attack_write_ro ATTACK_PROGRAM (this program's own path)");
    const char *dirs[] = {"/", "/usr", "/usr/bin", "/usr/lib", "/etc", "/attacks", "/proc"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        try_create(dirs[i]);
    const char *files[] = {"/etc/passwd", "/usr/bin/env", argv[1]};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++)
        try_modify(files[i]);
    return attack_finish();
}
