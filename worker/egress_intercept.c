/* The tunnels the egress proxy intercepts (egress.h): a job that holds
 * secrets asks CONNECT to a host a secret is bound to. Once the host is
 * reached the job gets its 200, and the proxy then completes two handshakes
 * (CONN_TLS): as a TLS client toward the host, verifying it, and as the server
 * the job speaks to, with a leaf of the worker's CA. If the host fails
 * verification, the job still gets its handshake, and a 502 that says why.
 *
 * In CONN_RELAY, the job's plaintext arrives in c->head. Each request's head
 * is read whole, parsed (proxy_origin_request_parse) and decided
 * (secret_head_filter): refused, or passed on, perhaps with a value put in.
 * Its body, whatever its framing (Content-Length, chunked), is found by
 * http-parser and passed on as it comes, searched for placeholders; then the
 * next request's head. Responses are passed back as they are. */
#include <errno.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "worker/egress_internal.h"
#include "common/common.h"

struct intercept {
    bool upstream_ready, client_ready;
    char upstream_error[600]; /* "" unless the host failed its handshake */
    bool in_body;             /* between a request's head and its end */
    bool message_done;
    http_parser parser; /* the request being passed on: where it ends */
    http_parser_settings settings;
    struct proxy_request req;
    unsigned recorded_uses; /* bit k: job secret k's use is in the audit */
};

static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

static int on_message_complete(http_parser *parser)
{
    struct intercept *ic = parser->data;
    ic->message_done = true;
    http_parser_pause(parser, 1); /* what follows is the next request */
    return 0;
}

void egress_intercept_free(struct conn *c)
{
    if (!c->ic)
        return;
    /* The heads it wrote upstream held values. */
    explicit_bzero(c->to_upstream.data, sizeof(c->to_upstream.data));
    free(c->ic);
    c->ic = NULL;
}

void egress_intercept_start(struct egress_proxy *p, struct conn *c)
{
    char err[512];
    if (c->head_len > c->req.head_len) {
        egress_conn_answer(p, c, 400, "bytes after the CONNECT head, before the tunnel was made");
        return;
    }
    c->head_len = 0; /* from now on, the tunnel's plaintext */
    if (!(c->ic = calloc(1, sizeof(*c->ic)))) {
        egress_conn_answer(p, c, 503, "out of memory");
        return;
    }
    http_parser_settings_init(&c->ic->settings);
    c->ic->settings.on_message_complete = on_message_complete;
    if (!(c->upstream.ssl =
              egress_tls_connect(p->tls, c->upstream.fd, c->verdict.host, err, sizeof(err)))) {
        egress_conn_answer(p, c, 502, err);
        return;
    }
    relay_buffer_put(&c->to_client, established, sizeof(established) - 1);
    c->state = CONN_TLS;
    c->deadline_ms = (uint64_t)monotonic_ms() + p->limits.connect_timeout_ms;
    egress_intercept_handshake(p, c);
}

/* One step of a handshake: 1 done, 0 waiting (*wants set), -1 failed. */
static int handshake_step(SSL *ssl, uint32_t *wants)
{
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 1;
    int e = SSL_get_error(ssl, rc);
    *wants = e == SSL_ERROR_WANT_READ ? EPOLLIN : e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : 0;
    return *wants ? 0 : -1;
}

void egress_intercept_handshake(struct egress_proxy *p, struct conn *c)
{
    struct intercept *ic = c->ic;
    char err[512];
    uint32_t client_wants = 0, upstream_wants = 0;
    /* The 200 goes in the clear; the job starts its TLS once it has it. */
    while (!c->client.ssl && !relay_buffer_empty(&c->to_client)) {
        struct relay_buffer *b = &c->to_client;
        ssize_t n = egress_ep_write(&c->client, b->data + b->start, b->end - b->start);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            egress_conn_close(p, c);
            return;
        }
        if (n < 0) {
            client_wants = EPOLLOUT;
            break;
        }
        b->start += (size_t)n;
    }
    if (!c->client.ssl && relay_buffer_empty(&c->to_client)) {
        c->to_client.start = c->to_client.end = 0;
        if (!(c->client.ssl =
                  egress_tls_accept(p->tls, c->client.fd, c->verdict.host, err, sizeof(err)))) {
            egress_note_failure(p, "job %s: %s", c->job->id, err);
            egress_conn_close(p, c);
            return;
        }
    }
    if (!ic->upstream_ready && !ic->upstream_error[0]) {
        int rc = handshake_step(c->upstream.ssl, &upstream_wants);
        ic->upstream_ready = rc == 1;
        if (rc < 0) {
            char why[256];
            egress_tls_error(c->upstream.ssl, why, sizeof(why));
            snprintf(ic->upstream_error, sizeof(ic->upstream_error), "TLS with %s:%u: %s",
                     c->verdict.host, (unsigned)c->req.port, why);
            egress_close_endpoint(p, &c->upstream);
        }
    }
    if (c->client.ssl && !ic->client_ready) {
        int rc = handshake_step(c->client.ssl, &client_wants);
        /* A job that does not trust the CA, or gave up: nothing to tell it. */
        if (rc < 0) {
            ERR_clear_error();
            egress_conn_close(p, c);
            return;
        }
        ic->client_ready = rc == 1;
    }
    if (ic->client_ready && ic->upstream_error[0]) {
        egress_conn_answer(p, c, 502, ic->upstream_error);
        return;
    }
    if (ic->client_ready && ic->upstream_ready) {
        egress_conn_relay(p, c);
        return;
    }
    egress_watch(p, &c->client, client_wants);
    egress_watch(p, &c->upstream, upstream_wants);
}

