/* The egress proxy (see egress.h): jobs and their listeners, the proxy
 * thread's epoll loop and each connection's way through it, the resolver
 * threads, and the queue of audit records.
 *
 * Threads: slot threads open and close jobs and, through the jail's hook,
 * make listeners; the proxy thread owns every connection and is the only one
 * to close a descriptor it watches, so closing a job is a request to it that
 * the slot thread waits for; resolver threads only run getaddrinfo. The lock
 * guards what they hand each other: the resolve queues, the jobs to close, a
 * job's listener list and the audit queue.
 *
 * A connection goes HEAD (reading the request head) -> RESOLVING ->
 * CONNECTING -> RELAY, or to ANSWER (the proxy's own response, then LINGER
 * reading what the client still sends, so that closing does not reset the
 * connection before the client has read the answer). */
#include "worker/egress.h"
#include "worker/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "schema/netrule.h"
#include "worker/egress_policy.h"
#include "worker/proxy_http.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define PROXY_URL "http://127.0.0.1:" STRINGIFY(EGRESS_PROXY_PORT)

const char *const egress_proxy_env[] = {
    "HTTP_PROXY=" PROXY_URL,
    "HTTPS_PROXY=" PROXY_URL,
    "http_proxy=" PROXY_URL,
    "https_proxy=" PROXY_URL,
    "NO_PROXY=localhost,127.0.0.1",
    "no_proxy=localhost,127.0.0.1",
    NULL,
};

#define RELAY_BUFFER_SIZE 32768 /* holds a rewritten head of PROXY_HEAD_MAX with room to spare */
#define RESOLVER_THREADS 4
#define AUDIT_QUEUE_MAX 16384
#define LISTEN_BACKLOG 128
#define LINGER_MS 2000
#define TICK_MS 1000
#define PUMP_ROUNDS                                                                                \
    4 /* reads per direction per event, so one fast stream cannot starve the rest                  \
       */
#define BODY_MAX 4096

void egress_limits_default(struct egress_limits *limits)
{
    *limits = (struct egress_limits){
        .connections = 32,
        .requests = 4096,
        .bytes = 1ull << 30,
        .head_timeout_ms = 30000,
        .connect_timeout_ms = 30000,
        .idle_timeout_ms = 300000,
    };
}

enum endpoint_kind { ENDPOINT_WAKE, ENDPOINT_LISTENER, ENDPOINT_CLIENT, ENDPOINT_UPSTREAM };

/* What epoll hands back: the first member of whatever owns the descriptor. */
struct endpoint {
    enum endpoint_kind kind;
    int fd;
    uint32_t events; /* watched for; 0 = not in the epoll set */
    bool read_done;  /* connections: end of file seen */
    bool write_done; /* connections: shut down for writing, or unusable */
};

struct listener {
    struct endpoint ep;
    struct egress_job *job;
    struct listener *next;        /* the job's listeners */
    struct listener *next_paused; /* the proxy's paused listeners */
    bool paused;
};

struct egress_job {
    struct egress_proxy *proxy;
    char id[BRIG_ID_MAX + 1];
    struct egress_rules rules;
    char error[256];
    struct listener *listeners; /* under the lock */
    struct egress_job *next_closing;
    bool closed;
    /* the proxy thread's */
    unsigned clients;          /* accepted and not closed */
    unsigned open_connections; /* allowed, toward a destination */
    unsigned requests;
    uint64_t bytes;
};

struct relay_buffer {
    char data[RELAY_BUFFER_SIZE];
    size_t start, end;
};

enum conn_state {
    CONN_HEAD,
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_RELAY,
    CONN_ANSWER,
    CONN_LINGER
};

struct resolve;

struct conn {
    struct endpoint client;   /* accepted in the jail's namespace */
    struct endpoint upstream; /* made in the host's */
    struct egress_job *job;
    enum conn_state state;
    uint64_t deadline_ms;
    char head[PROXY_HEAD_MAX];
    size_t head_len;
    struct proxy_request req;
    struct egress_verdict verdict;
    bool holds_slot; /* counted in job->open_connections */
    bool recorded;   /* its audit record is queued */
    struct resolve *resolve;
    struct addrinfo *addrs, *next_addr;
    int connect_error;
    struct relay_buffer to_upstream, to_client;
    struct conn *prev, *next; /* every live connection */
    struct conn *next_dead;
    bool dead;
};

