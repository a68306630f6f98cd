/* A job's placeholders, finding them, and the request heads they may go in
 * (egress_secrets.h). */
#include "worker/egress_secrets.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- placeholders ---- */

int job_secrets_make(const struct secret_store *store, const char *const *names, size_t n,
                     struct job_secrets *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return 0;
    if (!(out->list = calloc(n, sizeof(*out->list)))) {
        snprintf(err, errlen, "allocating the job's placeholders: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct secret *s = secret_find(store, names[i]);
        if (!s) {
            snprintf(err, errlen, "secrets[%zu]: this worker has no secret \"%.128s\"", i,
                     names[i]);
            job_secrets_free(out);
            return -1;
        }
        size_t k = 0;
        while (k < out->count && out->list[k].secret != s)
            k++;
        if (k < out->count)
            continue;
        unsigned char nonce[PLACEHOLDER_NONCE_HEX / 2];
        if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
            snprintf(err, errlen, "making the job's placeholders: no randomness");
            job_secrets_free(out);
            return -1;
        }
        struct job_secret *js = &out->list[out->count++];
        js->secret = s;
        int len =
            snprintf(js->placeholder, sizeof(js->placeholder), PLACEHOLDER_PREFIX "%s:", s->name);
        for (size_t b = 0; b < sizeof(nonce); b++)
            len += snprintf(js->placeholder + len, sizeof(js->placeholder) - (size_t)len, "%02x",
                            nonce[b]);
        js->len = (size_t)len;
        if (js->len > out->longest)
            out->longest = js->len;
    }
    return 0;
}

void job_secrets_free(struct job_secrets *js)
{
    free(js->list);
    memset(js, 0, sizeof(*js));
}

static bool holds(const struct job_secret *s, const char *data, size_t len)
{
    for (size_t i = 0; i + s->len <= len; i++) {
        if (tolower((unsigned char)data[i]) == 'b' &&
            strncasecmp(data + i, s->placeholder, s->len) == 0)
            return true;
    }
    return false;
}

/* The first placeholder in data and where it starts. */
static const struct job_secret *find_at(const struct job_secrets *js, const char *data, size_t len,
                                        size_t *at)
{
    static const size_t prefix = sizeof(PLACEHOLDER_PREFIX) - 1;
    for (size_t i = 0; i + prefix <= len; i++) {
        if (tolower((unsigned char)data[i]) != 'b' ||
            strncasecmp(data + i, PLACEHOLDER_PREFIX, prefix) != 0)
            continue;
        for (size_t k = 0; k < js->count; k++) {
            const struct job_secret *s = &js->list[k];
            if (s->len <= len - i && strncasecmp(data + i, s->placeholder, s->len) == 0) {
                *at = i;
                return s;
            }
        }
    }
    return NULL;
}

const struct job_secret *job_secrets_find(const struct job_secrets *js, const char *data,
                                          size_t len)
{
    size_t at;
    return find_at(js, data, len, &at);
}

const struct job_secret *secret_scan_feed(struct secret_scan *scan, const struct job_secrets *js,
                                          const char *data, size_t len)
{
    if (js->count == 0 || len == 0)
        return NULL;
    size_t keep = js->longest - 1;
    /* Across the seam: what was kept of the stream, and the start of data. */
    char seam[2 * PLACEHOLDER_MAX];
    size_t first = len < keep ? len : keep;
    memcpy(seam, scan->tail, scan->tail_len);
    memcpy(seam + scan->tail_len, data, first);
    const struct job_secret *hit = job_secrets_find(js, seam, scan->tail_len + first);
    if (!hit)
        hit = job_secrets_find(js, data, len);
    if (len >= keep) {
        memcpy(scan->tail, data + len - keep, keep);
        scan->tail_len = keep;
    } else {
        size_t total = scan->tail_len + len, drop = total > keep ? total - keep : 0;
        memmove(scan->tail, scan->tail + drop, scan->tail_len - drop);
        memcpy(scan->tail + scan->tail_len - drop, data, len);
        scan->tail_len = total - drop;
    }
    return hit;
}

