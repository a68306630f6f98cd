/* libbrig against a real Kafka protocol: the embedded mock broker runs in
 * this process, and a stand-in worker thread answers each job with a result
 * whose stdout is the job's code (and, when asked, log chunks sent out of
 * order, twice, and from an abandoned attempt). It checks what only a live
 * broker shows: one consumer serving many concurrent waits, reading from
 * the end without missing a fast result, private reply topics, ordered
 * logs, batches that submit nothing when one job is bad, and an unreachable
 * broker reported in time. */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>

#include "producer/brig.h"
#include "worker/broker.h"
#include "common/common.h"

#define PARTITIONS 3
#define WAIT_MS 30000 /* generous: a loaded machine must not fail the test */

static struct embedded_broker *broker;
static const char *bootstraps;
static pthread_t worker_thread;
static atomic_bool worker_stop;
static atomic_int jobs_seen;
static char err[1024];

/* ---- the stand-in worker ---- */

static void produce(rd_kafka_t *producer, const char *topic, const char *key,
                    const msgpack_sbuffer *value)
{
    rd_kafka_resp_err_t e =
        rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(value->data, value->size),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e)
        fprintf(stderr, "stand-in worker: producing to %s: %s\n", topic, rd_kafka_err2str(e));
}

static void send_chunk(rd_kafka_t *producer, const char *id, uint64_t attempt,
                       enum brig_stream stream, uint64_t seq, const char *data, bool eos)
{
    struct brig_log_chunk chunk = {
        .id = id,
        .attempt = attempt,
        .stream = stream,
        .seq = seq,
        .data = {data, strlen(data)},
        .ts_ms = 1700000000000,
        .eos = eos,
    };
    msgpack_sbuffer buf;
    struct brig_error error;
    msgpack_sbuffer_init(&buf);
    if (brig_log_chunk_encode(&chunk, &buf, &error) == 0)
        produce(producer, "brig.logs", id, &buf);
    msgpack_sbuffer_destroy(&buf);
}

/* The logs of a job retried after a crash, as a reader may see them: the
 * abandoned attempt's chunk, then attempt 2 out of order and repeated. */
static void send_logs(rd_kafka_t *producer, const char *id)
{
    send_chunk(producer, id, 1, BRIG_STREAM_STDOUT, 0, "stale ", false);
    send_chunk(producer, id, 2, BRIG_STREAM_STDOUT, 1, "b", false);
    send_chunk(producer, id, 2, BRIG_STREAM_STDOUT, 0, "a", false);
    send_chunk(producer, id, 2, BRIG_STREAM_STDERR, 0, "E", false);
    send_chunk(producer, id, 2, BRIG_STREAM_STDOUT, 1, "b", false);
    send_chunk(producer, id, 1, BRIG_STREAM_STDOUT, 1, "stale", false);
    send_chunk(producer, id, 2, BRIG_STREAM_STDOUT, 2, "", true);
    send_chunk(producer, id, 2, BRIG_STREAM_STDERR, 1, "", true);
}

static void answer(rd_kafka_t *producer, const rd_kafka_message_t *m)
{
    struct brig_job job;
    struct brig_error error;
    if (brig_job_decode(m->payload, m->len, &job, &error) < 0) {
        fprintf(stderr, "stand-in worker: bad job: %s: %s\n", error.field, error.reason);
        return;
    }
    atomic_fetch_add(&jobs_seen, 1);
    if (job.stream_logs)
        send_logs(producer, job.id);
    struct brig_result result = {
        .id = job.id,
        .attempt = job.stream_logs ? 2 : 1,
        .status = BRIG_STATUS_OK,
        .has_exit_code = true,
        .stdout_data = job.code.data ? job.code : (struct brig_bytes){"", 0},
        .session = job.session,
        .replay_of = job.replay_of,
    };
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (brig_result_encode(&result, &buf, &error) == 0)
        produce(producer, job.reply_topic ? job.reply_topic : "brig.results", job.id, &buf);
    msgpack_sbuffer_destroy(&buf);
    brig_job_free(&job);
}