struct resolve {
    struct conn *conn; /* the proxy thread's; NULL once the connection is gone */
    char host[256];
    char port[8];
    struct addrinfo *result;
    int error;
    int system_error; /* errno, for EAI_SYSTEM */
    struct resolve *next;
};

struct audit_item {
    struct audit_item *next;
    char job_id[BRIG_ID_MAX + 1];
    char host[256];
    uint16_t port;
    bool allowed;
    char *reason;
    int64_t ts_ms;
};

struct egress_proxy {
    struct egress_rules bound;
    struct egress_limits limits;
    unsigned max_connections; /* all jobs together */
    bool running;
    pthread_t loop_thread;
    pthread_t resolvers[RESOLVER_THREADS];
    size_t n_resolvers;
    int epoll_fd;
    struct endpoint wake; /* an eventfd */

    pthread_mutex_t lock;
    pthread_cond_t work_cond;   /* resolvers: a name to resolve, or stopping */
    pthread_cond_t closed_cond; /* slot threads: a job is closed */
    bool stopping;
    struct resolve *to_resolve, *to_resolve_tail;
    struct resolve *resolved;
    struct egress_job *closing;
    struct audit_item *audit_head, *audit_tail;
    size_t audit_len;
    uint64_t audit_dropped;

    /* the proxy thread's */
    struct conn *conns;
    unsigned n_conns;
    struct conn *dead;
    struct listener *paused;
    uint64_t next_sweep_ms;
};

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake_loop(struct egress_proxy *p)
{
    if (eventfd_write(p->wake.fd, 1) < 0)
        log_error(NULL, "egress proxy: waking its thread: %s", strerror(errno));
}

/* Keeps the epoll set in step with what ep waits for. A descriptor waits for
 * nothing only outside the set: epoll reports a hang-up even to an empty
 * mask, and nothing would read it. */
