/* Request heads for the egress proxy, parsed with http-parser.
 *
 * The head is found first (the first empty line), and only then handed to the
 * parser in one piece, so every field arrives in a single callback pointing
 * into the caller's buffer; a head still incomplete is parsed as far as it goes
 * only to refuse garbage early. */
#include "worker/proxy_http.h"
#include "common/common.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct parse_state {
    const char *buf;
    struct proxy_request *req;
    struct proxy_span url;
    bool last_was_value;
    bool too_many_headers;
    bool headers_done;
};

static struct proxy_span span_at(const struct parse_state *st, const char *at, size_t len)
{
    return (struct proxy_span){(size_t)(at - st->buf), len};
}

/* A field split over two callbacks continues where the first part ended. */
static void extend(struct proxy_span *span, struct proxy_span more)
{
    if (span->len == 0)
        *span = more;
    else
        span->len = more.off + more.len - span->off;
}

static int on_url(http_parser *parser, const char *at, size_t len)
{
    struct parse_state *st = parser->data;
    extend(&st->url, span_at(st, at, len));
    return 0;
}

static int on_header_field(http_parser *parser, const char *at, size_t len)
{
    struct parse_state *st = parser->data;
    struct proxy_request *req = st->req;
    if (req->n_headers == 0 || st->last_was_value) {
        if (req->n_headers == PROXY_HEADERS_MAX) {
            st->too_many_headers = true;
            return -1;
        }
        struct proxy_header *h = &req->headers[req->n_headers++];
        h->name = span_at(st, at, 0);
        h->value = span_at(st, at, 0);
    }
    st->last_was_value = false;
    extend(&req->headers[req->n_headers - 1].name, span_at(st, at, len));
    return 0;
}

static int on_header_value(http_parser *parser, const char *at, size_t len)
{
    struct parse_state *st = parser->data;
    st->last_was_value = true;
    extend(&st->req->headers[st->req->n_headers - 1].value, span_at(st, at, len));
    return 0;
}

static int on_headers_complete(http_parser *parser)
{
    struct parse_state *st = parser->data;
    st->headers_done = true;
    return 0;
}

/* Where the head ends: just past the first empty line (CRLF or bare LF), or 0. */
static size_t find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static enum proxy_parse_result __attribute__((format(printf, 5, 6)))
bad(int *status, int code, char *reason, size_t reasonlen, const char *fmt, ...)
{
    *status = code;
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, reasonlen, fmt, args);
    va_end(args);
    return PROXY_BAD;
}

static bool copy_field(const char *url, const struct http_parser_url *u, int field, char *out,
                       size_t outlen)
{
    size_t len = u->field_data[field].len;
    if (len == 0 || len >= outlen)
        return false;
    memcpy(out, url + u->field_data[field].off, len);
    out[len] = '\0';
    return true;
}

/* RFC 9110 §5.6.2: a field name is a token. */
static bool is_token(const char *s, size_t len)
{
    static const char specials[] = "!#$%&'*+-.^_`|~";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && (c == '\0' || !strchr(specials, c)))
            return false;
    }
    return true;
}

static enum proxy_parse_result parse_target(const char *buf, const struct proxy_span *url,
                                            struct proxy_request *req, int *status, char *reason,
                                            size_t reasonlen)
{
    const char *text = buf + url->off;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(text, url->len, req->connect, &u) != 0)
        return req->connect
                   ? bad(status, 400, reason, reasonlen, "CONNECT needs host:port as its target")
                   : bad(status, 400, reason, reasonlen, "the request target is not a valid URI");
    if (!req->connect) {
        if (!(u.field_set & (1 << UF_SCHEMA)))
            return bad(status, 400, reason, reasonlen,
                       "a proxy request needs an absolute URI (http://host/...) or CONNECT "
                       "host:port");
        if (u.field_data[UF_SCHEMA].len != 4 ||
            strncasecmp(text + u.field_data[UF_SCHEMA].off, "http", 4) != 0)
            return bad(status, 400, reason, reasonlen,
                       "only http:// URIs are forwarded; use CONNECT for anything else");
        if (u.field_set & (1 << UF_USERINFO))
            return bad(status, 400, reason, reasonlen, "credentials in the URI are not supported");
    }
    if (!copy_field(text, &u, UF_HOST, req->host, sizeof(req->host)))
        return bad(status, 400, reason, reasonlen, "the host is empty or longer than 255 bytes");
    if ((u.field_set & (1 << UF_PORT)) && u.port == 0)
        return bad(status, 400, reason, reasonlen, "port 0 is not a port");
    req->port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
    if (u.field_set & (1 << UF_PATH))
        req->path =
            (struct proxy_span){url->off + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len};
    if (u.field_set & (1 << UF_QUERY)) {
        req->has_query = true;
        req->query =
            (struct proxy_span){url->off + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len};
    }
    return PROXY_COMPLETE;
}

