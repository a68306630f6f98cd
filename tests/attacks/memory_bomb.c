/* Memory bomb: allocates and touches memory until something stops it. The
 * jail's memory cgroup (with no swap) must kill it well before MAX_MIB; if it
 * gets there, the limit did not hold. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/attacks/attack.h"

enum { CHUNK = 1 << 20 };

int main(int argc, char **argv)
{
    if (argc != 2)
        attack_usage("attack_memory_bomb MAX_MIB");
    long max_mib = strtol(argv[1], NULL, 10);

    for (long mib = 0; mib < max_mib; mib++) {
        /* mmap rather than malloc, so each chunk is fresh memory the kernel must find. */
        char *chunk = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED) {
            attack_must_fail(-1, "allocating MiB number %ld", mib + 1);
            return attack_finish();
        }
        memset(chunk, 0xa5, CHUNK);
    }
    attack_escaped("allocated and touched %ld MiB", max_mib);
    return attack_finish();
}
