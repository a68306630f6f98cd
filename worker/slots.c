#include "worker/slots.h"

#include <pthread.h>
#include <stdlib.h>

struct done_node {
    void *job;
    struct done_node *next;
};

struct slot {
    struct slot_pool *pool;
    pthread_t thread;
    void *job; /* assigned and not yet finished; NULL when free */
};

struct slot_pool {
    struct slot_pool_ops ops;
    pthread_mutex_t lock;
    pthread_cond_t work;
    bool stopping;
    unsigned n_slots, busy;
    struct slot *slots;
    struct done_node *done_head, *done_tail;
};

static void *slot_main(void *arg)
{
    struct slot *slot = arg;
    struct slot_pool *pool = slot->pool;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!slot->job && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        if (!slot->job)
            break;
        void *job = slot->job;
        pthread_mutex_unlock(&pool->lock);

        pool->ops.run(job, pool->ops.run_ctx);
        struct done_node *node = malloc(sizeof(*node));

        pthread_mutex_lock(&pool->lock);
        /* Without memory the job is still finished: run() recorded its outcome,
         * and the queue node is the only thing lost; abort rather than lose it. */
        if (!node)
            abort();
        *node = (struct done_node){.job = job};
        if (pool->done_tail)
            pool->done_tail->next = node;
        else
            pool->done_head = node;
        pool->done_tail = node;
        slot->job = NULL;
        pool->busy--;
        pthread_mutex_unlock(&pool->lock);
        pool->ops.wake(pool->ops.wake_ctx);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int slot_pool_start(unsigned n_slots, const struct slot_pool_ops *ops, struct slot_pool **out)
{
    struct slot_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return -1;
    pool->ops = *ops;
    pool->slots = calloc(n_slots, sizeof(*pool->slots));
    if (!pool->slots) {
        free(pool);
        return -1;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    for (unsigned i = 0; i < n_slots; i++) {
        pool->slots[i].pool = pool;
        if (pthread_create(&pool->slots[i].thread, NULL, slot_main, &pool->slots[i]) != 0) {
            pool->n_slots = i;
            slot_pool_stop(pool);
            slot_pool_free(pool);
            return -1;
        }
    }
    pool->n_slots = n_slots;
    *out = pool;
    return 0;
}

bool slot_pool_submit(struct slot_pool *pool, void *job)
{
    bool taken = false;
    pthread_mutex_lock(&pool->lock);
    for (unsigned i = 0; i < pool->n_slots && !taken; i++) {
        if (!pool->slots[i].job) {
            pool->slots[i].job = job;
            pool->busy++;
            taken = true;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    /* Every idle slot waits on one condition; waking all lets the one with
     * the job find it (slot counts are small, so the thundering herd is too). */
    if (taken)
        pthread_cond_broadcast(&pool->work);
    return taken;
}

unsigned slot_pool_busy(struct slot_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    unsigned busy = pool->busy;
    pthread_mutex_unlock(&pool->lock);
    return busy;
}

unsigned slot_pool_size(const struct slot_pool *pool)
{
    return pool->n_slots;
}

void *slot_pool_take_done(struct slot_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    struct done_node *node = pool->done_head;
    if (node) {
        pool->done_head = node->next;
        if (!pool->done_head)
            pool->done_tail = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!node)
        return NULL;
    void *job = node->job;
    free(node);
    return job;
}

void slot_pool_stop(struct slot_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_mutex_unlock(&pool->lock);
    pthread_cond_broadcast(&pool->work);
    for (unsigned i = 0; i < pool->n_slots; i++)
        pthread_join(pool->slots[i].thread, NULL);
    pool->n_slots = 0;
}

void slot_pool_free(struct slot_pool *pool)
{
    if (!pool)
        return;
    while (pool->done_head) {
        struct done_node *next = pool->done_head->next;
        free(pool->done_head);
        pool->done_head = next;
    }
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->work);
    free(pool->slots);
    free(pool);
}
