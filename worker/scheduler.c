#include "worker/scheduler.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Leaders (pending or running jobs) by id. A power of two; ids in flight are
 * bounded by the backlog plus the slots, so chains stay short. */
#define BUCKETS 4096

struct scheduler {
    struct sched_limits limits;
    struct task *head, *tail; /* pending leaders, oldest first */
    unsigned n_pending, n_followers;
    uint64_t waiting_bytes; /* of pending leaders and followers */
    struct task **running;  /* leaders in slots, unordered */
    unsigned n_running, running_capacity;
    struct task *buckets[BUCKETS];
};

struct scheduler *sched_new(const struct sched_limits *limits)
{
    struct scheduler *s = calloc(1, sizeof(*s));
    if (s)
        s->limits = *limits;
    return s;
}

void sched_free(struct scheduler *s)
{
    if (!s)
        return;
    free(s->running);
    free(s);
}

/* A task starts or stops waiting: the backlog's bytes, and its account. */
static void wait_begin(struct scheduler *s, struct task *task)
{
    s->waiting_bytes += task->raw_len;
    if (task->account) {
        task->account->waiting++;
        task->account->waiting_bytes += task->raw_len;
    }
}

static void wait_end(struct scheduler *s, struct task *task)
{
    s->waiting_bytes -= task->raw_len;
    if (task->account) {
        task->account->waiting--;
        task->account->waiting_bytes -= task->raw_len;
    }
}

static bool has_session(const struct task *task)
{
    return task->job.session && task->job.session[0];
}

static struct task **bucket(struct scheduler *s, const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &s->buckets[h & (BUCKETS - 1)];
}

static struct task *leader_of(struct scheduler *s, const char *id)
{
    for (struct task *t = *bucket(s, id); t; t = t->sched.next_in_bucket)
        if (strcmp(t->job.id, id) == 0)
            return t;
    return NULL;
}

static void index_leader(struct scheduler *s, struct task *task)
{
    struct task **b = bucket(s, task->job.id);
    task->sched.next_in_bucket = *b;
    *b = task;
}

static void unindex_leader(struct scheduler *s, struct task *task)
{
    for (struct task **link = bucket(s, task->job.id); *link; link = &(*link)->sched.next_in_bucket)
        if (*link == task) {
            *link = task->sched.next_in_bucket;
            task->sched.next_in_bucket = NULL;
            return;
        }
    assert(!"a leader is always in the index");
}

static void queue_insert_after(struct scheduler *s, struct task *prev, struct task *task)
{
    task->sched.prev = prev;
    task->sched.next = prev ? prev->sched.next : s->head;
    if (task->sched.next)
        task->sched.next->sched.prev = task;
    else
        s->tail = task;
    if (prev)
        prev->sched.next = task;
    else
        s->head = task;
    s->n_pending++;
}

static void queue_remove(struct scheduler *s, struct task *task)
{
    if (task->sched.prev)
        task->sched.prev->sched.next = task->sched.next;
    else
        s->head = task->sched.next;
    if (task->sched.next)
        task->sched.next->sched.prev = task->sched.prev;
    else
        s->tail = task->sched.prev;
    task->sched.prev = task->sched.next = NULL;
    s->n_pending--;
}

enum sched_added sched_add(struct scheduler *s, struct task *task)
{
    struct task *leader = leader_of(s, task->job.id);
    task->stage = TASK_PENDING;
    wait_begin(s, task);
    if (leader) {
        struct task **link = &leader->sched.followers;
        while (*link)
            link = &(*link)->sched.next_follower;
        *link = task;
        task->sched.next_follower = NULL;
        task->sched.follower = true;
        s->n_followers++;
        return SCHED_FOLLOWS;
    }
    task->sched.follower = false;
    task->sched.followers = NULL;
    queue_insert_after(s, s->tail, task);
    index_leader(s, task);
    return SCHED_QUEUED;
}

static bool session_running(const struct scheduler *s, const char *session)
{
    for (unsigned i = 0; i < s->n_running; i++)
        if (has_session(s->running[i]) && strcmp(s->running[i]->job.session, session) == 0)
            return true;
    return false;
}

static bool held_back(const struct scheduler *s, const struct task *task)
{
    return (has_session(task) && session_running(s, task->job.session)) ||
           (s->limits.may_start && !s->limits.may_start(task, s->limits.may_start_ctx));
}