/* ---- where a secret may go ---- */

static void describe_bindings(const struct secret *s, char *out, size_t outlen)
{
    int len = 0;
    for (size_t i = 0; i < s->n_bindings && len >= 0 && (size_t)len < outlen; i++) {
        const struct secret_binding *b = &s->bindings[i];
        len += snprintf(out + len, outlen - (size_t)len, "%sheader %s of HTTPS requests to %s:%u",
                        i ? ", or " : "", b->header, b->host, (unsigned)b->port);
    }
}

void secret_refusal(const struct job_secret *js, const char *what, const char *host, uint16_t port,
                    char *out, size_t outlen)
{
    char where[512];
    describe_bindings(js->secret, where, sizeof(where));
    bool ipv6 = strchr(host, ':') != NULL;
    snprintf(out, outlen, "secret %s: its placeholder is in %s to %s%s%s:%u; it may go only in %s",
             js->secret->name, what, ipv6 ? "[" : "", host, ipv6 ? "]" : "", (unsigned)port, where);
}

static const struct secret_binding *binding_for(const struct secret *s, const char *host,
                                                uint16_t port, const char *name, size_t name_len)
{
    for (size_t i = 0; i < s->n_bindings; i++) {
        const struct secret_binding *b = &s->bindings[i];
        if (b->port == port && strcasecmp(b->host, host) == 0 && strlen(b->header) == name_len &&
            strncasecmp(b->header, name, name_len) == 0)
            return b;
    }
    return NULL;
}

/* "Basic <base64>" decoded into out (NUL-terminated); 0 when it is not that. */
static size_t decode_basic(const char *value, size_t len, char *out, size_t outlen)
{
    if (len <= 6 || strncasecmp(value, "Basic ", 6) != 0)
        return 0;
    value += 6;
    len -= 6;
    while (len > 0 && value[0] == ' ') {
        value++;
        len--;
    }
    while (len > 0 && value[len - 1] == ' ')
        len--;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 >= outlen)
        return 0;
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)value, (int)len);
    if (n < 0)
        return 0;
    out[n] = '\0';
    return (size_t)n;
}

/* The one secret whose placeholder the header value holds, plainly or as
 * Basic credentials; NULL with *several set when more than one does. */
static const struct job_secret *placeholder_in_value(const struct job_secrets *js,
                                                     const char *value, size_t len, bool *several)
{
    char decoded[PROXY_HEAD_MAX];
    size_t decoded_len = decode_basic(value, len, decoded, sizeof(decoded));
    const struct job_secret *found = NULL;
    *several = false;
    for (size_t k = 0; k < js->count; k++) {
        const struct job_secret *s = &js->list[k];
        if (!holds(s, value, len) && !holds(s, decoded, decoded_len))
            continue;
        if (found)
            *several = true;
        found = s;
    }
    return found;
}

static void describe_place(const char *buf, const struct proxy_request *req, size_t at, char *out,
                           size_t outlen)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct proxy_header *h = &req->headers[i];
        if (at >= h->name.off && at < h->value.off + h->value.len) {
            snprintf(out, outlen, "header %.*s", (int)(h->name.len > 64 ? 64 : h->name.len),
                     buf + h->name.off);
            return;
        }
    }
    snprintf(out, outlen, "the request line");
}

static enum secret_head_verdict refuse(struct secret_head_outcome *o, const struct job_secret *s,
                                       const char *place, const char *kind, const char *host,
                                       uint16_t port)
{
    char what[256];
    snprintf(what, sizeof(what), "%s of %s", place, kind);
    o->refused = s;
    secret_refusal(s, what, host, port, o->reason, sizeof(o->reason));
    return SECRET_HEAD_REFUSED;
}

static enum secret_head_verdict unwritten(struct secret_head_outcome *o, const char *why)
{
    snprintf(o->reason, sizeof(o->reason), "%s", why);
    return SECRET_HEAD_UNWRITTEN;
}