static rd_kafka_t *kafka(rd_kafka_type_t type)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char why[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, why, sizeof why);
    rd_kafka_conf_set(conf, "log_level", "2", why, sizeof why);
    if (type == RD_KAFKA_CONSUMER)
        rd_kafka_conf_set(conf, "group.id", "stand-in-worker", why, sizeof why);
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
    if (!rk)
        fprintf(stderr, "stand-in worker: %s\n", why);
    return rk;
}

static void *run_worker(void *arg)
{
    (void)arg;
    rd_kafka_t *consumer = kafka(RD_KAFKA_CONSUMER), *producer = kafka(RD_KAFKA_PRODUCER);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, "brig.jobs", p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    while (!atomic_load(&worker_stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 50);
        if (m && !m->err)
            answer(producer, m);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_poll(producer, 0);
    }
    rd_kafka_flush(producer, 5000);
    rd_kafka_destroy(producer);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return NULL;
}

static int start(void **state)
{
    (void)state;
    const char *topics[] = {"brig.jobs", "brig.results", "brig.logs", "brig.dlq"};
    const struct broker_gate_config gate = {.topic = "brig.jobs", .group = "brig-workers"};
    if (embedded_broker_start(1, topics, 4, PARTITIONS, &gate, &broker, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    bootstraps = embedded_broker_bootstraps(broker);
    return pthread_create(&worker_thread, NULL, run_worker, NULL) == 0 ? 0 : -1;
}

static int stop(void **state)
{
    (void)state;
    atomic_store(&worker_stop, true);
    pthread_join(worker_thread, NULL);
    embedded_broker_stop(broker);
    return 0;
}

/* ---- helpers ---- */

static struct brig_client *client_with(struct brig_client_config config)
{
    struct brig_client *client;
    config.brokers = bootstraps;
    if (brig_client_new(&config, &client, err, sizeof err) < 0)
        fail_msg("brig_client_new: %s", err);
    return client;
}

static struct brig_job python(const char *code)
{
    return (struct brig_job){.runtime = "python", .code = {code, strlen(code)}};
}

static void assert_stdout(const struct brig_result *r, const char *expected)
{
    assert_non_null(r->id);
    assert_int_equal(r->stdout_data.len, strlen(expected));
    assert_memory_equal(r->stdout_data.data, expected, r->stdout_data.len);
}

/* ---- tests ---- */

static void test_submit_and_wait(void **state)
{
    (void)state;
    struct brig_client *client = client_with((struct brig_client_config){0});
    struct brig_job job = python("print(1)");
    job.session = "session-a";
    char id[BRIG_ID_SIZE];
    struct brig_result result;
    assert_int_equal(brig_submit(client, &job, id, err, sizeof err), 0);
    assert_int_equal(strlen(id), 24);
    assert_int_equal(brig_wait(client, id, WAIT_MS, &result, err, sizeof err), 0);
    assert_string_equal(result.id, id);
    assert_string_equal(result.session, "session-a");
    assert_stdout(&result, "print(1)");
    brig_result_free(&result);
    /* taken: the same id is not answered twice */
    assert_int_equal(brig_wait(client, id, 300, &result, err, sizeof err), BRIG_TIMED_OUT);
    assert_non_null(strstr(err, "no result for job"));
    brig_client_free(client);
}

#define WAITERS 8
#define JOBS_PER_WAITER 6

struct waiter {
    struct brig_client *client;
    char ids[JOBS_PER_WAITER][BRIG_ID_SIZE];
    int index;
    int matched;
};

static void *wait_for_mine(void *arg)
{
    struct waiter *w = arg;
    char why[256];
    for (int j = JOBS_PER_WAITER - 1; j >= 0; j--) {
        struct brig_result result;
        char expected[32];
        if (brig_wait(w->client, w->ids[j], WAIT_MS, &result, why, sizeof why) != 0)
            continue;
        snprintf(expected, sizeof expected, "job %d.%d", w->index, j);
        if (strcmp(result.id, w->ids[j]) == 0 && result.stdout_data.len == strlen(expected) &&
            memcmp(result.stdout_data.data, expected, result.stdout_data.len) == 0)
            w->matched++;
        brig_result_free(&result);
    }
    return NULL;
}

/* One consumer, many threads waiting at once, each for its own jobs. */
static void test_many_concurrent_waits(void **state)
{
    (void)state;
    struct brig_client *client = client_with((struct brig_client_config){0});
    struct waiter waiters[WAITERS];
    pthread_t threads[WAITERS];
    char codes[WAITERS][JOBS_PER_WAITER][32];
    for (int i = 0; i < WAITERS; i++) {
        waiters[i] = (struct waiter){.client = client, .index = i};
        for (int j = 0; j < JOBS_PER_WAITER; j++) {
            snprintf(codes[i][j], sizeof codes[i][j], "job %d.%d", i, j);
            struct brig_job job = python(codes[i][j]);
            assert_int_equal(brig_submit(client, &job, waiters[i].ids[j], err, sizeof err), 0);
        }
    }
    for (int i = 0; i < WAITERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, wait_for_mine, &waiters[i]), 0);
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(waiters[i].matched, JOBS_PER_WAITER);
    }
    brig_client_free(client);
}

