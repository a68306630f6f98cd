/* A connection's way through the egress proxy, on the proxy thread: HEAD
 * (reading the request head) -> RESOLVING -> CONNECTING -> RELAY (through TLS
 * for an intercepted tunnel, egress_intercept.c), or to
 * ANSWER (the proxy's own response, then LINGER reading what the client still
 * sends, so that closing does not reset the connection before the client has
 * read the answer). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "schema/netrule.h"
#include "worker/egress_internal.h"
#include "common/common.h"

void egress_conn_record(struct egress_proxy *p, struct conn *c, bool allowed, const char *reason)
{
    const char *host = c->verdict.host[0] ? c->verdict.host : c->req.host;
    egress_record(p, c->job, host, c->req.port, allowed, reason);
    c->recorded = true;
}

void egress_conn_open(struct egress_proxy *p, struct conn *c, struct egress_job *job, int fd)
{
    job->clients++;
    c->client = (struct endpoint){.kind = ENDPOINT_CLIENT, .fd = fd};
    c->upstream = (struct endpoint){.kind = ENDPOINT_UPSTREAM, .fd = -1};
    c->job = job;
    c->state = CONN_HEAD;
    c->deadline_ms = (uint64_t)monotonic_ms() + p->limits.head_timeout_ms;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->n_conns++;
    egress_watch(p, &c->client, EPOLLIN);
}

/* ---- connections: the end ---- */

void egress_conn_close(struct egress_proxy *p, struct conn *c)
{
    if (c->dead)
        return;
    /* Decided and allowed, but never resolved: the rule's decision stands. */
    if (c->verdict.allowed && !c->recorded)
        egress_conn_record(p, c, true, c->verdict.rule);
    if (c->resolve)
        c->resolve->conn = NULL;
    if (c->holds_slot)
        c->job->open_connections--;
    c->job->clients--;
    egress_intercept_free(c);
    egress_close_endpoint(p, &c->client);
    egress_close_endpoint(p, &c->upstream);
    if (c->addrs)
        freeaddrinfo(c->addrs);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->n_conns--;
    c->dead = true;
    c->next_dead = p->dead;
    p->dead = c;
}

void egress_conns_free_dead(struct egress_proxy *p)
{
    while (p->dead) {
        struct conn *c = p->dead;
        p->dead = c->next_dead;
        free(c);
    }
}

static void describe_destination(const struct conn *c, char *out, size_t outlen)
{
    const char *host = c->verdict.host[0] ? c->verdict.host : c->req.host;
    bool ipv6 = strchr(host, ':') != NULL;
    snprintf(out, outlen, "%s%s%s:%u", ipv6 ? "[" : "", host, ipv6 ? "]" : "",
             (unsigned)c->req.port);
}

/* The proxy's own answer, then LINGER. */
static void answer(struct egress_proxy *p, struct conn *c, int status, const char *body)
{
    char response[BODY_MAX + 512];
    int len = proxy_response(status, body, response, sizeof(response));
    egress_close_endpoint(p, &c->upstream);
    c->to_client.start = c->to_client.end = 0;
    relay_buffer_put(&c->to_client, response, len > 0 ? (size_t)len : 0);
    c->state = CONN_ANSWER;
    c->deadline_ms = (uint64_t)monotonic_ms() + LINGER_MS;
    egress_watch(p, &c->client, EPOLLOUT);
}

void egress_conn_answer(struct egress_proxy *p, struct conn *c, int status, const char *reason)
{
    char body[BODY_MAX];
    snprintf(body, sizeof(body), "brig egress proxy: %s\n", reason);
    answer(p, c, status, body);
}

