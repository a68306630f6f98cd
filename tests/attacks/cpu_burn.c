/* CPU burner: spins THREADS threads forever. The jail's CPU-time limit must
 * stop it; if the tree gets MAX_SECONDS of CPU, the limit did not hold. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/attacks/attack.h"

static double process_cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void *spin(void *unused)
{
    (void)unused;
    for (volatile unsigned long n = 0;; n++)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        attack_usage("attack_cpu_burn THREADS MAX_SECONDS");
    long threads = strtol(argv[1], NULL, 10);
    double max_seconds = strtod(argv[2], NULL);

    for (long i = 1; i < threads; i++) {
        pthread_t thread;
        int err = pthread_create(&thread, NULL, spin, NULL);
        if (err != 0) {
            fprintf(stderr, "starting spinning thread %ld: %s\n", i, strerror(err));
            return 2;
        }
    }
    while (process_cpu_seconds() < max_seconds)
        ;
    attack_escaped("burned %.1f s of CPU", process_cpu_seconds());
    return attack_finish();
}
