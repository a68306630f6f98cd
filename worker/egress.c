/* The egress proxy (see egress.h): its threads (the epoll loop that drives
 * every connection, and the resolvers), its lifecycle, and the queue of
 * connection records. Connections are in egress_conn.c, jobs and their
 * listeners in egress_job.c, what they share in egress_internal.h. */
#include "worker/egress.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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

#include <openssl/err.h>

#include "worker/egress_internal.h"
#include "common/common.h"

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

void egress_wake(struct egress_proxy *p)
{
    if (eventfd_write(p->wake.fd, 1) < 0)
        egress_note_failure(p, "waking the proxy's thread: %s", strerror(errno));
}

/* Keeps the epoll set in step with what ep waits for. A descriptor waits for
 * nothing only outside the set: epoll reports a hang-up even to an empty
 * mask, and nothing would read it. */
int egress_watch(struct egress_proxy *p, struct endpoint *ep, uint32_t events)
{
    if (ep->fd < 0 || events == ep->events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = ep};
    int op = events == 0 ? EPOLL_CTL_DEL : ep->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(p->epoll_fd, op, ep->fd, &ev) < 0) {
        int saved = errno;
        egress_note_failure(p, "updating the proxy's epoll set: %s", strerror(saved));
        errno = saved;
        return -1;
    }
    ep->events = events;
    return 0;
}

void egress_close_endpoint(struct egress_proxy *p, struct endpoint *ep)
{
    egress_watch(p, ep, 0);
    SSL_free(ep->ssl);
    ep->ssl = NULL;
    if (ep->fd >= 0)
        close(ep->fd);
    ep->fd = -1;
}

/* After a TLS call: what it waits for, as errno and *wants. */
static ssize_t tls_result(SSL *ssl, int rc, size_t done, uint32_t *wants, uint32_t plain)
{
    *wants = plain;
    if (rc == 1)
        return (ssize_t)done;
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
        *wants = EPOLLIN;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *wants = EPOLLOUT;
        errno = EAGAIN;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

ssize_t egress_ep_read(struct endpoint *ep, void *buf, size_t len)
{
    if (!ep->ssl)
        return read(ep->fd, buf, len);
    size_t done = 0;
    int rc = SSL_read_ex(ep->ssl, buf, len, &done);
    return tls_result(ep->ssl, rc, done, &ep->read_wants, EPOLLIN);
}

ssize_t egress_ep_write(struct endpoint *ep, const void *buf, size_t len)
{
    if (!ep->ssl)
        return send(ep->fd, buf, len, MSG_NOSIGNAL);
    size_t done = 0;
    int rc = SSL_write_ex(ep->ssl, buf, len, &done);
    ssize_t n = tls_result(ep->ssl, rc, done, &ep->write_wants, EPOLLOUT);
    if (n == 0) {
        errno = EPIPE;
        return -1;
    }
    return n;
}

void egress_ep_shutdown(struct endpoint *ep)
{
    /* Best effort: a close_notify that does not fit now is not waited for. */
    if (ep->ssl && SSL_shutdown(ep->ssl) < 0)
        ERR_clear_error();
    shutdown(ep->fd, SHUT_WR);
}

/* ---- the report ---- */

void egress_note_failure(struct egress_proxy *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->report_lock);
    p->failures++;
    vsnprintf(p->last_failure, sizeof(p->last_failure), fmt, ap);
    pthread_mutex_unlock(&p->report_lock);
    va_end(ap);
}

/* Room for one more record, within RECORDS_MAX; the report lock is held. */
static bool make_room(struct egress_proxy *p)
{
    if (p->record_count < p->record_cap)
        return true;
    if (p->record_cap == RECORDS_MAX)
        return false;
    size_t cap = p->record_cap ? 2 * p->record_cap : 64;
    cap = cap < RECORDS_MAX ? cap : RECORDS_MAX;
    struct egress_record *grown = realloc(p->records, cap * sizeof(*grown));
    if (!grown)
        return false;
    p->records = grown;
    p->record_cap = cap;
    return true;
}

void egress_record(struct egress_proxy *p, const struct egress_job *job, const char *host,
                   uint16_t port, bool allowed, const char *reason)
{
    char *reason_copy = reason ? strdup(reason) : NULL;
    pthread_mutex_lock(&p->report_lock);
    if ((reason && !reason_copy) || !make_room(p)) {
        p->lost++;
        pthread_mutex_unlock(&p->report_lock);
        free(reason_copy);
        return;
    }
    struct egress_record *r = &p->records[p->record_count++];
    snprintf(r->job_id, sizeof(r->job_id), "%s", job->id);
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    r->allowed = allowed;
    r->reason = reason_copy;
    r->ts_ms = wall_clock_ms();
    pthread_mutex_unlock(&p->report_lock);
}