/* A refusal by policy: recorded, and answered with the job's rules. */
static void refuse(struct egress_proxy *p, struct conn *c, int status, const char *reason)
{
    egress_conn_record(p, c, false, reason);
    char body[BODY_MAX], destination[300];
    describe_destination(c, destination, sizeof(destination));
    int len = snprintf(body, sizeof(body),
                       "brig egress proxy: %s %s denied: %s\nThis job may reach:", c->req.method,
                       destination, reason);
    const struct egress_rules *rules = &c->job->rules;
    for (size_t i = 0; i < rules->count && len > 0 && (size_t)len < sizeof(body); i++) {
        char text[BRIG_ALLOW_RULE_MAX + 1];
        net_rule_format(&rules->rules[i], text, sizeof(text));
        len += snprintf(body + len, sizeof(body) - (size_t)len, "%s %s", i ? "," : "", text);
    }
    if (len > 0 && (size_t)len < sizeof(body) - 1)
        snprintf(body + len, sizeof(body) - (size_t)len, "\n");
    answer(p, c, status, body);
}

void egress_conn_refuse_secret(struct egress_proxy *p, struct conn *c, const char *reason)
{
    egress_conn_record(p, c, false, reason);
    /* Once the client has had bytes of a response (in a tunnel the proxy does
     * not read, its 200), an answer would be taken for the server's; an
     * intercepted client has read every response before its next request. */
    if (c->replied && !c->ic)
        egress_conn_close(p, c);
    else
        egress_conn_answer(p, c, 403, reason);
}

static void flush_answer(struct egress_proxy *p, struct conn *c)
{
    struct relay_buffer *b = &c->to_client;
    while (!relay_buffer_empty(b)) {
        ssize_t n = egress_ep_write(&c->client, b->data + b->start, b->end - b->start);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            egress_watch(p, &c->client, c->client.write_wants ? c->client.write_wants : EPOLLOUT);
            return;
        }
        if (n < 0) {
            egress_conn_close(p, c);
            return;
        }
        b->start += (size_t)n;
    }
    egress_ep_shutdown(&c->client);
    c->state = CONN_LINGER;
    egress_watch(p, &c->client, EPOLLIN);
}

static void linger_read(struct egress_proxy *p, struct conn *c)
{
    char sink[4096];
    ssize_t n = egress_ep_read(&c->client, sink, sizeof(sink));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        egress_conn_close(p, c);
}

/* ---- connections: relaying ---- */

/* A placeholder of the job's in bytes the client sent (a tunnel's, a plain
 * request's body): refused. True when it was there. */
static bool holds_placeholder(struct egress_proxy *p, struct conn *c, const char *data, size_t len)
{
    const struct job_secret *hit = secret_scan_feed(&c->scan, &c->job->secrets, data, len);
    if (!hit)
        return false;
    char reason[768];
    secret_refusal(hit, c->req.connect ? "a tunnel (CONNECT)" : "the body of a plain HTTP request",
                   c->verdict.host, c->req.port, reason, sizeof(reason));
    egress_conn_refuse_secret(p, c, reason);
    return true;
}

/* Moves bytes from src to dst through b; -1 when either side failed, 1 when
 * the connection was refused. What the client sends is searched for its
 * job's placeholders. */
static int pump(struct egress_proxy *p, struct conn *c, struct endpoint *src, struct endpoint *dst,
                struct relay_buffer *b, bool *progress)
{
    /* Bytes TLS holds already decrypted wake no epoll: taken while they last. */
    for (int round = 0; round < PUMP_ROUNDS || (src->ssl && SSL_pending(src->ssl) > 0); round++) {
        if (relay_buffer_empty(b) && !src->read_done) {
            ssize_t n = egress_ep_read(src, b->data, sizeof(b->data));
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            if (n == 0) {
                src->read_done = true;
                return 0;
            }
            b->start = 0;
            b->end = (size_t)n;
            c->job->bytes += (uint64_t)n;
            *progress = true;
            if (src == &c->client && holds_placeholder(p, c, b->data, (size_t)n))
                return 1;
        }
        if (relay_buffer_empty(b))
            return 0;
        ssize_t n = egress_ep_write(dst, b->data + b->start, b->end - b->start);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        b->start += (size_t)n;
        *progress = true;
        c->replied |= dst == &c->client;
        if (!relay_buffer_empty(b))
            return 0;
        b->start = b->end = 0;
    }
    return 0;
}