static void test_wait_many_reports_the_missing(void **state)
{
    (void)state;
    struct brig_client *client = client_with((struct brig_client_config){0});
    char a[BRIG_ID_SIZE], b[BRIG_ID_SIZE];
    struct brig_job job_a = python("A"), job_b = python("B");
    assert_int_equal(brig_submit(client, &job_a, a, err, sizeof err), 0);
    assert_int_equal(brig_submit(client, &job_b, b, err, sizeof err), 0);
    const char *ids[] = {a, "never-submitted", b};
    struct brig_result results[3];
    assert_int_equal(brig_wait_many(client, ids, 3, 3000, results, err, sizeof err),
                     BRIG_TIMED_OUT);
    assert_non_null(strstr(err, "1 of 3 jobs had no result"));
    assert_stdout(&results[0], "A");
    assert_null(results[1].id);
    assert_stdout(&results[2], "B");
    for (int i = 0; i < 3; i++)
        brig_result_free(&results[i]);
    brig_client_free(client);
}

/* A result already on the topic is not read from the end, and is from the
 * beginning when its id is watched from the start. */
static void test_start_positions(void **state)
{
    (void)state;
    struct brig_client *first = client_with((struct brig_client_config){0});
    char id[BRIG_ID_SIZE];
    struct brig_job job = python("earlier");
    struct brig_result result;
    assert_int_equal(brig_submit(first, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(first, id, WAIT_MS, &result, err, sizeof err), 0);
    brig_result_free(&result);
    brig_client_free(first);

    struct brig_client *from_end = client_with((struct brig_client_config){0});
    assert_int_equal(brig_wait(from_end, id, 1500, &result, err, sizeof err), BRIG_TIMED_OUT);
    brig_client_free(from_end);

    const char *watch[] = {id};
    struct brig_client *from_start = client_with((struct brig_client_config){
        .start = BRIG_START_BEGINNING, .watch_ids = watch, .n_watch_ids = 1});
    assert_int_equal(brig_wait(from_start, id, WAIT_MS, &result, err, sizeof err), 0);
    assert_stdout(&result, "earlier");
    brig_result_free(&result);
    brig_client_free(from_start);
}

/* A private reply topic is created on first use and only its client reads
 * it. */
static void test_private_reply_topic(void **state)
{
    (void)state;
    struct brig_client *mine =
        client_with((struct brig_client_config){.reply_topic = "brig.results.client-1"});
    struct brig_client *shared = client_with((struct brig_client_config){0});
    assert_string_equal(brig_client_reply_topic(mine), "brig.results.client-1");
    char id[BRIG_ID_SIZE];
    struct brig_job job = python("private");
    struct brig_result result;
    assert_int_equal(brig_submit(mine, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(mine, id, WAIT_MS, &result, err, sizeof err), 0);
    assert_stdout(&result, "private");
    brig_result_free(&result);
    assert_int_equal(brig_wait(shared, id, 1500, &result, err, sizeof err), BRIG_TIMED_OUT);

    /* A job that names another topic is sent, but not watched here. */
    job.reply_topic = "brig.results.someone-else";
    assert_int_equal(brig_submit(mine, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(mine, id, 1500, &result, err, sizeof err), BRIG_TIMED_OUT);
    brig_client_free(shared);
    brig_client_free(mine);
}

struct log_capture {
    pthread_mutex_t lock;
    char text[256];
    int chunks;
};

static void capture(void *ctx, const struct brig_log_chunk *chunk)
{
    struct log_capture *c = ctx;
    char word[64];
    pthread_mutex_lock(&c->lock);
    snprintf(word, sizeof word, "%llu%c%llu[%.*s]%s ", (unsigned long long)chunk->attempt,
             chunk->stream == BRIG_STREAM_STDERR ? 'e' : 'o', (unsigned long long)chunk->seq,
             (int)chunk->data.len, chunk->data.data, chunk->eos ? "$" : "");
    strncat(c->text, word, sizeof c->text - strlen(c->text) - 1);
    c->chunks++;
    pthread_mutex_unlock(&c->lock);
}

static void test_logs_in_order(void **state)
{
    (void)state;
    struct log_capture logs = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct brig_client *client =
        client_with((struct brig_client_config){.on_log = capture, .log_ctx = &logs});
    char id[BRIG_ID_SIZE];
    struct brig_job job = python("with logs");
    job.stream_logs = true;
    struct brig_result result;
    assert_int_equal(brig_submit(client, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(client, id, WAIT_MS, &result, err, sizeof err), 0);
    assert_int_equal(result.attempt, 2);
    brig_result_free(&result);
    /* the chunks may trail the result: they travel on another topic */
    int64_t deadline = monotonic_ms() + WAIT_MS;
    for (;;) {
        pthread_mutex_lock(&logs.lock);
        int n = logs.chunks;
        pthread_mutex_unlock(&logs.lock);
        if (n >= 6 || monotonic_ms() > deadline)
            break;
        struct timespec pause = {0, 20000000};
        nanosleep(&pause, NULL);
    }
    assert_string_equal(logs.text, "1o0[stale ] 2o0[a] 2o1[b] 2e0[E] 2o2[]$ 2e1[]$ ");
    brig_client_free(client);

    /* The same chunks, read back from the beginning by brig_read_logs. */
    struct log_capture again = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct brig_client_config config = {.brokers = bootstraps};
    assert_int_equal(brig_read_logs(&config, id, false, WAIT_MS, capture, &again, err, sizeof err),
                     0);
    assert_string_equal(again.text, "1o0[stale ] 2o0[a] 2o1[b] 2e0[E] 2o2[]$ 2e1[]$ ");
    struct log_capture followed = {.lock = PTHREAD_MUTEX_INITIALIZER};
    assert_int_equal(
        brig_read_logs(&config, id, true, WAIT_MS, capture, &followed, err, sizeof err), 0);
    assert_string_equal(followed.text, again.text);
}

/* Publishes a message as a worker or a broken client would. */
static void publish(const char *topic, const char *key, const msgpack_sbuffer *value)
{
    rd_kafka_t *producer = kafka(RD_KAFKA_PRODUCER);
    produce(producer, topic, key, value);
    assert_int_equal(rd_kafka_flush(producer, WAIT_MS), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(producer);
}

static int read_logs(const char *prefix, const char *id, bool follow, int64_t timeout_ms,
                     struct log_capture *logs)
{
    struct brig_client_config config = {.brokers = bootstraps, .topic_prefix = prefix};
    err[0] = '\0';
    return brig_read_logs(&config, id, follow, timeout_ms, capture, logs, err, sizeof err);
}

static void assert_err_has(const char *words)
{
    if (!strstr(err, words))
        fail_msg("got \"%s\", wanted \"%s\"", err, words);
}

/* brig_read_logs says when there is nothing to wait for, with or without
 * follow, and waits only for a job that may still stream. */
static void test_read_logs_outcomes(void **state)
{
    (void)state;
    struct log_capture logs = {.lock = PTHREAD_MUTEX_INITIALIZER};
    for (int follow = 0; follow < 2; follow++) {
        assert_int_equal(read_logs(NULL, "no-such-job", follow, WAIT_MS, &logs),
                         BRIG_LOGS_UNKNOWN_JOB);
        assert_err_has("no job no-such-job on brig.jobs, brig.results or brig.logs");
    }

    /* Submitted without stream_logs: known from the job itself. */
    struct brig_client *client = client_with((struct brig_client_config){0});
    char id[BRIG_ID_SIZE];
    struct brig_job job = python("quiet");
    struct brig_result result;
    assert_int_equal(brig_submit(client, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(client, id, WAIT_MS, &result, err, sizeof err), 0);
    brig_result_free(&result);
    brig_client_free(client);
    for (int follow = 0; follow < 2; follow++) {
        assert_int_equal(read_logs(NULL, id, follow, WAIT_MS, &logs), BRIG_LOGS_NOT_STREAMED);
        assert_err_has("was submitted without stream_logs");
    }

    /* A job that does not decode, rejected on the reply topic it names. */
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    const char *fields[] = {"v",       "id",    "undecodable-1", "reply_topic", "brig.results.own",
                            "runtime", "python"};
    msgpack_pack_str_with_body(&pk, fields[0], 1);
    msgpack_pack_int(&pk, 1);
    for (int i = 1; i < 7; i++)
        msgpack_pack_str_with_body(&pk, fields[i], strlen(fields[i]));
    publish("brig.jobs", "undecodable-1", &buf);
    msgpack_sbuffer_clear(&buf);
    struct brig_result rejected = {.id = "undecodable-1",
                                   .attempt = 1,
                                   .status = BRIG_STATUS_REJECTED,
                                   .error = "code: missing"};
    struct brig_error error;
    assert_int_equal(brig_result_encode(&rejected, &buf, &error), 0);
    publish("brig.results.own", "undecodable-1", &buf);
    msgpack_sbuffer_destroy(&buf);
    assert_int_equal(read_logs(NULL, "undecodable-1", true, WAIT_MS, &logs),
                     BRIG_LOGS_NOT_STREAMED);
    assert_err_has("job undecodable-1 was rejected and never ran: code: missing");
    assert_int_equal(logs.chunks, 0);

    /* Queued where no worker reads: nothing yet, and -f waits for it. */
    client =
        client_with((struct brig_client_config){.topic_prefix = "queued", .submit_only = true});
    job.stream_logs = true;
    assert_int_equal(brig_submit(client, &job, id, err, sizeof err), 0);
    brig_client_free(client);
    assert_int_equal(read_logs("queued", id, false, WAIT_MS, &logs), 0);
    assert_int_equal(read_logs("queued", id, true, 1500, &logs), BRIG_LOGS_TIMED_OUT);
    assert_int_equal(logs.chunks, 0);
}

static void test_raw_and_batch_submissions(void **state)
{
    (void)state;
    struct brig_client *client = client_with((struct brig_client_config){0});
    struct brig_job job = python("raw bytes");
    job.id = "raw-job-1";
    msgpack_sbuffer buf;
    struct brig_error error;
    char id[BRIG_ID_SIZE];
    struct brig_result result;
    msgpack_sbuffer_init(&buf);
    assert_int_equal(brig_job_encode(&job, &buf, &error), 0);
    assert_int_equal(brig_submit_raw(client, buf.data, buf.size, id, err, sizeof err), 0);
    assert_string_equal(id, "raw-job-1");
    assert_int_equal(brig_wait(client, id, WAIT_MS, &result, err, sizeof err), 0);
    assert_stdout(&result, "raw bytes");
    brig_result_free(&result);
    assert_int_equal(brig_submit_raw(client, buf.data, buf.size - 1, id, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid job"));
    msgpack_sbuffer_destroy(&buf);

    /* One bad job: nothing of the batch is sent. */
    int seen = atomic_load(&jobs_seen);
    struct brig_job batch[3] = {python("one"), python("two"), python("three")};
    batch[0].id = "batch-never-1";
    batch[1].limits.wall_ms = 1; /* below the schema's minimum */
    char ids[3][BRIG_ID_SIZE];
    assert_int_equal(brig_submit_batch(client, batch, 3, ids, err, sizeof err), -1);
    assert_non_null(strstr(err, "job #2: invalid job: limits.wall_ms"));
    assert_int_equal(brig_wait(client, "batch-never-1", 1500, &result, err, sizeof err),
                     BRIG_TIMED_OUT);
    assert_int_equal(atomic_load(&jobs_seen), seen);

    batch[1].limits.wall_ms = 0;
    assert_int_equal(brig_submit_batch(client, batch, 3, ids, err, sizeof err), 0);
    assert_string_equal(ids[0], "batch-never-1");
    const char *wanted[] = {ids[0], ids[1], ids[2]};
    struct brig_result results[3];
    assert_int_equal(brig_wait_many(client, wanted, 3, WAIT_MS, results, err, sizeof err), 0);
    assert_stdout(&results[0], "one");
    assert_stdout(&results[1], "two");
    assert_stdout(&results[2], "three");
    for (int i = 0; i < 3; i++)
        brig_result_free(&results[i]);
    brig_client_free(client);
}

static void test_submit_only_client(void **state)
{
    (void)state;
    struct brig_client *client = client_with((struct brig_client_config){.submit_only = true});
    struct brig_job job = python("fire and forget");
    char id[BRIG_ID_SIZE];
    struct brig_result result;
    assert_int_equal(brig_submit(client, &job, id, err, sizeof err), 0);
    assert_int_equal(brig_wait(client, id, 100, &result, err, sizeof err), -1);
    assert_non_null(strstr(err, "submit_only"));
    brig_client_free(client);
}

static void test_unreachable_broker(void **state)
{
    (void)state;
    struct brig_client_config config = {.brokers = "127.0.0.1:1", .timeout_ms = 1000};
    struct brig_client *client;
    int64_t started = monotonic_ms();
    assert_int_equal(brig_client_new(&config, &client, err, sizeof err), -1);
    assert_null(client);
    assert_true(monotonic_ms() - started < 10000);
    assert_non_null(strstr(err, "cannot reach the Kafka broker at 127.0.0.1:1 within 1000 ms"));

    struct brig_client_config no_brokers = {0};
    assert_int_equal(brig_client_new(&no_brokers, &client, err, sizeof err), -1);
    assert_non_null(strstr(err, "brokers"));
    struct brig_client_config bad_prefix = {.brokers = bootstraps, .topic_prefix = "a b"};
    assert_int_equal(brig_client_new(&bad_prefix, &client, err, sizeof err), -1);
    assert_non_null(strstr(err, "topic prefix"));
}

/* A signing client's reply topic is its tenant's or under it; a tenant
 * without a key (or a key without a tenant) is refused before any I/O. */
static void test_tenant_settings_are_checked(void **state)
{
    (void)state;
    struct brig_client *client;
    char key[] = "/tmp/brig-test-key-XXXXXX";
    int fd = mkstemp(key);
    assert_true(fd >= 0);
    static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                              "-----END PRIVATE KEY-----\n";
    assert_int_equal(write(fd, pem, sizeof pem - 1), (ssize_t)(sizeof pem - 1));
    close(fd);
    struct brig_client_config other = {.brokers = "127.0.0.1:1",
                                       .tenant = "acme",
                                       .key_file = key,
                                       .reply_topic = "brig.results.acmex"};
    assert_int_equal(brig_client_new(&other, &client, err, sizeof err), -1);
    assert_non_null(strstr(err, "tenant acme's results come on brig.results.acme or a topic"));
    struct brig_client_config no_key = {.brokers = "127.0.0.1:1", .tenant = "acme", .key_file = ""};
    assert_int_equal(brig_client_new(&no_key, &client, err, sizeof err), -1);
    assert_non_null(strstr(err, "key_file: a tenant signs with its key"));
    /* A topic under its own passes these checks (and fails on the broker). */
    struct brig_client_config under = other;
    under.reply_topic = "brig.results.acme.agent1";
    under.timeout_ms = 1000;
    assert_int_equal(brig_client_new(&under, &client, err, sizeof err), -1);
    if (!strstr(err, "cannot reach the Kafka broker"))
        fail_msg("%s", err);
    unlink(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_and_wait),
        cmocka_unit_test(test_tenant_settings_are_checked),
        cmocka_unit_test(test_many_concurrent_waits),
        cmocka_unit_test(test_wait_many_reports_the_missing),
        cmocka_unit_test(test_start_positions),
        cmocka_unit_test(test_private_reply_topic),
        cmocka_unit_test(test_logs_in_order),
        cmocka_unit_test(test_read_logs_outcomes),
        cmocka_unit_test(test_raw_and_batch_submissions),
        cmocka_unit_test(test_submit_only_client),
        cmocka_unit_test(test_unreachable_broker),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