void egress_take_report(struct egress_proxy *p, struct egress_report *out)
{
    pthread_mutex_lock(&p->report_lock);
    *out = (struct egress_report){
        .records = p->records,
        .count = p->record_count,
        .lost = p->lost,
        .failures = p->failures,
    };
    memcpy(out->last_failure, p->last_failure, sizeof(out->last_failure));
    p->records = NULL;
    p->record_count = p->record_cap = 0;
    p->lost = p->failures = 0;
    p->last_failure[0] = '\0';
    pthread_mutex_unlock(&p->report_lock);
}

void egress_report_free(struct egress_report *report)
{
    for (size_t i = 0; i < report->count; i++)
        free(report->records[i].reason);
    free(report->records);
    memset(report, 0, sizeof(*report));
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
            egress_conn_resolved(p, r->conn, r);
        if (r->result)
            freeaddrinfo(r->result);
        free(r);
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
        egress_close_job(p, job);
    pthread_mutex_lock(&p->lock);
    for (struct egress_job *job = list; job; job = job->next_closing)
        job->closed = true;
    pthread_cond_broadcast(&p->closed_cond);
    pthread_mutex_unlock(&p->lock);
    return !stopping;
}

static void sweep(struct egress_proxy *p)
{
    uint64_t now = (uint64_t)monotonic_ms();
    if (now < p->next_sweep_ms)
        return;
    p->next_sweep_ms = now + TICK_MS;
    egress_resume_listeners(p);
    for (struct conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (now >= c->deadline_ms)
            egress_conn_expire(p, c);
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
            egress_note_failure(p, "waiting for the proxy's events: %s", strerror(errno));
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
                egress_accept(p, (struct listener *)ep);
            } else {
                struct conn *c =
                    ep->kind == ENDPOINT_CLIENT
                        ? (struct conn *)((char *)ep - offsetof(struct conn, client))
                        : (struct conn *)((char *)ep - offsetof(struct conn, upstream));
                if (!c->dead)
                    egress_conn_event(p, c);
            }
        }
        if (woken) {
            take_resolved(p);
            if (!take_requests(p))
                break;
        }
        sweep(p);
        egress_conns_free_dead(p);
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
        egress_wake(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the proxy ---- */

/* Threads of the proxy take no signals: the worker's handlers belong to its
 * main thread. */
int egress_start_thread(pthread_t *thread, void *(*fn)(void *), void *arg, char *err, size_t errlen,
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
        egress_wake(p);
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
    if (egress_watch(p, &p->wake, EPOLLIN) < 0) {
        snprintf(err, errlen, "watching the egress proxy's eventfd: %s", strerror(errno));
        return -1;
    }
    if (egress_start_thread(&p->loop_thread, proxy_main, p, err, errlen, "event loop") < 0)
        return -1;
    p->running = true;
    for (; p->n_resolvers < RESOLVER_THREADS; p->n_resolvers++) {
        if (egress_start_thread(&p->resolvers[p->n_resolvers], resolver_main, p, err, errlen,
                                "resolver") < 0)
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
    pthread_mutex_init(&p->report_lock, NULL);
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
        egress_conn_close(p, p->conns);
    egress_conns_free_dead(p);
    free_resolves(p->to_resolve);
    free_resolves(p->resolved);
    struct egress_report untaken;
    egress_take_report(p, &untaken);
    egress_report_free(&untaken);
    if (p->wake.fd >= 0)
        close(p->wake.fd);
    if (p->epoll_fd >= 0)
        close(p->epoll_fd);
    egress_rules_free(&p->bound);
    egress_tls_free(p->tls);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->report_lock);
    pthread_cond_destroy(&p->work_cond);
    pthread_cond_destroy(&p->closed_cond);
    free(p);
}

/* ---- secrets ---- */

/* What the proxy or the jail sets in a job's environment, which a secret's
 * placeholder must not replace. */
static const char *const set_by_proxy[] = {
    "HTTP_PROXY", "HTTPS_PROXY",   "http_proxy",         "https_proxy",         "NO_PROXY",
    "no_proxy",   "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
};

bool egress_intercepts(const struct egress_proxy *p, const char *host, uint16_t port)
{
    for (size_t i = 0; p->secrets && i < p->secrets->count; i++) {
        const struct secret *s = &p->secrets->secrets[i];
        for (size_t k = 0; k < s->n_bindings; k++) {
            if (s->bindings[k].port == port && strcmp(s->bindings[k].host, host) == 0)
                return true;
        }
    }
    return false;
}

/* Each bound host once. */
static int check_secrets(const struct egress_proxy *p, const struct secret_store *store,
                         const char **hosts, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    for (size_t i = 0; i < store->count; i++) {
        const struct secret *s = &store->secrets[i];
        for (size_t k = 0; k < ARRAY_SIZE(set_by_proxy); k++) {
            if (strcmp(s->name, set_by_proxy[k]) == 0) {
                snprintf(err, errlen,
                         "secret %s: the egress proxy sets %s in a job's environment; name the "
                         "secret otherwise",
                         s->name, s->name);
                return -1;
            }
        }
        for (size_t k = 0; k < s->n_bindings; k++) {
            const struct secret_binding *b = &s->bindings[k];
            struct egress_verdict v;
            egress_decide(&p->bound, b->host, b->port, &v);
            if (!v.allowed) {
                snprintf(err, errlen,
                         "secret %s is bound to %s:%u, which the egress allow-list "
                         "(--egress-allow) does not allow: %s",
                         s->name, b->host, (unsigned)b->port, v.reason);
                return -1;
            }
            size_t h = 0;
            while (h < *n && strcmp(hosts[h], b->host) != 0)
                h++;
            if (h == *n)
                hosts[(*n)++] = b->host;
        }
    }
    return 0;
}

int egress_proxy_use_secrets(struct egress_proxy *p, const struct secret_store *store,
                             const char *bundle_dir, const char *upstream_ca_file, char *err,
                             size_t errlen)
{
    if (!store || store->count == 0)
        return 0;
    if (p->bound.count == 0) {
        snprintf(err, errlen,
                 "secrets go out through the egress proxy, and it lets nothing out: give "
                 "--egress-allow the hosts the secrets are bound to");
        return -1;
    }
    const char **hosts = calloc(store->count * SECRET_BINDINGS_MAX, sizeof(*hosts));
    size_t n;
    if (!hosts) {
        snprintf(err, errlen, "allocating the secrets' hosts: out of memory");
        return -1;
    }
    int rc = check_secrets(p, store, hosts, &n, err, errlen);
    if (rc == 0)
        rc = egress_tls_new(hosts, n, bundle_dir, upstream_ca_file, &p->tls, err, errlen);
    free(hosts);
    if (rc == 0)
        p->secrets = store;
    return rc;
}

/* The secret named and whether the job's rules reach one of its bindings. */
static int admit_secret(const struct egress_proxy *p, const struct egress_rules *rules,
                        const char *tenant, const char *name, size_t index, struct brig_error *why)
{
    snprintf(why->field, sizeof(why->field), "secrets[%zu]", index);
    const struct secret *s = secret_find(p->secrets, name);
    /* Another tenant's secret is one this job's sender cannot tell from a
     * name the worker does not have: the same words, whoever's it is. */
    if (!s || !secret_serves(s, tenant)) {
        snprintf(why->reason, sizeof(why->reason),
                 p->secrets && p->secrets->count
                     ? "this worker has no secret \"%.128s\""
                     : "this worker has no secret \"%.128s\" (its operator gave it none with "
                       "--secrets)",
                 name);
        return -1;
    }
    int len = snprintf(why->reason, sizeof(why->reason), "secret %s goes only to", s->name);
    for (size_t k = 0; k < s->n_bindings; k++) {
        struct egress_verdict v;
        egress_decide(rules, s->bindings[k].host, s->bindings[k].port, &v);
        if (v.allowed)
            return 0;
        if (len > 0 && (size_t)len < sizeof(why->reason))
            len += snprintf(why->reason + len, sizeof(why->reason) - (size_t)len, "%s %s:%u",
                            k ? "," : "", s->bindings[k].host, (unsigned)s->bindings[k].port);
    }
    if (len > 0 && (size_t)len < sizeof(why->reason))
        snprintf(why->reason + len, sizeof(why->reason) - (size_t)len,
                 ", which the job's network does not reach");
    return -1;
}

int egress_admit(const struct egress_proxy *p, const struct brig_network *network,
                 const char *tenant, const char *const *secrets, size_t n_secrets,
                 struct brig_error *why)
{
    struct egress_rules rules;
    if (egress_rules_bound(network, &p->bound, &rules, why) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n_secrets; i++)
        rc = admit_secret(p, &rules, tenant, secrets[i], i, why);
    egress_rules_free(&rules);
    return rc;
}
