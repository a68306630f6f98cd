/* Host files: tries to open each PATH given, which the test picks among the
 * host's secrets and paths outside the jail's binds (/etc/shadow, /root, the
 * build directory, a file it made in its own temporary directory, the same
 * through /proc/1/root...). None may open: the jail's root is its own tmpfs. */
#include <fcntl.h>

#include "tests/attacks/attack.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        attack_usage("attack_read_host PATH...");
    for (int i = 1; i < argc; i++)
        attack_open_must_fail(argv[i], O_RDONLY);
    return attack_finish();
}