/* The head at the start of buf: its request line and header fields, checked;
 * the target is left in *url for the caller's form. */
static enum proxy_parse_result parse_head(const char *buf, size_t len, struct proxy_request *req,
                                          struct proxy_span *url, int *status, char *reason,
                                          size_t reasonlen)
{
    memset(req, 0, sizeof(*req));
    size_t searched = len < PROXY_HEAD_MAX ? len : PROXY_HEAD_MAX;
    size_t head_len = find_head_end(buf, searched);
    if (head_len == 0 && len >= PROXY_HEAD_MAX)
        return bad(status, 431, reason, reasonlen, "the request head is longer than %d bytes",
                   PROXY_HEAD_MAX);

    struct parse_state st = {.buf = buf, .req = req};
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &st;
    http_parser_settings settings;
    http_parser_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    http_parser_execute(&parser, &settings, buf, head_len ? head_len : len);

    if (st.too_many_headers)
        return bad(status, 431, reason, reasonlen, "the request has more than %d header fields",
                   PROXY_HEADERS_MAX);
    enum http_errno error = HTTP_PARSER_ERRNO(&parser);
    if (error != HPE_OK)
        return bad(status, 400, reason, reasonlen, "malformed request: %s",
                   http_errno_description(error));
    if (head_len == 0)
        return PROXY_INCOMPLETE;
    if (!st.headers_done)
        return bad(status, 400, reason, reasonlen, "malformed request: no request line");
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct proxy_span *name = &req->headers[i].name;
        if (!is_token(buf + name->off, name->len))
            return bad(status, 400, reason, reasonlen,
                       "malformed request: header field %zu has an invalid name", i + 1);
    }
    if (parser.http_major != 1)
        return bad(status, 505, reason, reasonlen, "only HTTP/1.x is spoken here");

    req->connect = parser.method == HTTP_CONNECT;
    req->method = http_method_str((enum http_method)parser.method);
    req->http_major = parser.http_major;
    req->http_minor = parser.http_minor;
    req->head_len = head_len;
    *url = st.url;
    return PROXY_COMPLETE;
}

enum proxy_parse_result proxy_request_parse(const char *buf, size_t len, struct proxy_request *req,
                                            int *status, char *reason, size_t reasonlen)
{
    struct proxy_span url;
    enum proxy_parse_result r = parse_head(buf, len, req, &url, status, reason, reasonlen);
    return r == PROXY_COMPLETE ? parse_target(buf, &url, req, status, reason, reasonlen) : r;
}

static bool span_is(const char *buf, const struct proxy_span *span, const char *name)
{
    return span->len == strlen(name) && strncasecmp(buf + span->off, name, span->len) == 0;
}

/* "host", "host:port", "[v6]" or "[v6]:port" into req. */
static bool parse_host_header(const char *text, size_t len, struct proxy_request *req)
{
    const char *end = text + len, *host = text, *host_end, *colon;
    if (len > 0 && text[0] == '[') {
        host = text + 1;
        host_end = memchr(text, ']', len);
        if (!host_end)
            return false;
        colon = host_end + 1 < end ? host_end + 1 : NULL;
        if (colon && *colon != ':')
            return false;
    } else {
        colon = memchr(text, ':', len);
        host_end = colon ? colon : end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len >= sizeof(req->host))
        return false;
    memcpy(req->host, host, host_len);
    req->host[host_len] = '\0';
    req->port = 0;
    if (!colon)
        return true;
    unsigned long port = 0;
    const char *p = colon + 1;
    if (p == end || *p == '0')
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
            return false;
    }
    req->port = (uint16_t)port;
    return true;
}

