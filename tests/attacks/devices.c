/* Devices: the jail's /dev holds only harmless ones (null, zero, full,
 * random, urandom, tty, ptmx and its pts). Every other device node in view
 * and the usual dangerous ones by name (/dev/mem, disks, kvm, fuse, tun)
 * must refuse to open, and making a device node (mknod of /dev/mem's and a
 * disk's numbers) must fail wherever the job can write. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

static bool harmless(const struct stat *st)
{
    if (!S_ISCHR(st->st_mode))
        return false;
    unsigned major_nr = major(st->st_rdev), minor_nr = minor(st->st_rdev);
    if (major_nr == 1)
        return minor_nr == 3 || minor_nr == 5 || minor_nr == 7 || minor_nr == 8 || minor_nr == 9;
    if (major_nr == 5)
        return minor_nr == 0 || minor_nr == 2;
    return major_nr == 136; /* pseudo-terminal slaves */
}

static int look_at(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)type;
    (void)ftw;
    if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && !harmless(st))
        attack_open_must_fail(path, O_RDONLY | O_NONBLOCK);
    return 0;
}

int main(void)
{
    nftw("/dev", look_at, 16, FTW_PHYS);
    const char *dangerous[] = {"/dev/mem",     "/dev/kmem",        "/dev/port",    "/dev/sda",
                               "/dev/vda",     "/dev/nvme0n1",     "/dev/kvm",     "/dev/fuse",
                               "/dev/net/tun", "/dev/userfaultfd", "/dev/console", "/dev/tty0",
                               "/dev/vsock"};
    for (size_t i = 0; i < ARRAY_SIZE(dangerous); i++)
        attack_open_must_fail(dangerous[i], O_RDONLY | O_NONBLOCK);

    const char *dirs[] = {"/work", "/tmp", "/dev"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        char path[64];
        snprintf(path, sizeof(path), "%s/brig-mem", dirs[i]);
        attack_must_fail(mknod(path, S_IFCHR | 0666, makedev(1, 1)), "mknod %s (1,1)", path);
        snprintf(path, sizeof(path), "%s/brig-disk", dirs[i]);
        attack_must_fail(mknod(path, S_IFBLK | 0666, makedev(8, 0)), "mknod %s (8,0)", path);
    }
    return attack_finish();
}
