#include "worker/embedded.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/broker.h"
#include "worker/state_file.h"

/* How long a joiner waits for an owner that holds the lock but has not
 * published its address yet (it is starting). */
#define JOIN_WAIT_MS 15000

struct embedded_broker_link {
    char *state_dir;
    int lock_fd;
    struct embedded_broker *broker; /* the owner's; NULL for a joiner */
    char address[1024];
};

static int open_lock(const char *state_dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/broker.lock", state_dir);
    if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "creating state directory %s: %s", state_dir, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
    return fd;
}

static int own(struct embedded_broker_link *link, const char *const *topics, size_t n_topics,
               int partitions, const char *group, char *err, size_t errlen)
{
    const struct broker_gate_config gate = {.topic = topics[0], .group = group};
    /* A file left by an owner killed with -9 names a broker that is gone. */
    broker_state_remove_stale(link->state_dir);
    if (embedded_broker_start(1, topics, n_topics, partitions, &gate, &link->broker, err, errlen) <
        0)
        return -1;
    snprintf(link->address, sizeof(link->address), "%s", embedded_broker_bootstraps(link->broker));
    return broker_state_write(link->state_dir, link->address, EMBEDDED_MESSAGE_MAX, err, errlen);
}

static int join(struct embedded_broker_link *link, char *err, size_t errlen)
{
    int64_t give_up = monotonic_ms() + JOIN_WAIT_MS;
    for (;;) {
        if (broker_state_read(link->state_dir, link->address, sizeof(link->address), err, errlen) ==
            0)
            return 0;
        if (monotonic_ms() >= give_up) {
            snprintf(err, errlen,
                     "another brig-worker holds %s/broker.lock but published no broker address "
                     "within %d s",
                     link->state_dir, JOIN_WAIT_MS / 1000);
            return -1;
        }
        struct timespec pause = {.tv_nsec = 50 * 1000000};
        nanosleep(&pause, NULL);
    }
}

int embedded_broker_open(const char *state_dir, const char *const *topics, size_t n_topics,
                         int partitions, const char *group, struct embedded_broker_link **out,
                         char *err, size_t errlen)
{
    struct embedded_broker_link *link = calloc(1, sizeof(*link));
    if (!link || !(link->state_dir = strdup(state_dir))) {
        free(link);
        snprintf(err, errlen, "embedded broker: out of memory");
        return -1;
    }
    link->lock_fd = open_lock(state_dir, err, errlen);
    int rc = -1;
    if (link->lock_fd >= 0) {
        if (flock(link->lock_fd, LOCK_EX | LOCK_NB) == 0)
            rc = own(link, topics, n_topics, partitions, group, err, errlen);
        else if (errno == EWOULDBLOCK)
            rc = join(link, err, errlen);
        else
            snprintf(err, errlen, "locking %s/broker.lock: %s", state_dir, strerror(errno));
    }
    if (rc < 0) {
        embedded_broker_close(link);
        return -1;
    }
    *out = link;
    return 0;
}

const char *embedded_broker_address(const struct embedded_broker_link *link)
{
    return link->address;
}

bool embedded_broker_owned(const struct embedded_broker_link *link)
{
    return link->broker != NULL;
}

bool embedded_broker_alive(struct embedded_broker_link *link, char *why, size_t whylen)
{
    if (link->broker)
        return true;
    /* A shared lock is granted only once the owner's exclusive one is gone;
     * it is let go at once, so that a new owner can take the lock. */
    if (flock(link->lock_fd, LOCK_SH | LOCK_NB) < 0)
        return true;
    flock(link->lock_fd, LOCK_UN);
    snprintf(why, whylen,
             "the embedded broker at %s stopped with the brig-worker that ran it; this worker "
             "joined it and stops too (start a worker without --brokers to run a new one, or "
             "point --brokers at a Kafka cluster)",
             link->address);
    return false;
}

void embedded_broker_close(struct embedded_broker_link *link)
{
    if (!link)
        return;
    if (link->broker) {
        broker_state_remove(link->state_dir, link->address);
        embedded_broker_stop(link->broker);
    }
    if (link->lock_fd >= 0)
        close(link->lock_fd);
    free(link->state_dir);
    free(link);
}