/* Once src has ended and everything it sent is passed on, dst learns it. */
static void finish_direction(struct endpoint *src, struct endpoint *dst, struct relay_buffer *b)
{
    if (src->read_done && relay_buffer_empty(b) && !dst->write_done) {
        egress_ep_shutdown(dst);
        dst->write_done = true;
    }
}

static uint32_t interest(const struct endpoint *ep, const struct relay_buffer *from_it,
                         const struct relay_buffer *to_it)
{
    uint32_t reading = ep->read_wants ? ep->read_wants : EPOLLIN;
    uint32_t writing = ep->write_wants ? ep->write_wants : EPOLLOUT;
    return (!ep->read_done && relay_buffer_empty(from_it) ? reading : 0) |
           (!relay_buffer_empty(to_it) ? writing : 0);
}

static void relay(struct egress_proxy *p, struct conn *c)
{
    bool progress = false;
    int out = c->ic ? egress_intercept_pump(p, c, &progress)
                    : pump(p, c, &c->client, &c->upstream, &c->to_upstream, &progress);
    if (out == 0 && c->state == CONN_RELAY)
        out = pump(p, c, &c->upstream, &c->client, &c->to_client, &progress);
    if (c->state != CONN_RELAY)
        return; /* refused: answered or closed */
    if (out < 0 || c->job->bytes > p->limits.bytes) {
        egress_conn_close(p, c);
        return;
    }
    finish_direction(&c->client, &c->upstream, &c->to_upstream);
    finish_direction(&c->upstream, &c->client, &c->to_client);
    if (c->client.write_done && c->upstream.write_done) {
        egress_conn_close(p, c);
        return;
    }
    if (progress)
        c->deadline_ms = (uint64_t)monotonic_ms() + p->limits.idle_timeout_ms;
    /* An intercepted client's unread requests wait in c->head, not in a
     * relay buffer: it is read while there is room there. */
    static const struct relay_buffer nothing_waiting;
    const struct relay_buffer *from_client = &c->to_upstream;
    if (c->ic && c->head_len < sizeof(c->head))
        from_client = &nothing_waiting;
    egress_watch(p, &c->client, interest(&c->client, from_client, &c->to_client));
    egress_watch(p, &c->upstream, interest(&c->upstream, &c->to_client, &c->to_upstream));
}

void egress_conn_relay(struct egress_proxy *p, struct conn *c)
{
    c->state = CONN_RELAY;
    c->deadline_ms = (uint64_t)monotonic_ms() + p->limits.idle_timeout_ms;
    relay(p, c);
}

/* Connected: the 200 for a tunnel or the rewritten head, then whatever the
 * client sent after its head, then bytes both ways. An intercepted tunnel
 * goes through its handshakes first. */
static void start_relay(struct egress_proxy *p, struct conn *c)
{
    static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    c->job->bytes += c->head_len;
    if (c->req.connect && egress_intercepts(p, c->verdict.host, c->req.port) &&
        c->job->secrets.count > 0) {
        egress_intercept_start(p, c);
        return;
    }
    const char *early = c->head + c->req.head_len;
    size_t early_len = c->head_len - c->req.head_len;
    if (holds_placeholder(p, c, early, early_len))
        return;
    if (c->req.connect) {
        relay_buffer_put(&c->to_client, established, sizeof(established) - 1);
    } else {
        int len = proxy_request_forward(c->head, &c->req, c->to_upstream.data,
                                        sizeof(c->to_upstream.data) - PROXY_HEAD_MAX);
        if (len < 0) {
            egress_conn_answer(p, c, 431, "the rewritten request head is too long");
            return;
        }
        c->to_upstream.end = (size_t)len;
    }
    relay_buffer_put(&c->to_upstream, early, early_len);
    egress_conn_relay(p, c);
}

