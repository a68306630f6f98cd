/* What broker_gate.c (connections, sockets, the thread) and gate_relay.c
 * (the Kafka requests and answers) share. */
#ifndef BRIG_WORKER_GATE_IMPL_H
#define BRIG_WORKER_GATE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/broker_gate.h"
#include "worker/gate_ledger.h"
#include "worker/gate_wire.h"

#define BROKERS_MAX 16
/* Kafka's own bound on a request (socket.request.max.bytes) is 100 MiB; a
 * job is at most 16 MiB, and a Produce holds a few. */
#define FRAME_MAX (64u << 20)
/* A side stops reading while the other side has this much left to write. */
#define BACKLOG_HIGH (32u << 20)
#define READ_CHUNK (256u << 10)
/* A refused partition is logged at most this often. */
#define REFUSAL_LOG_MS 10000

struct buf {
    uint8_t *data;
    size_t off, len, cap; /* unconsumed bytes: data[off, len) */
};

struct conn;

struct side {
    int fd;
    bool is_client, closed;
    uint32_t events; /* what epoll watches it for */
    struct conn *conn;
    struct buf in, out;
};

/* A request the client is owed an answer to, in the order it sent them. */
struct pending {
    struct pending *next;
    int32_t correlation_id;
    int16_t api_key, version;
    /* A forwarded Produce's sets to the jobs topic, by partition. */
    struct gate_entry *sets;
    size_t n_sets;
    /* A forwarded OffsetCommit of the group to the jobs topic. */
    struct gate_entry *commits;
    size_t n_commits;
    /* The gate's own answer, sent when it reaches the head. */
    uint8_t *reply;
    size_t reply_len;
    /* A Produce with acks=0: the mock answers it anyway (it ignores acks),
     * but its client expects nothing, so the answer stops here. */
    bool unanswered;
};

struct conn {
    struct broker_gate *gate;
    struct side client, broker;
    bool connecting, dead;
    struct pending *head, **tail;
    struct conn *prev, *next;
};

struct listener {
    int fd;
    int32_t port, upstream_port;
};

struct broker_gate {
    struct broker_gate_config config;
    char *topic, *group;
    struct gate_ledger *ledger;
    int epfd, wakefd;
    pthread_t thread;
    bool started;
    struct listener listeners[BROKERS_MAX];
    size_t n;
    struct conn *conns;
    /* Connections ended while handling a batch of events, which may still
     * name them: freed after it. */
    struct conn *dead;
    char bootstraps[BROKERS_MAX * 24];
    int64_t *logged_ms; /* per partition: the last refusal logged */
    size_t n_logged;
};

int gate_buf_append(struct buf *b, const void *data, size_t len);
size_t gate_buf_pending(const struct buf *b);
uint32_t gate_load_be32(const uint8_t *at);
void gate_pending_free(struct pending *p);
/* Whether an answer from the broker is still owed to c's client. */
bool gate_has_forwarded(const struct conn *c);
/* The broker port's gate port (Metadata and FindCoordinator answers). */
int32_t gate_port_of(int32_t upstream, void *ctx);

/* A whole request from the client, or answer from the broker; -1 ends the
 * connection. */
int gate_on_request(struct conn *c, const uint8_t *frame, size_t len);
int gate_on_response(struct conn *c, uint8_t *frame, size_t len);
/* Queues the gate's own answers that are next in line. */
int gate_flush_replies(struct conn *c);

#endif
