/* Fork bomb: makes processes (or threads) until the kernel refuses. The
 * jail's pids limit must stop it with EAGAIN after at most MAX of them, and
 * the survivors, which sleep forever, must go with the jail. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

/* Far past any pids limit a test sets; reaching it means there was none. */
enum { GIVE_UP_AFTER = 100000 };

static void *sleep_forever(void *unused)
{
    (void)unused;
    for (;;)
        pause();
    return NULL;
}

/* Returns 0 or the errno of the failed creation. */
static int spawn(bool threads)
{
    if (threads) {
        pthread_t thread;
        return pthread_create(&thread, NULL, sleep_forever, NULL);
    }
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        sleep_forever(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "fork") != 0 && strcmp(argv[1], "thread") != 0))
        attack_usage("attack_fork_bomb fork|thread MAX");
    bool threads = strcmp(argv[1], "thread") == 0;
    long max = strtol(argv[2], NULL, 10);

    long made = 0;
    int err = 0;
    while (made < GIVE_UP_AFTER && (err = spawn(threads)) == 0)
        made++;

    if (err == EAGAIN && made < max)
        attack_contained("%s bomb stopped after %ld: %s", argv[1], made, attack_errno_name(err));
    else if (err == 0)
        attack_escaped("%s bomb made %ld without being stopped", argv[1], made);
    else
        attack_escaped("%s bomb made %ld (limit %ld) before %s", argv[1], made, max,
                       attack_errno_name(err));
    return attack_finish();
}
