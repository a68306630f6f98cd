/* Finding the broker, and naming jobs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "producer/brig.h"
#include "worker/state_file.h"

int brig_discover_brokers(const char *given, char *buf, size_t len, char *err, size_t errlen)
{
    const char *env = getenv("BRIG_BROKERS");
    const char *found = given && *given ? given : env && *env ? env : NULL;
    if (found) {
        if ((size_t)snprintf(buf, len, "%s", found) >= len) {
            snprintf(err, errlen, "the broker list is longer than %zu bytes", len - 1);
            return -1;
        }
        return 0;
    }
    char dir[4096];
    return broker_state_read(brig_state_dir(dir, sizeof dir), buf, len, err, errlen);
}

uint64_t brig_discover_message_max(const char *given)
{
    const char *env = getenv("BRIG_BROKERS");
    if ((given && *given) || (env && *env))
        return 0;
    char dir[4096];
    return broker_state_message_max(brig_state_dir(dir, sizeof dir));
}

void brig_new_id(char id[BRIG_ID_SIZE])
{
    unsigned char bytes[12];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* getrandom cannot fail on a kernel that has it once the pool is
     * initialised; should it, an id unique to this process and moment is
     * still unique enough for a job. */
    if (got < sizeof bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        mix ^= (uint64_t)getpid() << 40;
        for (size_t i = got; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)(mix >> (8 * (i % 8)));
    }
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(id + 2 * i, 3, "%02x", bytes[i]);
}