struct task *sched_next(struct scheduler *s)
{
    struct task *task = s->head;
    while (task && held_back(s, task))
        task = task->sched.next;
    if (!task)
        return NULL;
    if (s->n_running == s->running_capacity) {
        unsigned capacity = s->running_capacity ? s->running_capacity * 2 : 16;
        struct task **grown = realloc(s->running, capacity * sizeof(*grown));
        if (!grown)
            return NULL; /* tried again next turn */
        s->running = grown;
        s->running_capacity = capacity;
    }
    queue_remove(s, task);
    wait_end(s, task);
    s->running[s->n_running++] = task;
    if (task->account)
        task->account->running++;
    task->stage = TASK_RUNNING;
    return task;
}

/* Detaches a leader's followers, linked through ->next in arrival order. */
static struct task *take_followers(struct scheduler *s, struct task *leader)
{
    struct task *list = NULL, **tail = &list;
    for (struct task *f = leader->sched.followers, *next; f; f = next) {
        next = f->sched.next_follower;
        f->sched.next_follower = NULL;
        f->sched.follower = false;
        s->n_followers--;
        wait_end(s, f);
        task_append(&tail, f);
    }
    leader->sched.followers = NULL;
    return list;
}

struct task *sched_finish(struct scheduler *s, struct task *task)
{
    unsigned i = 0;
    while (i < s->n_running && s->running[i] != task)
        i++;
    assert(i < s->n_running && "only a running job finishes");
    s->running[i] = s->running[--s->n_running];
    if (task->account)
        task->account->running--;
    unindex_leader(s, task);
    return take_followers(s, task);
}

/* Takes out the followers of leader that keep_fn does not keep. */
static void take_followers_unless(struct scheduler *s, struct task *leader,
                                  bool (*keep_fn)(const struct task *, void *), void *ctx,
                                  struct task ***tail)
{
    struct task **link = &leader->sched.followers;
    while (*link) {
        struct task *f = *link;
        if (keep_fn(f, ctx)) {
            link = &f->sched.next_follower;
            continue;
        }
        *link = f->sched.next_follower;
        f->sched.next_follower = NULL;
        f->sched.follower = false;
        s->n_followers--;
        wait_end(s, f);
        task_append(tail, f);
    }
}

struct task *sched_take_unless(struct scheduler *s, bool (*keep_fn)(const struct task *, void *),
                               void *ctx)
{
    struct task *taken = NULL, **tail = &taken;
    for (unsigned i = 0; i < s->n_running; i++)
        take_followers_unless(s, s->running[i], keep_fn, ctx, &tail);
    for (struct task *task = s->head, *next; task; task = next) {
        next = task->sched.next;
        take_followers_unless(s, task, keep_fn, ctx, &tail);
        if (keep_fn(task, ctx))
            continue;
        struct task *heir = task->sched.followers;
        struct task *prev = task->sched.prev;
        queue_remove(s, task);
        wait_end(s, task);
        unindex_leader(s, task);
        task->sched.followers = NULL;
        task_append(&tail, task);
        if (heir) {
            heir->sched.followers = heir->sched.next_follower;
            heir->sched.next_follower = NULL;
            heir->sched.follower = false;
            s->n_followers--;
            queue_insert_after(s, prev, heir);
            index_leader(s, heir);
        }
    }
    return taken;
}

struct task *sched_find(struct scheduler *s, const char *id)
{
    return leader_of(s, id);
}

void sched_for_each_running(struct scheduler *s, void (*fn)(struct task *task, void *ctx),
                            void *ctx)
{
    for (unsigned i = 0; i < s->n_running; i++)
        fn(s->running[i], ctx);
}

unsigned sched_pending(const struct scheduler *s)
{
    return s->n_pending;
}

unsigned sched_running(const struct scheduler *s)
{
    return s->n_running;
}

unsigned sched_waiting(const struct scheduler *s)
{
    return s->n_pending + s->n_followers;
}

bool sched_wants_pause(const struct scheduler *s, bool paused)
{
    unsigned jobs = s->n_pending + s->n_followers;
    if (jobs >= s->limits.jobs || s->waiting_bytes >= s->limits.bytes)
        return true;
    if (paused)
        return !(jobs <= s->limits.jobs / 2 && s->waiting_bytes <= s->limits.bytes / 2);
    return false;
}