/* ---- connections: reaching the destination ---- */

/* Tries the resolved addresses in turn, from the host's namespace. */
static void connect_next(struct egress_proxy *p, struct conn *c)
{
    while (c->next_addr) {
        struct addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        if (c->verdict.public_only && !egress_address_is_public(ai->ai_addr))
            continue;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c->connect_error = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            c->upstream = (struct endpoint){.kind = ENDPOINT_UPSTREAM, .fd = fd};
            c->state = CONN_CONNECTING;
            egress_watch(p, &c->upstream, EPOLLOUT);
            return;
        }
        c->connect_error = errno;
        close(fd);
    }
    char destination[300], reason[400];
    describe_destination(c, destination, sizeof(destination));
    snprintf(reason, sizeof(reason), "connecting to %s: %s", destination,
             strerror(c->connect_error ? c->connect_error : EHOSTUNREACH));
    egress_conn_answer(p, c, 502, reason);
}

static void connect_done(struct egress_proxy *p, struct conn *c)
{
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        error = errno;
    if (error != 0) {
        c->connect_error = error;
        egress_close_endpoint(p, &c->upstream);
        connect_next(p, c);
        return;
    }
    start_relay(p, c);
}

static bool any_acceptable(const struct conn *c)
{
    for (const struct addrinfo *ai = c->addrs; ai; ai = ai->ai_next) {
        if (!c->verdict.public_only || egress_address_is_public(ai->ai_addr))
            return true;
    }
    return false;
}

void egress_conn_resolved(struct egress_proxy *p, struct conn *c, struct resolve *r)
{
    char destination[300], reason[800];
    describe_destination(c, destination, sizeof(destination));
    c->resolve = NULL;
    c->addrs = r->result;
    c->next_addr = r->result;
    r->result = NULL;
    if (r->error != 0) {
        if (!c->recorded)
            egress_conn_record(p, c, true, c->verdict.rule);
        snprintf(reason, sizeof(reason), "resolving %s: %s", c->verdict.host,
                 r->error == EAI_SYSTEM ? strerror(r->system_error) : gai_strerror(r->error));
        egress_conn_answer(p, c, 502, reason);
        return;
    }
    if (!any_acceptable(c)) {
        snprintf(reason, sizeof(reason),
                 "%s is allowed by the suffix rule \"%s\" but resolves only to loopback, private "
                 "or other non-public addresses, which suffix rules never reach",
                 destination, c->verdict.rule);
        refuse(p, c, 403, reason);
        return;
    }
    if (!c->recorded)
        egress_conn_record(p, c, true, c->verdict.rule);
    connect_next(p, c);
}

static void start_resolve(struct egress_proxy *p, struct conn *c)
{
    struct resolve *r = calloc(1, sizeof(*r));
    if (!r) {
        egress_conn_answer(p, c, 503, "out of memory");
        return;
    }
    r->conn = c;
    snprintf(r->host, sizeof(r->host), "%s", c->verdict.host);
    snprintf(r->port, sizeof(r->port), "%u", (unsigned)c->req.port);
    c->resolve = r;
    c->state = CONN_RESOLVING;
    c->deadline_ms = (uint64_t)monotonic_ms() + p->limits.connect_timeout_ms;
    egress_watch(p, &c->client, 0);
    pthread_mutex_lock(&p->lock);
    if (p->to_resolve_tail)
        p->to_resolve_tail->next = r;
    else
        p->to_resolve = r;
    p->to_resolve_tail = r;
    pthread_cond_signal(&p->work_cond);
    pthread_mutex_unlock(&p->lock);
}

/* ---- connections: the request ---- */

