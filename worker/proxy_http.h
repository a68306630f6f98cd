/* What the egress proxy understands of HTTP: the head of one request sent to
 * a forward proxy, either "CONNECT host:port" or a request with an absolute
 * URI ("GET http://host[:port]/path HTTP/1.1"), or sent inside a tunnel the
 * proxy intercepts ("GET /path HTTP/1.1"), parsed with http-parser; the
 * head that goes upstream for the second kind; and the proxy's own short
 * answers. Nothing here touches a socket. */
#ifndef BRIG_WORKER_PROXY_HTTP_H
#define BRIG_WORKER_PROXY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on a request head: past them the answer is 431. */
#define PROXY_HEAD_MAX 16384
#define PROXY_HEADERS_MAX 100

/* Part of the head buffer. */
struct proxy_span {
    size_t off;
    size_t len;
};

struct proxy_header {
    struct proxy_span name;
    struct proxy_span value;
};

struct proxy_request {
    bool connect;       /* CONNECT: a tunnel; otherwise one plain HTTP request */
    const char *method; /* a static string */
    char host[256];     /* as the client wrote it, IPv6 without brackets */
    uint16_t port;
    unsigned short http_major, http_minor;
    struct proxy_span path;  /* plain HTTP: the URI's path (len 0 = none) */
    struct proxy_span query; /* plain HTTP: after '?' (len 0 with has_query = "?" alone) */
    bool has_query;
    struct proxy_header headers[PROXY_HEADERS_MAX];
    size_t n_headers;
    size_t head_len; /* bytes of the head, blank line included; what follows is body or tunnel */
};

enum proxy_parse_result { PROXY_INCOMPLETE, PROXY_COMPLETE, PROXY_BAD };

/* Parses the request head at the start of buf[0..len). PROXY_INCOMPLETE: no
 * blank line yet and nothing wrong so far. PROXY_BAD: *status is the HTTP
 * status to answer (400, 431, 505) and reason says what is wrong. */
enum proxy_parse_result proxy_request_parse(const char *buf, size_t len, struct proxy_request *req,
                                            int *status, char *reason, size_t reasonlen);

/* The same for a request inside a tunnel the proxy intercepts: an origin-form
 * target ("/path?query": path and query are set), and exactly one Host, whose
 * host and port (0 when it names none) go to req->host and req->port. */
enum proxy_parse_result proxy_origin_request_parse(const char *buf, size_t len,
                                                   struct proxy_request *req, int *status,
                                                   char *reason, size_t reasonlen);

/* The head sent upstream for a plain HTTP request parsed from buf: the
 * origin-form target ("/path?query"), Host set from the URI (RFC 9112 §3.2.2:
 * a proxy ignores the client's Host), hop-by-hop and Proxy-* headers dropped
 * and "Connection: close", since every request gets its own connection.
 * Returns its length, or -1 when out is too small. */
int proxy_request_forward(const char *buf, const struct proxy_request *req, char *out,
                          size_t outlen);

/* A complete response of the proxy's own: status, a text/plain body,
 * "Connection: close". Returns its length, or -1 when out is too small. */
int proxy_response(int status, const char *body, char *out, size_t outlen);

#endif