/* Inside a tunnel, the request must be for the tunnel's host: a server that
 * routes by Host (a CDN) would otherwise take the value elsewhere. */
static bool host_matches(const struct proxy_request *req, const char *host, uint16_t port)
{
    size_t len = strlen(req->host);
    if (len > 0 && req->host[len - 1] == '.')
        len--;
    return len == strlen(host) && strncasecmp(req->host, host, len) == 0 &&
           (req->port == port || (req->port == 0 && port == SECRET_DEFAULT_PORT));
}

enum secret_head_verdict secret_head_filter(const struct job_secrets *js, const char *buf,
                                            const struct proxy_request *req, const char *host,
                                            uint16_t port, bool intercepted, char *out,
                                            size_t outlen, size_t *out_len,
                                            struct secret_head_outcome *o)
{
    memset(o, 0, sizeof(*o));
    const char *kind = intercepted    ? "a request"
                       : req->connect ? "a CONNECT request"
                                      : "a plain HTTP request";
    if (intercepted && !host_matches(req, host, port)) {
        char named[300];
        snprintf(named, sizeof(named), req->port ? "%s:%u" : "%s", req->host, (unsigned)req->port);
        snprintf(o->reason, sizeof(o->reason),
                 "a request in the tunnel to %s:%u names another host (Host: %s)", host,
                 (unsigned)port, named);
        return SECRET_HEAD_REFUSED;
    }
    /* The headers whose value is replaced, in order, and by what. */
    const struct proxy_header *replaced[SECRET_HEAD_USES_MAX] = {0};
    const struct secret_binding *by[SECRET_HEAD_USES_MAX] = {0};
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct proxy_header *h = &req->headers[i];
        bool several;
        const struct job_secret *s =
            placeholder_in_value(js, buf + h->value.off, h->value.len, &several);
        if (!s)
            continue;
        const struct secret_binding *b =
            intercepted && !several
                ? binding_for(s->secret, host, port, buf + h->name.off, h->name.len)
                : NULL;
        char place[128];
        describe_place(buf, req, h->name.off, place, sizeof(place));
        if (!b || o->n_used == SECRET_HEAD_USES_MAX)
            return refuse(o, s, place, kind, host, port);
        replaced[o->n_used] = h;
        by[o->n_used] = b;
        o->used[o->n_used] = s;
        o->used_header[o->n_used++] = b->header;
    }
    /* Everything else of the head, the replaced values left out. */
    size_t pos = 0;
    for (size_t r = 0; r <= o->n_used; r++) {
        size_t end = r < o->n_used ? replaced[r]->value.off : req->head_len, at;
        const struct job_secret *s = find_at(js, buf + pos, end - pos, &at);
        if (s) {
            char place[128];
            describe_place(buf, req, pos + at, place, sizeof(place));
            return refuse(o, s, place, kind, host, port);
        }
        if (r < o->n_used)
            pos = replaced[r]->value.off + replaced[r]->value.len;
    }
    if (o->n_used == 0)
        return SECRET_HEAD_PASS;
    size_t len = 0;
    pos = 0;
    for (size_t r = 0; r <= o->n_used; r++) {
        size_t end = r < o->n_used ? replaced[r]->value.off : req->head_len;
        if (len + end - pos > outlen)
            return unwritten(o, "the request head with its secrets is too long");
        memcpy(out + len, buf + pos, end - pos);
        len += end - pos;
        if (r == o->n_used)
            break;
        char *value = secret_render(o->used[r]->secret, by[r]);
        size_t value_len = value ? strlen(value) : 0;
        bool fits = value && len + value_len <= outlen;
        if (fits)
            memcpy(out + len, value, value_len);
        if (value) {
            explicit_bzero(value, value_len);
            free(value);
        }
        if (!fits)
            return unwritten(o, value_len ? "the request head with its secrets is too long"
                                          : "out of memory");
        len += value_len;
        pos = replaced[r]->value.off + replaced[r]->value.len;
    }
    *out_len = len;
    return SECRET_HEAD_REWRITTEN;
}
