#include "worker/task.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A copy of len bytes; never NULL for len 0, so that a copy is told apart
 * from a failed allocation. */
static void *copy_of(const void *data, size_t len)
{
    void *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, data, len);
    return copy;
}

struct task *task_new(int32_t partition, uint64_t generation, int64_t offset, int64_t received_ms,
                      const void *key, size_t key_len, const void *value, size_t len)
{
    struct task *task = calloc(1, sizeof(*task));
    if (!task)
        return NULL;
    task->stage = TASK_RECEIVED;
    task->cancel_fd = -1;
    task->partition = partition;
    task->generation = generation;
    task->offset = offset;
    task->received_ms = received_ms;
    msgpack_sbuffer_init(&task->result);
    msgpack_sbuffer_init(&task->dead_letter);
    task->raw = copy_of(value, len);
    task->raw_len = len;
    if (key) {
        task->key = copy_of(key, key_len);
        task->key_len = key_len;
    }
    if (!task->raw || (key && !task->key)) {
        task_free(task);
        return NULL;
    }
    return task;
}

void task_free(struct task *task)
{
    if (!task)
        return;
    if (task->cancel_fd >= 0)
        close(task->cancel_fd);
    brig_job_free(&task->job);
    egress_rules_free(&task->network_rules);
    msgpack_sbuffer_destroy(&task->result);
    msgpack_sbuffer_destroy(&task->dead_letter);
    free(task->raw);
    free(task->key);
    free(task);
}

void task_append(struct task ***tail, struct task *task)
{
    task->next = NULL;
    **tail = task;
    *tail = &task->next;
}
