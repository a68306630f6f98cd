/* What the egress proxy's files share (egress.c: the proxy, its threads and
 * its records; egress_conn.c: a connection's way through the proxy;
 * egress_intercept.c: the TLS connections it intercepts and the requests in
 * them; egress_job.c: jobs, their listeners in the jails' namespaces, their
 * secrets, and accepting). Nothing outside worker/egress*.c includes it.
 *
 * Threads: slot threads open and close jobs and, through the jail's hook,
 * make listeners; the proxy thread owns every connection and is the only one
 * to close a descriptor it watches, so closing a job is a request to it that
 * the slot thread waits for; resolver threads only run getaddrinfo. The lock
 * guards what they hand each other: the resolve queues, the jobs to close and
 * a job's listener list; the report lock, the records and failures waiting
 * for egress_take_report. */
#ifndef BRIG_WORKER_EGRESS_INTERNAL_H
#define BRIG_WORKER_EGRESS_INTERNAL_H

#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "worker/egress.h"
#include "worker/egress_policy.h"
#include "worker/egress_secrets.h"
#include "worker/egress_tls.h"
#include "worker/proxy_http.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define RELAY_BUFFER_SIZE 32768 /* holds a rewritten head of PROXY_HEAD_MAX with room to spare */
#define RESOLVER_THREADS 4
#define RECORDS_MAX 16384 /* waiting to be taken */
#define LISTEN_BACKLOG 128
#define LINGER_MS 2000
#define TICK_MS 1000
/* reads per direction per event, so one fast stream cannot starve the rest */
#define PUMP_ROUNDS 4
#define BODY_MAX 4096

enum endpoint_kind { ENDPOINT_WAKE, ENDPOINT_LISTENER, ENDPOINT_CLIENT, ENDPOINT_UPSTREAM };

/* What epoll hands back: the first member of whatever owns the descriptor. */
struct endpoint {
    enum endpoint_kind kind;
    int fd;
    uint32_t events; /* watched for; 0 = not in the epoll set */
    bool read_done;  /* connections: end of file seen */
    bool write_done; /* connections: shut down for writing, or unusable */
    SSL *ssl;        /* intercepted connections: TLS over fd */
    /* What the last read and the last write wait for: TLS may need to write
     * to read, or read to write; 0 = the plain EPOLLIN, EPOLLOUT. */
    uint32_t read_wants, write_wants;
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
    struct job_secrets secrets;
    char **env;            /* egress_job_env */
    struct jail_bind bind; /* the CA bundle, for a job with secrets */
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

static inline bool relay_buffer_empty(const struct relay_buffer *b)
{
    return b->start == b->end;
}

/* Callers put at most a head and the bytes read with it, which fit. */
static inline void relay_buffer_put(struct relay_buffer *b, const char *data, size_t len)
{
    memcpy(b->data + b->end, data, len);
    b->end += len;
}

enum conn_state {
    CONN_HEAD,
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_TLS, /* intercepted: the two handshakes */
    CONN_RELAY,
    CONN_ANSWER,
    CONN_LINGER
};

struct resolve;
struct intercept;

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
    bool recorded;   /* its record is queued */
    struct resolve *resolve;
    struct addrinfo *addrs, *next_addr;
    int connect_error;
    struct relay_buffer to_upstream, to_client;
    struct secret_scan scan;  /* what the client sent, for its job's placeholders */
    bool replied;             /* the client has had bytes from upstream */
    struct intercept *ic;     /* an intercepted connection's; NULL for the others */
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

struct egress_proxy {
    struct egress_rules bound;
    struct egress_limits limits;
    const struct secret_store *secrets; /* the operator's; NULL = none */
    struct egress_tls *tls;             /* with secrets */
    unsigned max_connections;           /* all jobs together */
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

    /* The report. Its lock is taken inside the other, never around it. */
    pthread_mutex_t report_lock;
    struct egress_record *records;
    size_t record_count, record_cap;
    uint64_t lost, failures;
    char last_failure[256];

