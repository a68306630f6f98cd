#include "worker/broker_gate.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/gate_wire.h"
#include "worker/log.h"

#include "worker/gate_impl.h"

/* epoll's data: a listener (tagged by the low bit) or a side. */
#define LISTENER_TAG 1u

static int listen_loopback(int32_t *port, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        snprintf(err, errlen, "embedded broker gate: listening on 127.0.0.1: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

int32_t gate_port_of(int32_t upstream, void *ctx)
{
    const struct broker_gate *gate = ctx;
    for (size_t i = 0; i < gate->n; i++)
        if (gate->listeners[i].upstream_port == upstream)
            return gate->listeners[i].port;
    return upstream;
}

/* Buffers. */

static int buf_reserve(struct buf *b, size_t more)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : READ_CHUNK;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int gate_buf_append(struct buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

size_t gate_buf_pending(const struct buf *b)
{
    return b->len - b->off;
}

uint32_t gate_load_be32(const uint8_t *at)
{
    uint32_t v;
    memcpy(&v, at, sizeof(v));
    return be32toh(v);
}

/* Connections. */

void gate_pending_free(struct pending *p)
{
    free(p->sets);
    free(p->commits);
    free(p->reply);
    free(p);
}

static void side_close(struct broker_gate *gate, struct side *s)
{
    if (s->fd >= 0) {
        epoll_ctl(gate->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
    s->closed = true;
}

/* Ends c: its sockets close now, its memory goes with the batch. */
static void conn_end(struct conn *c)
{
    struct broker_gate *gate = c->gate;
    side_close(gate, &c->client);
    side_close(gate, &c->broker);
    while (c->head) {
        struct pending *p = c->head;
        c->head = p->next;
        /* Sets the broker may or may not have appended. */
        for (size_t i = 0; i < p->n_sets; i++)
            gate_ledger_orphan(gate->ledger, p->sets[i].partition, p->sets[i].records_len);
        gate_pending_free(p);
    }
    c->tail = &c->head;
    if (c->prev)
        c->prev->next = c->next;
    else
        gate->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->dead = true;
    c->next = gate->dead;
    gate->dead = c;
}

static void bury(struct broker_gate *gate)
{
    while (gate->dead) {
        struct conn *c = gate->dead;
        gate->dead = c->next;
        free(c->client.in.data);
        free(c->client.out.data);
        free(c->broker.in.data);
        free(c->broker.out.data);
        free(c);
    }
}

bool gate_has_forwarded(const struct conn *c)
{
    for (const struct pending *p = c->head; p; p = p->next)
        if (!p->reply)
            return true;
    return false;
}

/* Registers what each side waits for. A side reads only while the other
 * has room to write; a client that left keeps its broker side until the
 * answers to what it sent are in, so that every set is accounted. */
static void watch(struct conn *c)
{
    struct broker_gate *gate = c->gate;
    struct side *sides[] = {&c->client, &c->broker};
    for (size_t i = 0; i < 2; i++) {
        struct side *s = sides[i], *other = sides[1 - i];
        if (s->fd < 0)
            continue;
        uint32_t events = 0;
        if (!other->closed && gate_buf_pending(&other->out) < BACKLOG_HIGH &&
            !(i == 1 && c->connecting))
            events |= EPOLLIN;
        if (other->closed && !s->is_client)
            events |= EPOLLIN; /* the answers of a client that left */
        if (gate_buf_pending(&s->out) > 0 || (!s->is_client && c->connecting))
            events |= EPOLLOUT;
        if (events == s->events)
            continue; /* a system call saved on most events */
        struct epoll_event ev = {.events = events, .data.ptr = s};
        epoll_ctl(gate->epfd, EPOLL_CTL_MOD, s->fd, &ev);
        s->events = events;
    }
}

static void accept_client(struct broker_gate *gate, struct listener *l)
{
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            log_error(NULL, "embedded broker gate: accepting a connection: %s", strerror(errno));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                               .sin_port = htons((uint16_t)l->upstream_port)};
    int one = 1;
    if (!c || up < 0 ||
        (connect(up, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS)) {
        /* A broker taken down refuses connections: so does its gate. */
        if (!c || up < 0)
            log_error(NULL, "embedded broker gate: connecting to broker port %d: %s",
                      l->upstream_port, strerror(errno));
        close(fd);
        if (up >= 0)
            close(up);
        free(c);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *c = (struct conn){.gate = gate, .connecting = true, .next = gate->conns};
    c->tail = &c->head;
    c->client = (struct side){.fd = fd, .is_client = true, .conn = c};
    c->broker = (struct side){.fd = up, .conn = c};
    if (gate->conns)
        gate->conns->prev = c;
    gate->conns = c;
    struct epoll_event client_ev = {.events = 0, .data.ptr = &c->client};
    struct epoll_event broker_ev = {.events = 0, .data.ptr = &c->broker};
    if (epoll_ctl(gate->epfd, EPOLL_CTL_ADD, fd, &client_ev) < 0 ||
        epoll_ctl(gate->epfd, EPOLL_CTL_ADD, up, &broker_ev) < 0) {
        log_error(NULL, "embedded broker gate: watching a new connection: %s", strerror(errno));
        conn_end(c);
        return;
    }
    watch(c);
}

/* Reads what is there and handles each whole frame; -1 ends the
 * connection. */
static int on_readable(struct side *s)
{
    struct conn *c = s->conn;
    for (;;) {
        if (buf_reserve(&s->in, READ_CHUNK) < 0)
            return -1;
        ssize_t n = read(s->fd, s->in.data + s->in.len, s->in.cap - s->in.len);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        s->in.len += (size_t)n;
        while (gate_buf_pending(&s->in) >= 4) {
            uint8_t *at = s->in.data + s->in.off;
            uint32_t size = gate_load_be32(at);
            if (size > FRAME_MAX) {
                log_warn(NULL,
                         "embedded broker gate: a %u-byte frame is over the %u allowed; "
                         "connection closed",
                         size, FRAME_MAX);
                return -1;
            }
            if (gate_buf_pending(&s->in) < 4 + (size_t)size) {
                if (buf_reserve(&s->in, 4 + (size_t)size - gate_buf_pending(&s->in)) < 0)
                    return -1;
                break;
            }
            s->in.off += 4 + (size_t)size;
            int rc =
                s->is_client ? gate_on_request(c, at + 4, size) : gate_on_response(c, at + 4, size);
            if (rc < 0)
                return -1;
        }
        if (!s->is_client && c->client.closed && !gate_has_forwarded(c))
            return -1; /* every answer the departed client was owed is in */
        if (gate_buf_pending(s->is_client ? &c->broker.out : &c->client.out) >= BACKLOG_HIGH)
            return 0;
    }
}

static int on_writable(struct side *s)
{
    struct conn *c = s->conn;
    if (!s->is_client && c->connecting) {
        int error = 0;
        socklen_t len = sizeof(error);
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error)
            return -1;
        c->connecting = false;
    }
    while (gate_buf_pending(&s->out) > 0) {
        ssize_t n = write(s->fd, s->out.data + s->out.off, gate_buf_pending(&s->out));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        s->out.off += (size_t)n;
    }
    return 0;
}

static void on_event(struct side *s, uint32_t events)
{
    struct conn *c = s->conn;
    int rc = 0;
    if (c->dead || s->fd < 0)
        return;
    if (events & EPOLLOUT)
        rc = on_writable(s);
    if (rc == 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        rc = on_readable(s);
    if (rc == 0 && !c->connecting && !c->broker.closed)
        rc = on_writable(&c->broker);
    if (rc == 0 && !c->client.closed)
        rc = on_writable(&c->client);
    if (rc < 0 && s->is_client && gate_has_forwarded(c) && !c->broker.closed) {
        /* The client left: keep the broker side for its answers. */
        side_close(c->gate, &c->client);
        rc = 0;
    }
    if (rc < 0)
        conn_end(c);
    else
        watch(c);
}

static void *serve(void *arg)
{
    struct broker_gate *gate = arg;
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(gate->epfd, events, ARRAY_SIZE(events), -1);
        if (n < 0 && errno != EINTR) {
            log_error(NULL, "embedded broker gate: waiting for connections: %s", strerror(errno));
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uintptr_t tag = (uintptr_t)events[i].data.ptr;
            if (events[i].data.ptr == &gate->wakefd)
                return NULL;
            if (tag & LISTENER_TAG)
                accept_client(gate, (struct listener *)(tag & ~(uintptr_t)LISTENER_TAG));
            else
                on_event(events[i].data.ptr, events[i].events);
        }
        bury(gate);
    }
}

static int parse_upstream(struct broker_gate *gate, const char *upstream, char *err, size_t errlen)
{
    const char *at = upstream;
    while (*at) {
        const char *colon = strchr(at, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (!colon || port <= 0 || port > 65535 || gate->n == BROKERS_MAX) {
            snprintf(err, errlen, "embedded broker gate: cannot read the brokers' address '%s'",
                     upstream);
            return -1;
        }
        gate->listeners[gate->n++].upstream_port = (int32_t)port;
        const char *comma = strchr(colon, ',');
        at = comma ? comma + 1 : colon + strlen(colon);
    }
    return gate->n ? 0 : -1;
}

int broker_gate_start(const struct broker_gate_config *config, const char *upstream,
                      struct broker_gate **out, char *err, size_t errlen)
{
    struct broker_gate *gate = calloc(1, sizeof(*gate));
    if (!gate) {
        snprintf(err, errlen, "embedded broker gate: out of memory");
        return -1;
    }
    gate->epfd = gate->wakefd = -1;
    for (size_t i = 0; i < BROKERS_MAX; i++)
        gate->listeners[i].fd = -1;
    gate->config = *config;
    gate->topic = strdup(config->topic);
    gate->group = strdup(config->group);
    gate->ledger = gate_ledger_new(&config->limits);
    gate->n_logged = 1024;
    gate->logged_ms = calloc(gate->n_logged, sizeof(*gate->logged_ms));
    if (!gate->topic || !gate->group || !gate->ledger || !gate->logged_ms) {
        snprintf(err, errlen, "embedded broker gate: out of memory");
        goto fail;
    }
    if (parse_upstream(gate, upstream, err, errlen) < 0)
        goto fail;
    gate->epfd = epoll_create1(EPOLL_CLOEXEC);
    gate->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (gate->epfd < 0 || gate->wakefd < 0) {
        snprintf(err, errlen, "embedded broker gate: creating its epoll and eventfd: %s",
                 strerror(errno));
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &gate->wakefd};
    epoll_ctl(gate->epfd, EPOLL_CTL_ADD, gate->wakefd, &ev);
    size_t used = 0;
    for (size_t i = 0; i < gate->n; i++) {
        struct listener *l = &gate->listeners[i];
        if ((l->fd = listen_loopback(&l->port, err, errlen)) < 0)
            goto fail;
        ev = (struct epoll_event){.events = EPOLLIN,
                                  .data.ptr = (void *)((uintptr_t)l | LISTENER_TAG)};
        if (epoll_ctl(gate->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
            snprintf(err, errlen, "embedded broker gate: watching its port: %s", strerror(errno));
            goto fail;
        }
        used += (size_t)snprintf(gate->bootstraps + used, sizeof(gate->bootstraps) - used,
                                 "%s127.0.0.1:%d", i ? "," : "", l->port);
    }
    int rc = pthread_create(&gate->thread, NULL, serve, gate);
    if (rc) {
        snprintf(err, errlen, "embedded broker gate: starting its thread: %s", strerror(rc));
        goto fail;
    }
    gate->started = true;
    *out = gate;
    return 0;

fail:
    broker_gate_stop(gate);
    return -1;
}

const char *broker_gate_bootstraps(const struct broker_gate *gate)
{
    return gate->bootstraps;
}

void broker_gate_stop(struct broker_gate *gate)
{
    if (!gate)
        return;
    if (gate->started) {
        uint64_t one = 1;
        if (write(gate->wakefd, &one, sizeof(one)) < 0)
            log_error(NULL, "embedded broker gate: waking its thread: %s", strerror(errno));
        pthread_join(gate->thread, NULL);
    }
    while (gate->conns)
        conn_end(gate->conns);
    bury(gate);
    for (size_t i = 0; i < BROKERS_MAX; i++)
        if (gate->listeners[i].fd >= 0)
            close(gate->listeners[i].fd);
    if (gate->epfd >= 0)
        close(gate->epfd);
    if (gate->wakefd >= 0)
        close(gate->wakefd);
    gate_ledger_free(gate->ledger);
    free(gate->logged_ms);
    free(gate->topic);
    free(gate->group);
    free(gate);
}