enum proxy_parse_result proxy_origin_request_parse(const char *buf, size_t len,
                                                   struct proxy_request *req, int *status,
                                                   char *reason, size_t reasonlen)
{
    struct proxy_span url;
    enum proxy_parse_result r = parse_head(buf, len, req, &url, status, reason, reasonlen);
    if (r != PROXY_COMPLETE)
        return r;
    if (req->connect)
        return bad(status, 400, reason, reasonlen, "CONNECT inside a tunnel");
    if (url.len == 0 || buf[url.off] != '/')
        return bad(status, 400, reason, reasonlen,
                   "inside a tunnel a request names its target as /path (origin form)");
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(buf + url.off, url.len, 0, &u) != 0)
        return bad(status, 400, reason, reasonlen, "the request target is not a valid path");
    req->path = (struct proxy_span){url.off + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len};
    if (u.field_set & (1 << UF_QUERY)) {
        req->has_query = true;
        req->query =
            (struct proxy_span){url.off + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len};
    }
    const struct proxy_header *host = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!span_is(buf, &req->headers[i].name, "host"))
            continue;
        if (host)
            return bad(status, 400, reason, reasonlen, "the request has more than one Host");
        host = &req->headers[i];
    }
    if (!host)
        return bad(status, 400, reason, reasonlen, "the request has no Host");
    if (!parse_host_header(buf + host->value.off, host->value.len, req))
        return bad(status, 400, reason, reasonlen, "the Host header is not host[:port]");
    return PROXY_COMPLETE;
}

/* Whether a Connection (or Proxy-Connection) header lists name as one of its
 * comma-separated options: those headers are for this hop only. */
static bool named_by_connection(const char *buf, const struct proxy_request *req,
                                const struct proxy_span *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct proxy_header *h = &req->headers[i];
        if (!span_is(buf, &h->name, "connection") && !span_is(buf, &h->name, "proxy-connection"))
            continue;
        size_t pos = h->value.off, end = h->value.off + h->value.len;
        while (pos < end) {
            while (pos < end && (buf[pos] == ' ' || buf[pos] == '\t' || buf[pos] == ','))
                pos++;
            size_t start = pos;
            while (pos < end && buf[pos] != ',' && buf[pos] != ' ' && buf[pos] != '\t')
                pos++;
            if (pos > start && pos - start == name->len &&
                strncasecmp(buf + start, buf + name->off, name->len) == 0)
                return true;
        }
    }
    return false;
}

static bool is_hop_by_hop(const char *buf, const struct proxy_request *req,
                          const struct proxy_span *name)
{
    static const char *const dropped[] = {
        "connection", "proxy-connection",   "keep-alive", "proxy-authorization",
        "te",         "proxy-authenticate", "trailer",    "upgrade",
        "host",
    };
    for (size_t i = 0; i < ARRAY_SIZE(dropped); i++) {
        if (span_is(buf, name, dropped[i]))
            return true;
    }
    return named_by_connection(buf, req, name);
}

struct out_buffer {
    char *data;
    size_t cap, len;
    bool overflow;
};

static void put(struct out_buffer *out, const char *data, size_t len)
{
    if (out->overflow || len > out->cap - out->len) {
        out->overflow = true;
        return;
    }
    memcpy(out->data + out->len, data, len);
    out->len += len;
}

static void put_text(struct out_buffer *out, const char *text)
{
    put(out, text, strlen(text));
}

static void put_span(struct out_buffer *out, const char *buf, const struct proxy_span *span)
{
    put(out, buf + span->off, span->len);
}

int proxy_request_forward(const char *buf, const struct proxy_request *req, char *out,
                          size_t outlen)
{
    struct out_buffer o = {.data = out, .cap = outlen};
    char text[320];
    put_text(&o, req->method);
    put_text(&o, " ");
    if (req->path.len > 0)
        put_span(&o, buf, &req->path);
    else
        put_text(&o, "/");
    if (req->has_query) {
        put_text(&o, "?");
        put_span(&o, buf, &req->query);
    }
    snprintf(text, sizeof(text), " HTTP/%u.%u\r\n", req->http_major, req->http_minor);
    put_text(&o, text);

    bool ipv6 = strchr(req->host, ':') != NULL;
    char port[8] = "";
    if (req->port != 80)
        snprintf(port, sizeof(port), ":%u", (unsigned)req->port);
    snprintf(text, sizeof(text), "Host: %s%s%s%s\r\n", ipv6 ? "[" : "", req->host, ipv6 ? "]" : "",
             port);
    put_text(&o, text);

    for (size_t i = 0; i < req->n_headers; i++) {
        const struct proxy_header *h = &req->headers[i];
        if (is_hop_by_hop(buf, req, &h->name))
            continue;
        put_span(&o, buf, &h->name);
        put_text(&o, ": ");
        put_span(&o, buf, &h->value);
        put_text(&o, "\r\n");
    }
    put_text(&o, "Connection: close\r\n\r\n");
    return o.overflow ? -1 : (int)o.len;
}

static const char *status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

int proxy_response(int status, const char *body, char *out, size_t outlen)
{
    int n = snprintf(out, outlen,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n"
                     "%s",
                     status, status_text(status), strlen(body), body);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}