    /* the proxy thread's */
    struct conn *conns;
    unsigned n_conns;
    struct conn *dead;
    struct listener *paused;
    uint64_t next_sweep_ms;
};

/* egress.c */
void egress_wake(struct egress_proxy *p);
/* Keeps the epoll set in step with what ep waits for; -1 with errno. */
int egress_watch(struct egress_proxy *p, struct endpoint *ep, uint32_t events);
void egress_close_endpoint(struct egress_proxy *p, struct endpoint *ep);
/* read and send on an endpoint, through its TLS when it has one: > 0 bytes,
 * 0 at the end (reads), or -1 with errno (EAGAIN: wait for ep's wants). */
ssize_t egress_ep_read(struct endpoint *ep, void *buf, size_t len);
ssize_t egress_ep_write(struct endpoint *ep, const void *buf, size_t len);
/* No more writes: TLS's close_notify, then the socket's. */
void egress_ep_shutdown(struct endpoint *ep);
/* Whether a binding of the operator's secrets names host:port. */
bool egress_intercepts(const struct egress_proxy *p, const char *host, uint16_t port);
/* A thread that takes no signals: the worker's handlers belong to its main
 * thread. -1 with err naming what. */
int egress_start_thread(pthread_t *thread, void *(*fn)(void *), void *arg, char *err, size_t errlen,
                        const char *what);
/* Queues a decided request's record. */
void egress_record(struct egress_proxy *p, const struct egress_job *job, const char *host,
                   uint16_t port, bool allowed, const char *reason);
/* Counts a failure of the proxy's own for the next report, which keeps the
 * latest sentence. Any thread, with or without the lock. */
void egress_note_failure(struct egress_proxy *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* egress_conn.c: the proxy thread's */
/* c (zeroed) takes fd, accepted for job: watched, reading its head. */
void egress_conn_open(struct egress_proxy *p, struct conn *c, struct egress_job *job, int fd);
void egress_conn_event(struct egress_proxy *p, struct conn *c);
/* Past its deadline. */
void egress_conn_expire(struct egress_proxy *p, struct conn *c);
/* The proxy's own answer (a text/plain sentence), then the end. */
void egress_conn_answer(struct egress_proxy *p, struct conn *c, int status, const char *reason);
/* A request refused because of a secret: recorded, and answered 403 when the
 * client can still read an answer, else the connection ends. */
void egress_conn_refuse_secret(struct egress_proxy *p, struct conn *c, const char *reason);
/* The relay begins: the tunnel's handshakes are done. */
void egress_conn_relay(struct egress_proxy *p, struct conn *c);
/* Queues a record for c's destination. */
void egress_conn_record(struct egress_proxy *p, struct conn *c, bool allowed, const char *reason);
/* The resolver's answer r for c. */
void egress_conn_resolved(struct egress_proxy *p, struct conn *c, struct resolve *r);
void egress_conn_close(struct egress_proxy *p, struct conn *c);
/* Frees what was closed during a batch of events, once no event of the batch
 * can point at it any more. */
void egress_conns_free_dead(struct egress_proxy *p);

/* egress_intercept.c: the proxy thread's */
/* Connected to a host the proxy intercepts: the 200, then both handshakes
 * (CONN_TLS). */
void egress_intercept_start(struct egress_proxy *p, struct conn *c);
void egress_intercept_handshake(struct egress_proxy *p, struct conn *c);
/* Moves the client's requests to the upstream, each one decided; -1 when
 * either side failed. */
int egress_intercept_pump(struct egress_proxy *p, struct conn *c, bool *progress);
void egress_intercept_free(struct conn *c);

/* egress_job.c: the proxy thread's */
void egress_accept(struct egress_proxy *p, struct listener *l);
void egress_resume_listeners(struct egress_proxy *p);
/* Closes the job's listeners and connections. */
void egress_close_job(struct egress_proxy *p, struct egress_job *job);

#endif
