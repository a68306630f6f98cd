/* The Kafka settings that keep a call's wait short, as seen from outside.
 *
 * Every Kafka connection brig makes sends at once (TCP_NODELAY): the
 * embedded broker's side, libbrig's and the worker's. Under Nagle's
 * algorithm a message written while an earlier one is unacknowledged waits
 * for the peer's delayed ACK, 40 ms on Linux: a partition's watermark
 * offsets, two requests, took 40 ms instead of 0.1 ms from the embedded
 * broker. The sockets are this process's own, found in /proc/self/fd by
 * their addresses.
 *
 * A libbrig client of the embedded broker, which holds every empty fetch
 * for the consumer's whole fetch.wait.max.ms, waits briefly. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "producer/brig.h"
#include "producer/client_impl.h"
#include "worker/broker.h"
#include "worker/kafka.h"

#define FIND_MS 10000 /* how long a connection may take to show */

static struct embedded_broker *broker;
static const char *bootstraps;
static int broker_port;
static char err[1024];

static int start_broker(void **state)
{
    (void)state;
    const char *topics[] = {"t.jobs", "t.results", "t.logs", "t.control"};
    /* Through the gate, as the worker's clients reach it. */
    const struct broker_gate_config gate = {.topic = "t.jobs", .group = "t"};
    if (embedded_broker_start(1, topics, ARRAY_SIZE(topics), 1, &gate, &broker, err, sizeof err) <
        0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    bootstraps = embedded_broker_bootstraps(broker);
    const char *colon = strrchr(bootstraps, ':');
    broker_port = colon ? atoi(colon + 1) : 0;
    return broker_port > 0 ? 0 : -1;
}

static int stop_broker(void **state)
{
    (void)state;
    embedded_broker_stop(broker);
    return 0;
}

static int port_of(const struct sockaddr_in *a)
{
    return a->sin_family == AF_INET ? ntohs(a->sin_port) : -1;
}

/* This process's connected TCP sockets with an end at the broker's port:
 * its own end (the broker's side) when local, else the other (the
 * clients'). *nodelay counts those that send at once. */
static void count(bool local, int *found, int *nodelay)
{
    *found = *nodelay = 0;
    DIR *dir = opendir("/proc/self/fd");
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        int fd = atoi(e->d_name);
        struct sockaddr_in self, peer;
        socklen_t self_len = sizeof self, peer_len = sizeof peer;
        if (e->d_name[0] == '.' || fd == dirfd(dir) ||
            getsockname(fd, (struct sockaddr *)&self, &self_len) < 0 ||
            getpeername(fd, (struct sockaddr *)&peer, &peer_len) < 0 ||
            port_of(local ? &self : &peer) != broker_port)
            continue;
        int on = 0;
        socklen_t len = sizeof on;
        (*found)++;
        if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on)
            (*nodelay)++;
    }
    closedir(dir);
}

/* Waits for at least want connections, then checks they all send at once. */
static void expect_nodelay(bool local, int want)
{
    int found = 0, nodelay = 0;
    for (int64_t give_up = monotonic_ms() + FIND_MS; monotonic_ms() < give_up; usleep(10000)) {
        count(local, &found, &nodelay);
        if (found >= want)
            break;
    }
    assert_true(found >= want);
    assert_int_equal(nodelay, found);
}

static void test_the_embedded_broker_answers_at_once(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)broker_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_true(s >= 0);
    assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof to), 0);
    expect_nodelay(true, 1);
    close(s);
}

static void test_a_libbrig_client_sends_at_once(void **state)
{
    (void)state;
    struct brig_client_config config = {.brokers = bootstraps, .topic_prefix = "t"};
    struct brig_client *client;
    assert_int_equal(brig_client_new(&config, &client, err, sizeof err), 0);
    expect_nodelay(false, 2); /* its producer's and its consumer's */
    brig_client_free(client);
}

static void test_a_libbrig_client_of_the_embedded_broker_fetches_briefly(void **state)
{
    (void)state;
    struct brig_client_config config = {.brokers = bootstraps, .topic_prefix = "t"};
    struct brig_client *client;
    assert_int_equal(brig_client_new(&config, &client, err, sizeof err), 0);
    char wait[32];
    size_t size = sizeof wait;
    assert_int_equal(
        rd_kafka_conf_get(rd_kafka_conf(client->consumer), "fetch.wait.max.ms", wait, &size),
        RD_KAFKA_CONF_OK);
    assert_int_equal(atoi(wait), KAFKA_HELD_FETCH_WAIT_MS);
    brig_client_free(client);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)m, (void)opaque;
}

static void test_the_worker_sends_at_once(void **state)
{
    (void)state;
    struct worker_config config = {.brokers = (char *)bootstraps, .worker_id = "w"};
    rd_kafka_t *producer = kafka_producer_new(&config, on_delivery, NULL, err, sizeof err);
    assert_non_null(producer);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(producer, 1, NULL, &md, FIND_MS), 0);
    rd_kafka_metadata_destroy(md);
    expect_nodelay(false, 1);
    rd_kafka_destroy(producer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_embedded_broker_answers_at_once),
        cmocka_unit_test(test_a_libbrig_client_sends_at_once),
        cmocka_unit_test(test_the_worker_sends_at_once),
        cmocka_unit_test(test_a_libbrig_client_of_the_embedded_broker_fetches_briefly),
    };
    return cmocka_run_group_tests(tests, start_broker, stop_broker);
}
