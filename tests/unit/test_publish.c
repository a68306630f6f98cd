/* The publisher: delivery reports are served on the main loop's thread only,
 * even when slot threads find the producer's queue full (the broker down),
 * and answers that fail to arrive are produced again until they do; audit
 * records report each delivery, failed or not, to the audit feed. A dead
 * letter the broker refuses for its size is produced again with its data cut
 * short, and left out when even that is refused, never produced again as it
 * was for ever. */
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

#include <librdkafka/rdkafka_mock.h>

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

/* The whole story, run in a child process (run_in_child). */
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

/* A dead letter with no recoverable id, so no result: the refusals the
 * broker is told to make are all its own. */
static struct task *dead_letter(const char *key, size_t data_len)
{
    char *data = calloc(1, data_len);
    struct task *task = task_new(0, 1, 7, 1, key, strlen(key), data, data_len);
    struct brig_dead_letter letter = {
        .data = {.data = data, .len = data_len},
        .topic = "t.jobs",
        .offset = 7,
        .key = {.data = key, .len = strlen(key)},
        .reason = "trailing bytes",
        .received_ms = 1,
        .worker_id = "w",
    };
    struct brig_error err;
    if (brig_dead_letter_encode(&letter, &task->dead_letter, &err) < 0)
        fail_msg("encoding the dead letter: %s: %s", err.field, err.reason);
    free(data);
    return task;
}

/* Polls until task is reported delivered, or 30 s have passed. */
static bool delivered(struct publisher *p, struct task *task)
{
    int64_t give_up = monotonic_ms() + 30000;
    struct task *done = NULL, **tail = &done;
    while (!done && monotonic_ms() < give_up)
        publisher_poll(p, 10, &tail);
    return done == task && !task->next;
}

/* The dead letters on t.dlq[0], in order; returns how many (at most max). */
static int read_dead_letters(const char *bootstraps, struct brig_dead_letter *out, int max)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "reader", err, sizeof(err));
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "t.dlq", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    int64_t give_up = monotonic_ms() + 5000;
    while (n < max && monotonic_ms() < give_up) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 50);
        struct brig_error derr;
        if (m && !m->err && brig_dead_letter_decode(m->payload, m->len, &out[n], &derr) == 0)
            n++;
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return n;
}

/* A mock cluster whose errors a test chooses (the embedded broker's are not
 * its to set), t.results led by broker 1 and t.dlq by the last one, and a
 * publisher on it. */
struct mock {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *cluster;
    struct worker_config config;
    struct publisher *p;
};

static int mock_start(struct mock *m, int brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    m->host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    m->cluster = m->host ? rd_kafka_mock_cluster_new(m->host, brokers) : NULL;
    if (!m->cluster || rd_kafka_mock_topic_create(m->cluster, "t.dlq", 1, 1) ||
        rd_kafka_mock_topic_create(m->cluster, "t.results", 1, 1) ||
        rd_kafka_mock_partition_set_leader(m->cluster, "t.results", 0, 1) ||
        rd_kafka_mock_partition_set_leader(m->cluster, "t.dlq", 0, brokers))
        return -1;
    m->config = (struct worker_config){
        .brokers = (char *)rd_kafka_mock_cluster_bootstraps(m->cluster),
        .worker_id = "w",
    };
    const struct publisher_topics names = {"t.results", "t.logs", "t.dlq", NULL};
    return publisher_new(&m->config, &names, &m->p, err, sizeof(err));
}

static void mock_stop(struct mock *m)
{
    publisher_free(m->p);
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->host);
}

static int size_scenario(void)
{
    struct mock m;
    if (mock_start(&m, 1) < 0)
        return 20;
    struct publisher *p = m.p;
    rd_kafka_mock_cluster_t *cluster = m.cluster;

    /* Refused whole, then refused with its first 512 KiB: it arrives
     * without data, and says that it was cut. */
    struct task *cut = dead_letter("k1", 600 << 10);
    rd_kafka_mock_push_request_errors(cluster, 0 /* Produce */, 2,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    if (publish_answer(p, cut) < 0 || cut->undelivered != 1 || !delivered(p, cut))
        return 22;
    /* Refused even without data: left out, the task released all the same. */
    struct task *left_out = dead_letter("k2", 100);
    rd_kafka_mock_push_request_errors(cluster, 0 /* Produce */, 2,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    if (publish_answer(p, left_out) < 0 || !delivered(p, left_out) || publisher_failed(p))
        return 23;
    /* A third, to show that the second was left out rather than late. */
    struct task *last = dead_letter("k3", 100);
    if (publish_answer(p, last) < 0 || !delivered(p, last))
        return 24;

    struct brig_dead_letter letters[3];
    int n = read_dead_letters(m.config.brokers, letters, 3);
    if (n != 2)
        return 25;
    if (letters[0].data.len != 0 || !letters[0].data_truncated || letters[0].offset != 7 ||
        letters[0].key.len != 2 || memcmp(letters[0].key.data, "k1", 2) != 0)
        return 26;
    if (letters[1].data.len != 100 || letters[1].data_truncated ||
        memcmp(letters[1].key.data, "k3", 2) != 0)
        return 27;
    for (int i = 0; i < n; i++)
        brig_dead_letter_free(&letters[i]);
    task_free(cut);
    task_free(left_out);
    task_free(last);
    mock_stop(&m);
    return 0;
}

/* A dead letter left out in the poll that also reports another task
 * delivered: both tasks come back (the redo once lost the other). */
static int same_poll_scenario(void)
{
    struct mock m;
    if (mock_start(&m, 2) < 0)
        return 30;
    struct task *result = answer("r");
    struct task *left_out = dead_letter("k", 0);
    rd_kafka_mock_broker_push_request_error_rtts(m.cluster, 2, 0 /* Produce */, 1,
                                                 RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0);
    if (publish_answer(m.p, result) < 0 || publish_answer(m.p, left_out) < 0)
        return 31;
    /* Both reports queue up meanwhile, for one poll to serve; on a machine
     * too slow for that the test proves nothing, and still passes. */
    sleep(1);
    struct task *done = NULL, **tail = &done;
    int n = 0;
    int64_t give_up = monotonic_ms() + 10000;
    while (n < 2 && monotonic_ms() < give_up) {
        publisher_poll(m.p, 10, &tail);
        n = 0;
        for (struct task *t = done; t; t = t->next)
            n++;
    }
    if (n != 2)
        return 32;
    task_free(result);
    task_free(left_out);
    mock_stop(&m);
    return 0;
}

/* Each scenario runs in a child process: the publisher asserts that every
 * report runs on the thread that made it, so a report served by a slot
 * thread aborts the child. */
static void run_in_child(int (*scenario_of)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(scenario_of());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the scenario died of signal %d (a report on a slot thread trips an assert)",
                 WTERMSIG(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_reports_only_on_the_main_thread(void **state)
{
    (void)state;
    run_in_child(scenario);
}

static void test_a_dead_letter_refused_for_its_size_is_cut(void **state)
{
    (void)state;
    run_in_child(size_scenario);
}

static void test_a_left_out_dead_letter_loses_no_other_task(void **state)
{
    (void)state;
    run_in_child(same_poll_scenario);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_only_on_the_main_thread),
        cmocka_unit_test(test_a_dead_letter_refused_for_its_size_is_cut),
        cmocka_unit_test(test_a_left_out_dead_letter_loses_no_other_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