/* ---- requests ---- */

static void drop_input(struct conn *c, size_t n)
{
    memmove(c->head, c->head + n, c->head_len - n);
    c->head_len -= n;
}

/* The audit learns once per connection which secrets went out, and where. */
static void record_uses(struct egress_proxy *p, struct conn *c, const struct secret_head_outcome *o)
{
    for (size_t i = 0; i < o->n_used; i++) {
        unsigned bit = 1u << (o->used[i] - c->job->secrets.list);
        if (c->ic->recorded_uses & bit)
            continue;
        c->ic->recorded_uses |= bit;
        char reason[300];
        snprintf(reason, sizeof(reason), "secret %s put in header %s", o->used[i]->secret->name,
                 o->used_header[i]);
        egress_conn_record(p, c, true, reason);
    }
}

/* A whole head in c->head: decided, and what goes upstream written to
 * to_upstream (empty). 1 when it was, 0 when it is not whole yet or the
 * connection was answered. */
static int take_head(struct egress_proxy *p, struct conn *c)
{
    struct intercept *ic = c->ic;
    int status;
    char reason[256];
    switch (proxy_origin_request_parse(c->head, c->head_len, &ic->req, &status, reason,
                                       sizeof(reason))) {
    case PROXY_INCOMPLETE:
        if (c->client.read_done)
            c->head_len = 0; /* a request cut short: never sent */
        return 0;
    case PROXY_BAD:
        egress_conn_answer(p, c, status, reason);
        return 0;
    case PROXY_COMPLETE:
        break;
    }
    size_t head_len = ic->req.head_len;
    http_parser_init(&ic->parser, HTTP_REQUEST);
    ic->parser.data = ic;
    ic->message_done = false;
    http_parser_execute(&ic->parser, &ic->settings, c->head, head_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&ic->parser);
    if (e != HPE_OK && e != HPE_PAUSED) {
        snprintf(reason, sizeof(reason), "malformed request: %s", http_errno_description(e));
        egress_conn_answer(p, c, 400, reason);
        return 0;
    }
    if (ic->parser.upgrade) {
        egress_conn_answer(p, c, 501,
                           "a connection the proxy intercepts carries HTTP/1.1 requests only: no "
                           "upgrade (WebSocket)");
        return 0;
    }
    struct secret_head_outcome o;
    size_t len;
    switch (secret_head_filter(&c->job->secrets, c->head, &ic->req, c->verdict.host, c->req.port,
                               true, c->to_upstream.data, sizeof(c->to_upstream.data), &len, &o)) {
    case SECRET_HEAD_REFUSED:
        egress_conn_refuse_secret(p, c, o.reason);
        return 0;
    case SECRET_HEAD_UNWRITTEN:
        egress_conn_answer(p, c, 431, o.reason);
        return 0;
    case SECRET_HEAD_PASS:
        memcpy(c->to_upstream.data, c->head, head_len);
        len = head_len;
        break;
    case SECRET_HEAD_REWRITTEN:
        record_uses(p, c, &o);
        break;
    }
    c->to_upstream.start = 0;
    c->to_upstream.end = len;
    drop_input(c, head_len);
    ic->in_body = !ic->message_done;
    c->scan = (struct secret_scan){0};
    return 1;
}

/* The body's bytes in c->head, up to the request's end, searched and moved
 * to to_upstream (empty). 1 when some were, -1 for a body http-parser
 * refuses. */
static int take_body(struct egress_proxy *p, struct conn *c)
{
    struct intercept *ic = c->ic;
    size_t n = http_parser_execute(&ic->parser, &ic->settings, c->head, c->head_len);
    enum http_errno e = HTTP_PARSER_ERRNO(&ic->parser);
    if (e != HPE_OK && e != HPE_PAUSED)
        return -1; /* the head went upstream: nothing to answer in its place */
    const struct job_secret *hit = secret_scan_feed(&c->scan, &c->job->secrets, c->head, n);
    if (hit) {
        char reason[768];
        secret_refusal(hit, "the body of a request", c->verdict.host, c->req.port, reason,
                       sizeof(reason));
        egress_conn_refuse_secret(p, c, reason);
        return 0;
    }
    memcpy(c->to_upstream.data, c->head, n);
    c->to_upstream.start = 0;
    c->to_upstream.end = n;
    drop_input(c, n);
    ic->in_body = !ic->message_done;
    return n > 0;
}

int egress_intercept_pump(struct egress_proxy *p, struct conn *c, bool *progress)
{
    struct relay_buffer *out = &c->to_upstream;
    for (;;) {
        bool moved = false;
        if (!relay_buffer_empty(out)) {
            ssize_t n =
                egress_ep_write(&c->upstream, out->data + out->start, out->end - out->start);
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            out->start += (size_t)n;
            *progress = true;
            if (!relay_buffer_empty(out))
                return 0;
            explicit_bzero(out->data, out->end);
            out->start = out->end = 0;
        }
        if (!c->client.read_done && c->head_len < sizeof(c->head)) {
            ssize_t n =
                egress_ep_read(&c->client, c->head + c->head_len, sizeof(c->head) - c->head_len);
            if (n > 0) {
                c->head_len += (size_t)n;
                c->job->bytes += (uint64_t)n;
                moved = true;
            } else if (n == 0) {
                c->client.read_done = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        int taken = c->head_len == 0 ? 0 : c->ic->in_body ? take_body(p, c) : take_head(p, c);
        if (taken < 0)
            return -1;
        if (c->state != CONN_RELAY)
            return 0;
        if (!moved && taken == 0)
            return 0;
        *progress = true;
    }
}