static void decide(struct egress_proxy *p, struct conn *c)
{
    struct egress_job *job = c->job;
    char reason[256];
    egress_decide(&job->rules, c->req.host, c->req.port, &c->verdict);
    if (job->requests >= p->limits.requests) {
        snprintf(reason, sizeof(reason),
                 "the job has used up its %u requests; later ones are refused and not recorded",
                 p->limits.requests);
        if (job->requests++ == p->limits.requests)
            egress_conn_record(p, c, false, reason);
        c->verdict.allowed = false;
        egress_conn_answer(p, c, 503, reason);
        return;
    }
    job->requests++;
    struct secret_head_outcome secret;
    size_t unused;
    if (job->secrets.count > 0 &&
        secret_head_filter(&job->secrets, c->head, &c->req,
                           c->verdict.host[0] ? c->verdict.host : c->req.host, c->req.port, false,
                           NULL, 0, &unused, &secret) == SECRET_HEAD_REFUSED) {
        c->verdict.allowed = false;
        egress_conn_refuse_secret(p, c, secret.reason);
        return;
    }
    if (!c->verdict.allowed) {
        refuse(p, c, 403, c->verdict.reason);
        return;
    }
    if (job->bytes >= p->limits.bytes) {
        snprintf(reason, sizeof(reason), "the job has used up its %llu bytes of egress",
                 (unsigned long long)p->limits.bytes);
        c->verdict.allowed = false;
        refuse(p, c, 503, reason);
        return;
    }
    if (job->open_connections >= p->limits.connections) {
        snprintf(reason, sizeof(reason), "the job already has %u connections open, its most",
                 p->limits.connections);
        c->verdict.allowed = false;
        refuse(p, c, 503, reason);
        return;
    }
    job->open_connections++;
    c->holds_slot = true;
    /* A suffix rule's decision waits for the addresses. */
    if (!c->verdict.public_only)
        egress_conn_record(p, c, true, c->verdict.rule);
    start_resolve(p, c);
}

static void read_head(struct egress_proxy *p, struct conn *c)
{
    ssize_t n = read(c->client.fd, c->head + c->head_len, sizeof(c->head) - c->head_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        egress_conn_close(p, c);
        return;
    }
    c->head_len += (size_t)n;
    int status;
    char reason[256];
    switch (proxy_request_parse(c->head, c->head_len, &c->req, &status, reason, sizeof(reason))) {
    case PROXY_INCOMPLETE:
        return;
    case PROXY_BAD:
        egress_conn_answer(p, c, status, reason);
        return;
    case PROXY_COMPLETE:
        decide(p, c);
        return;
    }
}

void egress_conn_event(struct egress_proxy *p, struct conn *c)
{
    switch (c->state) {
    case CONN_HEAD:
        read_head(p, c);
        break;
    case CONN_CONNECTING:
        connect_done(p, c);
        break;
    case CONN_TLS:
        egress_intercept_handshake(p, c);
        break;
    case CONN_RELAY:
        relay(p, c);
        break;
    case CONN_ANSWER:
        flush_answer(p, c);
        break;
    case CONN_LINGER:
        linger_read(p, c);
        break;
    case CONN_RESOLVING:
        break; /* nothing is watched */
    }
}

void egress_conn_expire(struct egress_proxy *p, struct conn *c)
{
    char reason[400], destination[300];
    switch (c->state) {
    case CONN_HEAD:
        snprintf(reason, sizeof(reason), "no complete request head within %u ms",
                 p->limits.head_timeout_ms);
        egress_conn_answer(p, c, 408, reason);
        break;
    case CONN_RESOLVING:
    case CONN_CONNECTING:
        if (c->resolve) {
            c->resolve->conn = NULL; /* the answer, when it comes, is dropped */
            c->resolve = NULL;
        }
        describe_destination(c, destination, sizeof(destination));
        snprintf(reason, sizeof(reason), "reaching %s took longer than %u ms", destination,
                 p->limits.connect_timeout_ms);
        egress_conn_answer(p, c, 504, reason);
        break;
    case CONN_TLS:
    case CONN_RELAY:
    case CONN_ANSWER:
    case CONN_LINGER:
        egress_conn_close(p, c);
        break;
    }
}