static int watch(struct egress_proxy *p, struct endpoint *ep, uint32_t events)
{
    if (ep->fd < 0 || events == ep->events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = ep};
    int op = events == 0 ? EPOLL_CTL_DEL : ep->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(p->epoll_fd, op, ep->fd, &ev) < 0) {
        int saved = errno;
        log_error(NULL, "egress proxy: updating its epoll set: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    ep->events = events;
    return 0;
}

static void close_endpoint(struct egress_proxy *p, struct endpoint *ep)
{
    watch(p, ep, 0);
    if (ep->fd >= 0)
        close(ep->fd);
    ep->fd = -1;
}

/* ---- audit records ---- */

static void record(struct egress_proxy *p, const struct egress_job *job, const char *host,
                   uint16_t port, bool allowed, const char *reason)
{
    struct audit_item *item = calloc(1, sizeof(*item));
    char *reason_copy = reason ? strdup(reason) : NULL;
    pthread_mutex_lock(&p->lock);
    if (!item || (reason && !reason_copy) || p->audit_len >= AUDIT_QUEUE_MAX) {
        p->audit_dropped++;
        pthread_mutex_unlock(&p->lock);
        free(item);
        free(reason_copy);
        return;
    }
    snprintf(item->job_id, sizeof(item->job_id), "%s", job->id);
    snprintf(item->host, sizeof(item->host), "%s", host);
    item->port = port;
    item->allowed = allowed;
    item->reason = reason_copy;
    item->ts_ms = wall_ms();
    if (p->audit_tail)
        p->audit_tail->next = item;
    else
        p->audit_head = item;
    p->audit_tail = item;
    p->audit_len++;
    pthread_mutex_unlock(&p->lock);
}

static void record_verdict(struct egress_proxy *p, struct conn *c, bool allowed, const char *reason)
{
    const char *host = c->verdict.host[0] ? c->verdict.host : c->req.host;
    record(p, c->job, host, c->req.port, allowed, reason);
    c->recorded = true;
}

static void free_audit_items(struct audit_item *item)
{
    while (item) {
        struct audit_item *next = item->next;
        free(item->reason);
        free(item);
        item = next;
    }
}

void egress_drain_audit(struct egress_proxy *p, struct audit_store *store)
{
    pthread_mutex_lock(&p->lock);
    struct audit_item *items = p->audit_head;
    uint64_t dropped = p->audit_dropped;
    p->audit_head = p->audit_tail = NULL;
    p->audit_len = 0;
    p->audit_dropped = 0;
    pthread_mutex_unlock(&p->lock);

    char err[512];
    for (struct audit_item *item = items; item; item = item->next) {
        struct audit_connection conn = {
            .job_id = item->job_id,
            .host = item->host,
            .port = item->port,
            .allowed = item->allowed,
            .reason = item->reason,
            .ts_ms = item->ts_ms,
        };
        if (audit_record_connection(store, &conn, err, sizeof(err)) < 0)
            log_error(item->job_id, "audit store: %s", err);
    }
    free_audit_items(items);
    if (dropped > 0)
        log_error(NULL,
                  "egress proxy: %llu connection record(s) lost: the audit queue was full or "
                  "memory ran out",
                  (unsigned long long)dropped);
}

/* ---- connections: the end ---- */

static void conn_close(struct egress_proxy *p, struct conn *c)
{
    if (c->dead)
        return;
    /* Decided and allowed, but never resolved: the rule's decision stands. */
    if (c->verdict.allowed && !c->recorded)
        record_verdict(p, c, true, c->verdict.rule);
    if (c->resolve)
        c->resolve->conn = NULL;
    if (c->holds_slot)
        c->job->open_connections--;
    c->job->clients--;
    close_endpoint(p, &c->client);
    close_endpoint(p, &c->upstream);
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

/* Frees what was closed during a batch of events, once no event of the batch
 * can point at it any more. */
static void free_dead(struct egress_proxy *p)
{
    while (p->dead) {
        struct conn *c = p->dead;
        p->dead = c->next_dead;
        free(c);
    }
}

static bool buffer_empty(const struct relay_buffer *b)
{
    return b->start == b->end;
}

static void buffer_put(struct relay_buffer *b, const char *data, size_t len)
{
    /* Callers put at most a head and the bytes read with it, which fit. */
    memcpy(b->data + b->end, data, len);
    b->end += len;
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
    close_endpoint(p, &c->upstream);
    c->to_client.start = c->to_client.end = 0;
    buffer_put(&c->to_client, response, len > 0 ? (size_t)len : 0);
    c->state = CONN_ANSWER;
    c->deadline_ms = monotonic_ms() + LINGER_MS;
    watch(p, &c->client, EPOLLOUT);
}

static void answer_text(struct egress_proxy *p, struct conn *c, int status, const char *reason)
{
    char body[BODY_MAX];
    snprintf(body, sizeof(body), "brig egress proxy: %s\n", reason);
    answer(p, c, status, body);
}

/* A refusal by policy: recorded, and answered with the job's rules. */
static void refuse(struct egress_proxy *p, struct conn *c, int status, const char *reason)
{
    record_verdict(p, c, false, reason);
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

static void flush_answer(struct egress_proxy *p, struct conn *c)
{
    struct relay_buffer *b = &c->to_client;
    while (!buffer_empty(b)) {
        ssize_t n = send(c->client.fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            conn_close(p, c);
            return;
        }
        b->start += (size_t)n;
    }
    shutdown(c->client.fd, SHUT_WR);
    c->state = CONN_LINGER;
    watch(p, &c->client, EPOLLIN);
}

static void linger_read(struct egress_proxy *p, struct conn *c)
{
    char sink[4096];
    ssize_t n = read(c->client.fd, sink, sizeof(sink));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        conn_close(p, c);
}

/* ---- connections: relaying ---- */

/* Moves bytes from src to dst through b; -1 when either side failed. */
static int pump(struct egress_job *job, struct endpoint *src, struct endpoint *dst,
                struct relay_buffer *b, bool *progress)
{
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        if (buffer_empty(b) && !src->read_done) {
            ssize_t n = read(src->fd, b->data, sizeof(b->data));
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            if (n == 0) {
                src->read_done = true;
                return 0;
            }
            b->start = 0;
            b->end = (size_t)n;
            job->bytes += (uint64_t)n;
            *progress = true;
        }
        if (buffer_empty(b))
            return 0;
        ssize_t n = send(dst->fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        b->start += (size_t)n;
        *progress = true;
        if (!buffer_empty(b))
            return 0;
        b->start = b->end = 0;
    }
    return 0;
}

/* Once src has ended and everything it sent is passed on, dst learns it. */
static void finish_direction(struct endpoint *src, struct endpoint *dst, struct relay_buffer *b)
{
    if (src->read_done && buffer_empty(b) && !dst->write_done) {
        shutdown(dst->fd, SHUT_WR);
        dst->write_done = true;
    }
}

static uint32_t interest(const struct endpoint *ep, const struct relay_buffer *from_it,
                         const struct relay_buffer *to_it)
{
    return (!ep->read_done && buffer_empty(from_it) ? EPOLLIN : 0) |
           (!buffer_empty(to_it) ? EPOLLOUT : 0);
}

static void relay(struct egress_proxy *p, struct conn *c)
{
    bool progress = false;
    if (pump(c->job, &c->client, &c->upstream, &c->to_upstream, &progress) < 0 ||
        pump(c->job, &c->upstream, &c->client, &c->to_client, &progress) < 0 ||
        c->job->bytes > p->limits.bytes) {
        conn_close(p, c);
        return;
    }
    finish_direction(&c->client, &c->upstream, &c->to_upstream);
    finish_direction(&c->upstream, &c->client, &c->to_client);
    if (c->client.write_done && c->upstream.write_done) {
        conn_close(p, c);
        return;
    }
    if (progress)
        c->deadline_ms = monotonic_ms() + p->limits.idle_timeout_ms;
    watch(p, &c->client, interest(&c->client, &c->to_upstream, &c->to_client));
    watch(p, &c->upstream, interest(&c->upstream, &c->to_client, &c->to_upstream));
}

/* Connected: the 200 for a tunnel or the rewritten head, then whatever the
 * client sent after its head, then bytes both ways. */
static void start_relay(struct egress_proxy *p, struct conn *c)
{
    static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (c->req.connect) {
        buffer_put(&c->to_client, established, sizeof(established) - 1);
    } else {
        int len = proxy_request_forward(c->head, &c->req, c->to_upstream.data,
                                        sizeof(c->to_upstream.data) - PROXY_HEAD_MAX);
        if (len < 0) {
            answer_text(p, c, 431, "the rewritten request head is too long");
            return;
        }
        c->to_upstream.end = (size_t)len;
    }
    buffer_put(&c->to_upstream, c->head + c->req.head_len, c->head_len - c->req.head_len);
    c->job->bytes += c->head_len;
    c->state = CONN_RELAY;
    c->deadline_ms = monotonic_ms() + p->limits.idle_timeout_ms;
    relay(p, c);
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
            watch(p, &c->upstream, EPOLLOUT);
            return;
        }
        c->connect_error = errno;
        close(fd);
    }
    char destination[300], reason[400];
    describe_destination(c, destination, sizeof(destination));
    snprintf(reason, sizeof(reason), "connecting to %s: %s", destination,
             strerror(c->connect_error ? c->connect_error : EHOSTUNREACH));
    answer_text(p, c, 502, reason);
}

static void connect_done(struct egress_proxy *p, struct conn *c)
{
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
        error = errno;
    if (error != 0) {
        c->connect_error = error;
        close_endpoint(p, &c->upstream);
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

static void resolved(struct egress_proxy *p, struct conn *c, struct resolve *r)
{
    char destination[300], reason[800];
    describe_destination(c, destination, sizeof(destination));
    c->resolve = NULL;
    c->addrs = r->result;
    c->next_addr = r->result;
    r->result = NULL;
    if (r->error != 0) {
        if (!c->recorded)
            record_verdict(p, c, true, c->verdict.rule);
        snprintf(reason, sizeof(reason), "resolving %s: %s", c->verdict.host,
                 r->error == EAI_SYSTEM ? strerror(r->system_error) : gai_strerror(r->error));
        answer_text(p, c, 502, reason);
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
        record_verdict(p, c, true, c->verdict.rule);
    connect_next(p, c);
}

static void start_resolve(struct egress_proxy *p, struct conn *c)
{
    struct resolve *r = calloc(1, sizeof(*r));
    if (!r) {
        answer_text(p, c, 503, "out of memory");
        return;
    }
    r->conn = c;
    snprintf(r->host, sizeof(r->host), "%s", c->verdict.host);
    snprintf(r->port, sizeof(r->port), "%u", (unsigned)c->req.port);
    c->resolve = r;
    c->state = CONN_RESOLVING;
    c->deadline_ms = monotonic_ms() + p->limits.connect_timeout_ms;
    watch(p, &c->client, 0);
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
            record_verdict(p, c, false, reason);
        c->verdict.allowed = false;
        answer_text(p, c, 503, reason);
        return;
    }
    job->requests++;
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
        record_verdict(p, c, true, c->verdict.rule);
    start_resolve(p, c);
}

static void read_head(struct egress_proxy *p, struct conn *c)
{
    ssize_t n = read(c->client.fd, c->head + c->head_len, sizeof(c->head) - c->head_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(p, c);
        return;
    }
    c->head_len += (size_t)n;
    int status;
    char reason[256];
    switch (proxy_request_parse(c->head, c->head_len, &c->req, &status, reason, sizeof(reason))) {
    case PROXY_INCOMPLETE:
        return;
    case PROXY_BAD:
        answer_text(p, c, status, reason);
        return;
    case PROXY_COMPLETE:
        decide(p, c);
        return;
    }
}

static void conn_event(struct egress_proxy *p, struct conn *c)
{
    switch (c->state) {
    case CONN_HEAD:
        read_head(p, c);
        break;
    case CONN_CONNECTING:
        connect_done(p, c);
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

static void expire(struct egress_proxy *p, struct conn *c)
{
    char reason[400], destination[300];
    switch (c->state) {
    case CONN_HEAD:
        snprintf(reason, sizeof(reason), "no complete request head within %u ms",
                 p->limits.head_timeout_ms);
        answer_text(p, c, 408, reason);
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
        answer_text(p, c, 504, reason);
        break;
    case CONN_RELAY:
    case CONN_ANSWER:
    case CONN_LINGER:
        conn_close(p, c);
        break;
    }
}

/* ---- listeners ---- */

static void answer_and_close(int fd, int status, const char *reason)
{
    char body[256], response[512];
    snprintf(body, sizeof(body), "brig egress proxy: %s\n", reason);
    int len = proxy_response(status, body, response, sizeof(response));
    if (len > 0 && send(fd, response, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_warn(NULL, "egress proxy: answering a refused connection: %s", strerror(errno));
    close(fd);
}

/* Out of descriptors or memory: the listener stays readable, so it is left
 * out of the epoll set until the next tick instead of spinning. */
static void pause_listener(struct egress_proxy *p, struct listener *l, int error)
{
    log_warn(l->job->id, "egress proxy: accepting a connection: %s", strerror(error));
    watch(p, &l->ep, 0);
    l->paused = true;
    l->next_paused = p->paused;
    p->paused = l;
}

static void resume_listeners(struct egress_proxy *p)
{
    while (p->paused) {
        struct listener *l = p->paused;
        p->paused = l->next_paused;
        l->paused = false;
        watch(p, &l->ep, EPOLLIN);
    }
}

static void accept_connections(struct egress_proxy *p, struct listener *l)
{
    for (;;) {
        int fd = accept4(l->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                pause_listener(p, l, errno);
            return;
        }
        /* Connections that have not named a destination yet are bounded
         * too, at twice the job's limit; refused here, they are not audited. */
        if (l->job->clients >= 2 * p->limits.connections) {
            answer_and_close(fd, 503, "the job has too many connections open to the proxy");
            continue;
        }
        struct conn *c = p->n_conns < p->max_connections ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            answer_and_close(fd, 503, "the proxy has too many connections open");
            continue;
        }
        l->job->clients++;
        c->client = (struct endpoint){.kind = ENDPOINT_CLIENT, .fd = fd};
        c->upstream = (struct endpoint){.kind = ENDPOINT_UPSTREAM, .fd = -1};
        c->job = l->job;
        c->state = CONN_HEAD;
        c->deadline_ms = monotonic_ms() + p->limits.head_timeout_ms;
        c->next = p->conns;
        if (p->conns)
            p->conns->prev = c;
        p->conns = c;
        p->n_conns++;
        watch(p, &c->client, EPOLLIN);
    }
}

/* ---- the proxy thread ---- */

static void take_resolved(struct egress_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    struct resolve *list = p->resolved;
    p->resolved = NULL;
    pthread_mutex_unlock(&p->lock);
    while (list) {
        struct resolve *r = list;
        list = r->next;
        if (r->conn)
            resolved(p, r->conn, r);
        if (r->result)
            freeaddrinfo(r->result);
        free(r);
    }
}

static void close_job(struct egress_proxy *p, struct egress_job *job)
{
    for (struct listener *l = job->listeners; l; l = l->next) {
        if (l->paused) {
            struct listener **link = &p->paused;
            while (*link != l)
                link = &(*link)->next_paused;
            *link = l->next_paused;
        }
        close_endpoint(p, &l->ep);
    }
    for (struct conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (c->job == job)
            conn_close(p, c);
    }
}

/* Closes the jobs slot threads wait on; false once the proxy is stopping. */
static bool take_requests(struct egress_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    struct egress_job *list = p->closing;
    p->closing = NULL;
    bool stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    if (!list)
        return !stopping;
    for (struct egress_job *job = list; job; job = job->next_closing)
        close_job(p, job);
    pthread_mutex_lock(&p->lock);
    for (struct egress_job *job = list; job; job = job->next_closing)
        job->closed = true;
    pthread_cond_broadcast(&p->closed_cond);
    pthread_mutex_unlock(&p->lock);
    return !stopping;
}

static void sweep(struct egress_proxy *p)
{
    uint64_t now = monotonic_ms();
    if (now < p->next_sweep_ms)
        return;
    p->next_sweep_ms = now + TICK_MS;
    resume_listeners(p);
    for (struct conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (now >= c->deadline_ms)
            expire(p, c);
    }
}

static void *proxy_main(void *arg)
{
    struct egress_proxy *p = arg;
    struct epoll_event events[64];
    for (;;) {
        int timeout = p->conns || p->paused ? TICK_MS : -1;
        int n = epoll_wait(p->epoll_fd, events, 64, timeout);
        if (n < 0 && errno != EINTR) {
            log_error(NULL, "egress proxy: waiting for events: %s", strerror(errno));
            n = 0;
        }
        bool woken = false;
        for (int i = 0; i < n; i++) {
            struct endpoint *ep = events[i].data.ptr;
            if (ep->kind == ENDPOINT_WAKE) {
                eventfd_t ignored;
                eventfd_read(ep->fd, &ignored);
                woken = true;
            } else if (ep->kind == ENDPOINT_LISTENER) {
                accept_connections(p, (struct listener *)ep);
            } else {
                struct conn *c =
                    ep->kind == ENDPOINT_CLIENT
                        ? (struct conn *)((char *)ep - offsetof(struct conn, client))
                        : (struct conn *)((char *)ep - offsetof(struct conn, upstream));
                if (!c->dead)
                    conn_event(p, c);
            }
        }
        if (woken) {
            take_resolved(p);
            if (!take_requests(p))
                break;
        }
        sweep(p);
        free_dead(p);
    }
    return NULL;
}

static void *resolver_main(void *arg)
{
    struct egress_proxy *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && !p->to_resolve)
            pthread_cond_wait(&p->work_cond, &p->lock);
        if (p->stopping)
            break;
        struct resolve *r = p->to_resolve;
        p->to_resolve = r->next;
        if (!p->to_resolve)
            p->to_resolve_tail = NULL;
        r->next = NULL;
        pthread_mutex_unlock(&p->lock);

        struct addrinfo hints = {
            .ai_family = AF_UNSPEC,
            .ai_socktype = SOCK_STREAM,
            .ai_flags = AI_NUMERICSERV,
        };
        r->error = getaddrinfo(r->host, r->port, &hints, &r->result);
        r->system_error = errno;

        pthread_mutex_lock(&p->lock);
        r->next = p->resolved;
        p->resolved = r;
        wake_loop(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the proxy ---- */

/* Threads of the proxy take no signals: the worker's handlers belong to its
 * main thread. */
static int start_thread(pthread_t *thread, void *(*fn)(void *), void *arg, char *err, size_t errlen,
                        const char *what)
{
    pthread_attr_t attr;
    sigset_t all;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setsigmask_np(&attr, &all);
    int rc = pthread_create(thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        snprintf(err, errlen, "starting the egress proxy's %s thread: %s", what, strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* Two descriptors per connection, and room for everything else the worker
 * keeps open. */
static unsigned connection_ceiling(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 4096;
    if (rl.rlim_cur < 768)
        return 128;
    rlim_t n = (rl.rlim_cur - 512) / 2;
    return n > 16384 ? 16384 : (unsigned)n;
}

static void stop_threads(struct egress_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cond);
    pthread_mutex_unlock(&p->lock);
    if (p->running) {
        wake_loop(p);
        pthread_join(p->loop_thread, NULL);
    }
    for (size_t i = 0; i < p->n_resolvers; i++)
        pthread_join(p->resolvers[i], NULL);
    p->running = false;
    p->n_resolvers = 0;
}

static int start_threads(struct egress_proxy *p, char *err, size_t errlen)
{
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epoll_fd < 0) {
        snprintf(err, errlen, "creating the egress proxy's epoll set: %s", strerror(errno));
        return -1;
    }
    p->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake.fd < 0) {
        snprintf(err, errlen, "creating the egress proxy's eventfd: %s", strerror(errno));
        return -1;
    }
    if (watch(p, &p->wake, EPOLLIN) < 0) {
        snprintf(err, errlen, "watching the egress proxy's eventfd: %s", strerror(errno));
        return -1;
    }
    if (start_thread(&p->loop_thread, proxy_main, p, err, errlen, "event loop") < 0)
        return -1;
    p->running = true;
    for (; p->n_resolvers < RESOLVER_THREADS; p->n_resolvers++) {
        if (start_thread(&p->resolvers[p->n_resolvers], resolver_main, p, err, errlen, "resolver") <
            0)
            return -1;
    }
    return 0;
}

int egress_proxy_start(const char *bound, const struct egress_limits *limits,
                       struct egress_proxy **out, char *err, size_t errlen)
{
    *out = NULL;
    struct egress_proxy *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "allocating the egress proxy: %s", strerror(errno));
        return -1;
    }
    p->epoll_fd = -1;
    p->wake = (struct endpoint){.kind = ENDPOINT_WAKE, .fd = -1};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cond, NULL);
    pthread_cond_init(&p->closed_cond, NULL);
    if (limits)
        p->limits = *limits;
    else
        egress_limits_default(&p->limits);
    p->max_connections = connection_ceiling();
    char why[300];
    if (egress_rules_parse(bound, &p->bound, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "the egress allow-list (--egress-allow, BRIG_EGRESS_ALLOW): %s", why);
        egress_proxy_free(p);
        return -1;
    }
    if (p->bound.count > 0 && start_threads(p, err, errlen) < 0) {
        egress_proxy_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

static void free_resolves(struct resolve *r)
{
    while (r) {
        struct resolve *next = r->next;
        if (r->result)
            freeaddrinfo(r->result);
        free(r);
        r = next;
    }
}

void egress_proxy_free(struct egress_proxy *p)
{
    if (!p)
        return;
    stop_threads(p);
    while (p->conns)
        conn_close(p, p->conns);
    free_dead(p);
    free_resolves(p->to_resolve);
    free_resolves(p->resolved);
    free_audit_items(p->audit_head);
    if (p->wake.fd >= 0)
        close(p->wake.fd);
    if (p->epoll_fd >= 0)
        close(p->epoll_fd);
    egress_rules_free(&p->bound);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_cond);
    pthread_cond_destroy(&p->closed_cond);
    free(p);
}

int egress_admit(const struct egress_proxy *p, const struct brig_network *network,
                 struct brig_error *why)
{
    struct egress_rules rules;
    if (egress_rules_bound(network, &p->bound, &rules, why) < 0)
        return -1;
    egress_rules_free(&rules);
    return 0;
}

/* ---- jobs ---- */

int egress_job_open(struct egress_proxy *p, const char *job_id, const struct brig_network *network,
                    struct egress_job **out, char *err, size_t errlen)
{
    *out = NULL;
    struct egress_rules rules;
    struct brig_error why;
    if (egress_rules_bound(network, &p->bound, &rules, &why) < 0) {
        snprintf(err, errlen, "%s: %s", why.field, why.reason);
        return -1;
    }
    if (rules.count == 0)
        return 0;
    struct egress_job *job = calloc(1, sizeof(*job));
    if (!job) {
        snprintf(err, errlen, "allocating the job's egress: %s", strerror(errno));
        egress_rules_free(&rules);
        return -1;
    }
    job->proxy = p;
    snprintf(job->id, sizeof(job->id), "%s", job_id);
    job->rules = rules;
    *out = job;
    return 0;
}

struct listen_call {
    int netns_fd;
    int fd;
    char *err;
    size_t errlen;
};

/* In a thread of its own, since a namespace is entered per thread and this
 * one ends there: nothing has to be restored. */
static void *listen_in_namespace(void *arg)
{
    struct listen_call *call = arg;
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(EGRESS_PROXY_PORT),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    const char *step = "entering the jail's network namespace";
    int fd = -1;
    if (setns(call->netns_fd, CLONE_NEWNET) != 0)
        goto fail;
    step = "creating the proxy's socket in the jail";
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    step = "binding the proxy to 127.0.0.1:" STRINGIFY(EGRESS_PROXY_PORT) " in the jail";
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto fail;
    step = "listening in the jail";
    if (listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    call->fd = fd;
    return NULL;
fail:
    snprintf(call->err, call->errlen, "%s: %s", step, strerror(errno));
    if (fd >= 0)
        close(fd);
    return NULL;
}

int egress_on_network(void *ctx, int netns_fd)
{
    struct egress_job *job = ctx;
    struct egress_proxy *p = job->proxy;
    struct listen_call call = {netns_fd, -1, job->error, sizeof(job->error)};
    pthread_t thread;
    if (start_thread(&thread, listen_in_namespace, &call, job->error, sizeof(job->error),
                     "listener") == 0)
        pthread_join(thread, NULL);
    struct listener *l = call.fd >= 0 ? calloc(1, sizeof(*l)) : NULL;
    if (call.fd >= 0 && !l)
        snprintf(job->error, sizeof(job->error), "allocating the proxy's listener: %s",
                 strerror(errno));
    if (l) {
        l->ep = (struct endpoint){.kind = ENDPOINT_LISTENER, .fd = call.fd};
        l->job = job;
        if (watch(p, &l->ep, EPOLLIN) < 0)
            snprintf(job->error, sizeof(job->error), "watching the proxy's listener: %s",
                     strerror(errno));
    }
    if (!l || l->ep.events == 0) {
        if (call.fd >= 0)
            close(call.fd);
        free(l);
        log_warn(job->id, "egress proxy: %s", job->error);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    l->next = job->listeners;
    job->listeners = l;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

const char *egress_job_error(const struct egress_job *job)
{
    return job->error;
}

void egress_job_close(struct egress_job *job)
{
    if (!job)
        return;
    struct egress_proxy *p = job->proxy;
    pthread_mutex_lock(&p->lock);
    if (job->listeners) {
        job->next_closing = p->closing;
        p->closing = job;
        wake_loop(p);
        while (!job->closed)
            pthread_cond_wait(&p->closed_cond, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    while (job->listeners) {
        struct listener *l = job->listeners;
        job->listeners = l->next;
        free(l);
    }
    egress_rules_free(&job->rules);
    free(job);
}
