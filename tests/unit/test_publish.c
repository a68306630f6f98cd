/* The publisher: delivery reports are served on the main loop's thread only,
 * even when slot threads find the producer's queue full (the broker down),
 * and answers that fail to arrive are produced again until they do; audit
 * records report each delivery, failed or not, to the audit feed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "worker/broker.h"
#include "worker/publish.h"

struct flood {
    struct publisher *p;
    int chunks;
    volatile int done;
};

/* A slot thread with a job that prints a lot. */
static void *flood_logs(void *arg)
{
    struct flood *flood = arg;
    struct log_origin origin = {.job_id = "noisy", .attempt = 1};
    for (int i = 0; i < flood->chunks; i++)
        publish_log_chunk(flood->p, &origin, BRIG_STREAM_STDOUT, "line\n", 5, false);
    __atomic_store_n(&flood->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static struct task *answer(const char *id)
{
    struct task *task = task_new(0, 1, 0, 1, NULL, 0, "x", 1);
    snprintf(task->job_id, sizeof(task->job_id), "%s", id);
    snprintf(task->reply_topic, sizeof(task->reply_topic), "t.results");
    msgpack_sbuffer_write(&task->result, "result", 6);
    return task;
}

/* What the audit feed would see: failures, then deliveries, by seq. */
struct audit_reports {
    int failed[3], delivered[3];
};

static void on_audit(void *ctx, int64_t seq, rd_kafka_resp_err_t err)
{
    struct audit_reports *r = ctx;
    if (seq >= 1 && seq <= 2)
        (err ? r->failed : r->delivered)[seq]++;
}

/* The whole story, in a child process: the publisher asserts that every
 * report runs on the thread that made it, so a report served by a slot
 * thread aborts the child. */
static int scenario(void)
{
    const char *topics[] = {"t.results", "t.logs", "t.dlq", "t.audit"};
    struct embedded_broker *broker;
    char err[512];
    if (embedded_broker_start(1, topics, 4, 1, NULL, &broker, err, sizeof(err)) < 0)
        return 10;
    struct property props[] = {
        {"queue.buffering.max.messages", "10"},
        {"message.timeout.ms", "300"},
    };
    struct worker_config config = {
        .brokers = (char *)embedded_broker_bootstraps(broker),
        .worker_id = "w",
        .properties = {.items = props, .count = ARRAY_SIZE(props)},
    };
    const struct publisher_topics names = {"t.results", "t.logs", "t.dlq", "t.audit"};
    struct publisher *p;
    struct audit_reports reports = {0};
    if (publisher_new(&config, &names, &p, err, sizeof(err)) < 0)
        return 11;
    publisher_on_audit(p, on_audit, &reports);

    embedded_broker_set_down(broker, -1, true);
    struct task *answers[3] = {answer("a"), answer("b"), answer("c")};
    for (int i = 0; i < 3; i++)
        if (publish_answer(p, answers[i]) < 0 || answers[i]->undelivered != 1)
            return 12;
    for (int seq = 1; seq <= 2; seq++)
        if (publisher_produce_audit(p, "a", "record", 6, seq) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return 14;

    /* While the slot floods the full queue, the main loop keeps polling, as
     * it does; the answers time out, fail and are produced again. */
    struct flood flood = {.p = p, .chunks = 200};
    pthread_t slot;
    pthread_create(&slot, NULL, flood_logs, &flood);
    struct task *delivered = NULL, **tail = &delivered;
    int64_t up_at = monotonic_ms() + 2000;
    bool up = false, again[3] = {false, false, false};
    int n_delivered = 0;
    int64_t give_up = monotonic_ms() + 30000;
    while ((n_delivered < 3 || !__atomic_load_n(&flood.done, __ATOMIC_ACQUIRE) ||
            !reports.delivered[1] || !reports.delivered[2] || again[1] || again[2]) &&
           monotonic_ms() < give_up) {
        publisher_poll(p, 10, &tail);
        /* The broker comes back once both audit records have failed: when
         * librdkafka times messages out is its own affair (its scan runs about
         * once a second), so a loaded machine may take longer than up_at. */
        if (!up && monotonic_ms() >= up_at && reports.failed[1] && reports.failed[2]) {
            embedded_broker_set_down(broker, -1, false);
            up = true;
            again[1] = again[2] = true;
        }
        /* The feed produces a failed record again, once the flood leaves
         * room in the queue. */
        for (int seq = 1; seq <= 2; seq++) {
            if (!again[seq])
                continue;
            rd_kafka_resp_err_t e = publisher_produce_audit(p, "a", "record", 6, seq);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return 15;
            again[seq] = e == RD_KAFKA_RESP_ERR__QUEUE_FULL;
        }
        n_delivered = 0;
        for (struct task *t = delivered; t; t = t->next)
            n_delivered++;
    }
    pthread_join(slot, NULL);
    if (n_delivered != 3 || publisher_failed(p))
        return 13;
    for (int i = 0; i < 3; i++)
        task_free(answers[i]);
    publisher_free(p);
    embedded_broker_stop(broker);
    return 0;
}

static void test_reports_only_on_the_main_thread(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(scenario());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the scenario died of signal %d (a report on a slot thread trips an assert)",
                 WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_only_on_the_main_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
