/* Network namespaces made ahead of the jails that will use them.
 *
 * Making a network namespace is the largest single cost of a jail's clone
 * (setup_net and its sysctl tables: about a tenth of jail_run's CPU, by
 * perf). A thread of the context makes them while jails run, each with
 * loopback already up, and jail_run takes one: the jail's init is cloned
 * into it instead of into a new one. Each namespace serves one jail and is
 * never given out again, so nothing of one job's network reaches another.
 *
 * The namespaces belong to the host's user namespace, not the jail's: nothing
 * in the jail has a capability over them, so a job cannot change its
 * interfaces, routes or network sysctls (in a namespace of its own user
 * namespace it could not either, having dropped every capability; here not
 * even the jail's init can). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/jail_host.h"

struct netns_pool {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int *fds;
    size_t count, size;
    bool stopping;
    pthread_t maker;
};

/* In the maker thread: a new namespace for this thread, loopback up, and a
 * descriptor of it; -1 when the kernel refuses. */
static int make_one(void)
{
    struct jail_fail fail = {0};
    if (unshare(CLONE_NEWNET) != 0 || net_loopback_up(&fail) != 0)
        return -1;
    return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

static void *maker_main(void *arg)
{
    struct netns_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stopping && pool->count == pool->size)
            pthread_cond_wait(&pool->changed, &pool->lock);
        if (pool->stopping)
            break;
        pthread_mutex_unlock(&pool->lock);
        int fd = make_one();
        pthread_mutex_lock(&pool->lock);
        /* Refused by the kernel (a namespace limit): the pool stays empty and
         * jails make their own, as without one. */
        if (fd < 0)
            break;
        pool->fds[pool->count++] = fd;
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* The pool's memory, locks and namespaces, once its thread is gone. */
static void pool_free(struct netns_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        close(pool->fds[i]);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->changed);
    free(pool->fds);
    free(pool);
}

int netns_pool_start(size_t size, struct netns_pool **out, char *err, size_t errlen)
{
    *out = NULL;
    struct netns_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL || (pool->fds = calloc(size, sizeof(int))) == NULL) {
        snprintf(err, errlen, "allocating the network namespace pool: %s", strerror(errno));
        free(pool);
        return -1;
    }
    pool->size = size;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);
    int rc = pthread_create(&pool->maker, NULL, maker_main, pool);
    if (rc != 0) {
        snprintf(err, errlen, "starting the network namespace maker: %s", strerror(rc));
        pool_free(pool);
        return -1;
    }
    *out = pool;
    return 0;
}

void netns_pool_stop(struct netns_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_signal(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    pthread_join(pool->maker, NULL);
    pool_free(pool);
}

int netns_pool_take(struct netns_pool *pool)
{
    int fd = -1;
    if (pool == NULL)
        return -1;
    pthread_mutex_lock(&pool->lock);
    if (pool->count > 0) {
        fd = pool->fds[--pool->count];
        pthread_cond_signal(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return fd;
}
