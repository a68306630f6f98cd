#include "worker/server_keeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/log.h"
#include "worker/metrics.h"
#include "common/common.h"

#define CHECK_INTERVAL_MS 1000
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

struct kept_server {
    const char *name; /* "spawner", "kernel" or a runtime's name */
    struct jail_server *server;
    bool down;
    uint64_t next_try_ms;
    unsigned backoff_ms;
};

struct server_keeper {
    struct jail_context *jail;
    struct kept_server *servers;
    size_t count;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    bool stopping;
    pthread_t thread;
};

static void describe(const struct kept_server *kept, char *buf, size_t len)
{
    if (strcmp(kept->name, "spawner") == 0)
        snprintf(buf, len, "the jail spawner");
    else if (strcmp(kept->name, "kernel") == 0)
        snprintf(buf, len, "the cells' warm kernel server");
    else
        snprintf(buf, len, "runtime %s's warm interpreter", kept->name);
}

static void check(struct server_keeper *keeper, struct kept_server *kept)
{
    char what[128], err[512];
    uint64_t now = monotonic_ms();
    if (now < kept->next_try_ms || jail_server_alive(kept->server))
        return;
    describe(kept, what, sizeof(what));
    if (!kept->down) {
        log_warn(NULL, "%s died; jobs start without it until it is back", what);
        kept->down = true;
    }
    if (jail_server_restart(kept->server, keeper->jail, err, sizeof(err)) == 0) {
        log_info(NULL, "%s is back (restarted)", what);
        metrics_server_restarted(kept->name);
        kept->down = false;
        kept->backoff_ms = BACKOFF_FIRST_MS;
        return;
    }
    log_error(NULL, "restarting %s: %s; next try in %u s", what, err, kept->backoff_ms / 1000);
    kept->next_try_ms = now + kept->backoff_ms;
    kept->backoff_ms =
        kept->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : kept->backoff_ms * 2;
}

static void *keeper_main(void *arg)
{
    struct server_keeper *keeper = arg;
    pthread_mutex_lock(&keeper->lock);
    while (!keeper->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CHECK_INTERVAL_MS / 1000;
        while (!keeper->stopping &&
               pthread_cond_timedwait(&keeper->wake, &keeper->lock, &until) != ETIMEDOUT)
            ;
        if (keeper->stopping)
            break;
        /* Unlocked while a server starts: that may take as long as its imports. */
        pthread_mutex_unlock(&keeper->lock);
        for (size_t i = 0; i < keeper->count; i++)
            check(keeper, &keeper->servers[i]);
        pthread_mutex_lock(&keeper->lock);
    }
    pthread_mutex_unlock(&keeper->lock);
    return NULL;
}

static void keep(struct server_keeper *keeper, const char *name, struct jail_server *server)
{
    if (server == NULL)
        return;
    keeper->servers[keeper->count++] =
        (struct kept_server){.name = name, .server = server, .backoff_ms = BACKOFF_FIRST_MS};
}

int server_keeper_start(struct jail_context *jail, struct runtime_table *table,
                        struct jail_server *kernel, struct server_keeper **out, char *err,
                        size_t errlen)
{
    pthread_condattr_t attr;
    *out = NULL;
    struct server_keeper *keeper = calloc(1, sizeof(*keeper));
    if (keeper == NULL ||
        (keeper->servers = calloc(table->count + 2, sizeof(*keeper->servers))) == NULL) {
        snprintf(err, errlen, "allocating the server keeper: %s", strerror(errno));
        free(keeper);
        return -1;
    }
    keeper->jail = jail;
    keep(keeper, "spawner", jail_context_spawner(jail));
    for (size_t i = 0; i < table->count; i++)
        keep(keeper, table->runtimes[i].name, table->runtimes[i].warm);
    keep(keeper, "kernel", kernel);
    pthread_mutex_init(&keeper->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&keeper->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&keeper->thread, NULL, keeper_main, keeper);
    if (rc != 0) {
        snprintf(err, errlen, "starting the server keeper's thread: %s", strerror(rc));
        pthread_cond_destroy(&keeper->wake);
        pthread_mutex_destroy(&keeper->lock);
        free(keeper->servers);
        free(keeper);
        return -1;
    }
    *out = keeper;
    return 0;
}

void server_keeper_stop(struct server_keeper *keeper)
{
    if (keeper == NULL)
        return;
    pthread_mutex_lock(&keeper->lock);
    keeper->stopping = true;
    pthread_cond_signal(&keeper->wake);
    pthread_mutex_unlock(&keeper->lock);
    pthread_join(keeper->thread, NULL);
    pthread_cond_destroy(&keeper->wake);
    pthread_mutex_destroy(&keeper->lock);
    free(keeper->servers);
    free(keeper);
}
