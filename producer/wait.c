/* Waiting for results: many threads may wait at once, each on its own ids;
 * the consumer thread wakes them all when any result arrives and each checks
 * its own. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "producer/client_impl.h"

static int check_id(const char *id, char *err, size_t errlen)
{
    if (!id || !*id || strlen(id) > BRIG_ID_MAX) {
        snprintf(err, errlen, "id: \"%s\" is not a job id (1 to %d bytes)", id ? id : "",
                 BRIG_ID_MAX);
        return -1;
    }
    return 0;
}

int brig_watch(struct brig_client *c, const char *id, char *err, size_t errlen)
{
    if (check_id(id, err, errlen) < 0)
        return -1;
    if (!c->consumer) {
        snprintf(err, errlen, "this client was made submit_only: it reads no results");
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    struct watch *w = watch_add(&c->watches, id);
    pthread_mutex_unlock(&c->lock);
    if (!w) {
        snprintf(err, errlen, "watching job %s: %s", id, strerror(ENOMEM));
        return -1;
    }
    return 0;
}

void brig_forget(struct brig_client *c, const char *id)
{
    pthread_mutex_lock(&c->lock);
    struct watch *w = watch_find(&c->watches, id, strlen(id));
    if (w)
        watch_remove(&c->watches, w);
    pthread_mutex_unlock(&c->lock);
}

static struct timespec deadline_after(int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static bool answered(const struct watch *w)
{
    return w->has_result || w->bad_result;
}

/* Hands the result over and keeps the watch only while logs may follow. */
static void take(struct brig_client *c, struct watch *w, struct brig_result *out)
{
    *out = w->result;
    memset(&w->result, 0, sizeof w->result);
    w->has_result = false;
    w->result_taken = true;
    if (!c->on_log || log_order_ended(&w->logs))
        watch_remove(&c->watches, w);
}

int brig_wait_many(struct brig_client *c, const char *const *ids, size_t n, int64_t timeout_ms,
                   struct brig_result *results, char *err, size_t errlen)
{
    memset(results, 0, n * sizeof *results);
    for (size_t i = 0; i < n; i++) {
        if (brig_watch(c, ids[i], err, errlen) < 0)
            return -1;
    }
    struct timespec deadline = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
    size_t missing;
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        missing = 0;
        for (size_t i = 0; i < n; i++) {
            /* Waiting again for an id whose result was already taken (two
             * waiters for one id) finds no watch: it counts as missing. */
            const struct watch *w = watch_find(&c->watches, ids[i], strlen(ids[i]));
            if (!w || !answered(w)) {
                missing++;
                continue;
            }
            if (w->bad_result) {
                snprintf(err, errlen, "the result of job %s cannot be read: %s", ids[i],
                         w->bad_result);
                rc = -1;
                goto out;
            }
        }
        if (missing == 0)
            break;
        if (c->failure[0]) {
            snprintf(err, errlen, "waiting for results: %s", c->failure);
            rc = -1;
            goto out;
        }
        int e = timeout_ms < 0 ? pthread_cond_wait(&c->arrived, &c->lock)
                               : pthread_cond_timedwait(&c->arrived, &c->lock, &deadline);
        if (e == ETIMEDOUT)
            break;
    }
    missing = 0;
    for (size_t i = 0; i < n; i++) {
        struct watch *w = watch_find(&c->watches, ids[i], strlen(ids[i]));
        if (w && w->has_result)
            take(c, w, &results[i]);
        else
            missing++;
    }
    if (missing > 0) {
        if (n == 1)
            snprintf(err, errlen, "no result for job %s within %lld ms", ids[0],
                     (long long)timeout_ms);
        else
            snprintf(err, errlen, "%zu of %zu jobs had no result within %lld ms", missing, n,
                     (long long)timeout_ms);
        rc = BRIG_TIMED_OUT;
    }
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int brig_wait(struct brig_client *c, const char *id, int64_t timeout_ms, struct brig_result *out,
              char *err, size_t errlen)
{
    const char *ids[1] = {id};
    return brig_wait_many(c, ids, 1, timeout_ms, out, err, errlen);
}
