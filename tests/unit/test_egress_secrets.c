/* Placeholders and substitution (worker/egress_secrets.h): a job's
 * placeholders, finding them in a stream however it is cut, and request heads:
 * the value in the bound header only, whatever the case of its name or of the
 * placeholder, and a refusal naming the secret for a placeholder in the URL,
 * another header, a folded line, a plain HTTP request, a request to another
 * host or one naming another Host. Also the requests a tunnel carries
 * (proxy_origin_request_parse). */
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/egress_secrets.h"
#include "worker/proxy_http.h"

#define VALUE "sk-live-0123456789"

static const char store_json[] =
    "{\"secrets\": {"
    " \"KEY\": {\"value\": \"" VALUE "\", \"bindings\": ["
    "   {\"host\": \"api.test\", \"header\": \"Authorization\", \"template\": \"Bearer ${KEY}\"},"
    "   {\"host\": \"alt.test:8443\", \"header\": \"X-Api-Key\", \"template\": \"${KEY}\"}]},"
    " \"GIT\": {\"value\": \"ghp_abc\", \"bindings\": ["
    "   {\"host\": \"git.test\", \"basic_auth\": \"x-access-token\"}]},"
    " \"OTHER\": {\"value\": \"other-value\", \"bindings\": ["
    "   {\"host\": \"api.test\", \"header\": \"X-Other\", \"template\": \"${OTHER}\"}]}}}";

static struct secret_store *store;

static int setup(void **state)
{
    (void)state;
    char err[512];
    if (secret_store_parse(store_json, strlen(store_json), "test", &store, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    secret_store_free(store);
    return 0;
}

static struct job_secrets make(const char *const *names, size_t n)
{
    struct job_secrets js;
    char err[256];
    if (job_secrets_make(store, names, n, &js, err, sizeof(err)) != 0)
        fail_msg("job_secrets_make: %s", err);
    return js;
}

static const char *const all_names[] = {"KEY", "GIT", "OTHER"};

static void test_placeholders(void **state)
{
    (void)state;
    const char *const names[] = {"KEY", "GIT", "KEY"};
    struct job_secrets a = make(names, 3), b = make(names, 1);
    assert_int_equal(a.count, 2); /* KEY once */
    assert_int_equal(strncmp(a.list[0].placeholder, "brig-secret:KEY:", 16), 0);
    assert_int_equal(a.list[0].len, 16 + 32);
    for (size_t i = 16; i < a.list[0].len; i++)
        assert_non_null(strchr("0123456789abcdef", a.list[0].placeholder[i]));
    assert_string_not_equal(a.list[0].placeholder, b.list[0].placeholder); /* per job */
    assert_null(strstr(a.list[0].placeholder, VALUE));

    struct job_secrets bad;
    char err[256];
    const char *const unknown[] = {"KEY", "NOPE"};
    assert_int_equal(job_secrets_make(store, unknown, 2, &bad, err, sizeof(err)), -1);
    assert_string_equal(err, "secrets[1]: this worker has no secret \"NOPE\"");
    job_secrets_free(&a);
    job_secrets_free(&b);
}

static void test_a_stream_cut_anywhere(void **state)
{
    (void)state;
    struct job_secrets js = make(all_names, 3);
    char stream[512];
    snprintf(stream, sizeof(stream), "POST /x HTTP/1.1\r\n\r\n{\"token\": \"%s\"}",
             js.list[1].placeholder);
    size_t len = strlen(stream);
    for (size_t cut = 0; cut <= len; cut++) {
        struct secret_scan scan = {0};
        const struct job_secret *a = secret_scan_feed(&scan, &js, stream, cut);
        const struct job_secret *b = secret_scan_feed(&scan, &js, stream + cut, len - cut);
        assert_ptr_equal(a ? a : b, &js.list[1]);
    }
    /* A byte at a time, upper case. */
    struct secret_scan scan = {0};
    const struct job_secret *hit = NULL;
    for (size_t i = 0; i < len && !hit; i++) {
        char c = stream[i] >= 'a' && stream[i] <= 'z' ? (char)(stream[i] - 32) : stream[i];
        hit = secret_scan_feed(&scan, &js, &c, 1);
    }
    assert_ptr_equal(hit, &js.list[1]);
    /* Another job's placeholder, or the prefix alone, is nothing. */
    struct job_secrets other = make(all_names, 3);
    struct secret_scan clean = {0};
    assert_null(secret_scan_feed(&clean, &js, other.list[1].placeholder, other.list[1].len));
    assert_null(secret_scan_feed(&clean, &js, "brig-secret:GIT:", 16));
    job_secrets_free(&other);
    job_secrets_free(&js);
}

/* ---- request heads ---- */

struct filtered {
    enum secret_head_verdict verdict;
    struct secret_head_outcome outcome;
    char out[PROXY_HEAD_MAX + 4096];
    size_t out_len;
};

static void filter(const struct job_secrets *js, const char *head, const char *host, uint16_t port,
                   bool intercepted, struct filtered *f)
{
    struct proxy_request req;
    int status;
    char reason[256];
    enum proxy_parse_result r =
        intercepted
            ? proxy_origin_request_parse(head, strlen(head), &req, &status, reason, sizeof(reason))
            : proxy_request_parse(head, strlen(head), &req, &status, reason, sizeof(reason));
    if (r != PROXY_COMPLETE)
        fail_msg("parsing %s: %d %s", head, status, reason);
    memset(f, 0, sizeof(*f));
    f->verdict = secret_head_filter(js, head, &req, host, port, intercepted, f->out,
                                    sizeof(f->out) - 1, &f->out_len, &f->outcome);
    f->out[f->out_len] = '\0';
}

static void expect_refused(const struct job_secrets *js, const char *head, const char *host,
                           uint16_t port, bool intercepted, const char *reason)
{
    struct filtered f;
    filter(js, head, host, port, intercepted, &f);
    if (f.verdict != SECRET_HEAD_REFUSED)
        fail_msg("not refused (%d): %s", f.verdict, head);
    if (strcmp(f.outcome.reason, reason) != 0)
        fail_msg("reason \"%s\", expected \"%s\"", f.outcome.reason, reason);
    assert_null(strstr(f.outcome.reason, VALUE));
}

static const char where_key[] = "it may go only in header Authorization of HTTPS requests to "
                                "api.test:443, or header X-Api-Key of HTTPS requests to "
                                "alt.test:8443";

static void test_the_bound_header_gets_the_value(void **state)
{
    (void)state;
    struct job_secrets js = make(all_names, 3);
    const char *key = js.list[0].placeholder;
    char head[1024], expected[1024];
    struct filtered f;

    snprintf(head, sizeof(head),
             "GET /v1/models?limit=2 HTTP/1.1\r\nHost: api.test\r\nauthorization: Bearer %s\r\n"
             "Accept: */*\r\n\r\n",
             key);
    filter(&js, head, "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REWRITTEN);
    assert_string_equal(f.out, "GET /v1/models?limit=2 HTTP/1.1\r\nHost: api.test\r\n"
                               "authorization: Bearer " VALUE "\r\nAccept: */*\r\n\r\n");
    assert_int_equal(f.outcome.n_used, 1);
    assert_ptr_equal(f.outcome.used[0], &js.list[0]);
    assert_string_equal(f.outcome.used_header[0], "Authorization");

    /* The value replaces the header's whole value, whatever the job put
     * around the placeholder, and the placeholder in upper case too. */
    char upper[64];
    for (size_t i = 0; i <= js.list[0].len; i++)
        upper[i] = key[i] >= 'a' && key[i] <= 'z' ? (char)(key[i] - 32) : key[i];
    snprintf(head, sizeof(head),
             "POST /x HTTP/1.1\r\nHOST: API.test:443\r\nAUTHORIZATION: %s "
             "trailing\r\nContent-Length: 2\r\n\r\n",
             upper);
    filter(&js, head, "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REWRITTEN);
    assert_string_equal(f.out,
                        "POST /x HTTP/1.1\r\nHOST: API.test:443\r\nAUTHORIZATION: Bearer " VALUE
                        "\r\nContent-Length: 2\r\n\r\n");

    /* The second binding, on its own port; and two secrets in one head. */
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: alt.test:8443\r\nx-api-key: %s\r\n\r\n",
             key);
    filter(&js, head, "alt.test", 8443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REWRITTEN);
    assert_string_equal(f.out,
                        "GET / HTTP/1.1\r\nHost: alt.test:8443\r\nx-api-key: " VALUE "\r\n\r\n");
    snprintf(head, sizeof(head),
             "GET / HTTP/1.1\r\nHost: api.test\r\nX-Other: %s\r\nAuthorization: Bearer %s\r\n\r\n",
             js.list[2].placeholder, key);
    filter(&js, head, "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REWRITTEN);
    snprintf(expected, sizeof(expected),
             "GET / HTTP/1.1\r\nHost: api.test\r\nX-Other: other-value\r\nAuthorization: Bearer "
             "%s\r\n\r\n",
             VALUE);
    assert_string_equal(f.out, expected);
    assert_int_equal(f.outcome.n_used, 2);

    /* Nothing to do: the head goes as it is. */
    filter(&js, "GET / HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer mine\r\n\r\n",
           "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_PASS);
    job_secrets_free(&js);
}

static void test_basic_auth(void **state)
{
    (void)state;
    struct job_secrets js = make(all_names, 3);
    char head[1024], plain[256], encoded[512];
    snprintf(plain, sizeof(plain), "x-access-token:%s", js.list[1].placeholder);
    EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)plain, (int)strlen(plain));
    snprintf(head, sizeof(head),
             "GET /repo HTTP/1.1\r\nHost: git.test\r\nAuthorization: Basic %s\r\n\r\n", encoded);
    struct filtered f;
    filter(&js, head, "git.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REWRITTEN);
    /* base64("x-access-token:ghp_abc") */
    assert_string_equal(f.out, "GET /repo HTTP/1.1\r\nHost: git.test\r\n"
                               "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw==\r\n\r\n");
    /* Encoded, it is still found where it may not go. */
    snprintf(head, sizeof(head),
             "GET / HTTP/1.1\r\nHost: api.test\r\nAuthorization: Basic %s\r\n\r\n", encoded);
    filter(&js, head, "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REFUSED);
    assert_ptr_equal(f.outcome.refused, &js.list[1]);
    job_secrets_free(&js);
}

/* Each head holds KEY's placeholder at %s; the refusal says where, and
 * where KEY may go. */
static const struct {
    const char *head, *host;
    uint16_t port;
    bool intercepted;
    const char *place;
} elsewhere[] = {
    {"GET /v1?key=%s HTTP/1.1\r\nHost: api.test\r\n\r\n", "api.test", 443, true,
     "the request line of a request to api.test:443"},
    {"GET / HTTP/1.1\r\nHost: api.test\r\nX-Forward-Me: %s\r\n\r\n", "api.test", 443, true,
     "header X-Forward-Me of a request to api.test:443"},
    /* A folded continuation line belongs to the header before it. */
    {"GET / HTTP/1.1\r\nHost: api.test\r\nX-A: a\r\n  %s\r\n\r\n", "api.test", 443, true,
     "header X-A of a request to api.test:443"},
    /* The bound header, but of the other binding's host, or another port. */
    {"GET / HTTP/1.1\r\nHost: alt.test:8443\r\nAuthorization: Bearer %s\r\n\r\n", "alt.test", 8443,
     true, "header Authorization of a request to alt.test:8443"},
    {"GET / HTTP/1.1\r\nHost: api.test:8443\r\nAuthorization: %s\r\n\r\n", "api.test", 8443, true,
     "header Authorization of a request to api.test:8443"},
    /* Plain HTTP, even to the bound host and header; a CONNECT head. */
    {"GET http://api.test/ HTTP/1.1\r\nAuthorization: Bearer %s\r\n\r\n", "api.test", 80, false,
     "header Authorization of a plain HTTP request to api.test:80"},
    {"CONNECT evil.test:443 HTTP/1.1\r\nProxy-Authorization: %s\r\n\r\n", "evil.test", 443, false,
     "header Proxy-Authorization of a CONNECT request to evil.test:443"},
};

static void test_anywhere_else_is_refused(void **state)
{
    (void)state;
    struct job_secrets js = make(all_names, 3);
    const char *key = js.list[0].placeholder;
    char head[1024], reason[1024];
    for (size_t i = 0; i < sizeof(elsewhere) / sizeof(elsewhere[0]); i++) {
        snprintf(head, sizeof(head), elsewhere[i].head, key);
        snprintf(reason, sizeof(reason), "secret KEY: its placeholder is in %s; %s",
                 elsewhere[i].place, where_key);
        expect_refused(&js, head, elsewhere[i].host, elsewhere[i].port, elsewhere[i].intercepted,
                       reason);
    }

    /* Two placeholders in one bound header: neither is put in. */
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: api.test\r\nAuthorization: %s %s\r\n\r\n",
             key, js.list[2].placeholder);
    struct filtered f;
    filter(&js, head, "api.test", 443, true, &f);
    assert_int_equal(f.verdict, SECRET_HEAD_REFUSED);

    /* In a tunnel to api.test, a request for another Host. */
    snprintf(head, sizeof(head),
             "GET / HTTP/1.1\r\nHost: evil.test\r\nAuthorization: Bearer %s\r\n\r\n", key);
    expect_refused(&js, head, "api.test", 443, true,
                   "a request in the tunnel to api.test:443 names another host (Host: evil.test)");
    expect_refused(&js, "GET / HTTP/1.1\r\nHost: api.test:444\r\n\r\n", "api.test", 443, true,
                   "a request in the tunnel to api.test:443 names another host (Host: "
                   "api.test:444)");
    job_secrets_free(&js);
}

static void test_a_head_too_long_with_its_values(void **state)
{
    (void)state;
    struct job_secrets js = make(all_names, 1);
    char head[512], out[64];
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: api.test\r\nAuthorization: %s\r\n\r\n",
             js.list[0].placeholder);
    struct proxy_request req;
    int status;
    char reason[128];
    assert_int_equal(
        proxy_origin_request_parse(head, strlen(head), &req, &status, reason, sizeof(reason)),
        PROXY_COMPLETE);
    struct secret_head_outcome o;
    size_t len;
    assert_int_equal(
        secret_head_filter(&js, head, &req, "api.test", 443, true, out, sizeof(out), &len, &o),
        SECRET_HEAD_UNWRITTEN);
    assert_string_equal(o.reason, "the request head with its secrets is too long");
    job_secrets_free(&js);
}

static void expect_origin_bad(const char *head, int status, const char *why)
{
    struct proxy_request req;
    int got;
    char reason[256];
    assert_int_equal(
        proxy_origin_request_parse(head, strlen(head), &req, &got, reason, sizeof(reason)),
        PROXY_BAD);
    assert_int_equal(got, status);
    assert_string_equal(reason, why);
}

static void test_requests_in_a_tunnel(void **state)
{
    (void)state;
    struct proxy_request req;
    int status;
    char reason[256];
    const char *head = "PUT /a/b?c=1&d HTTP/1.1\r\nHost: [::1]:8443\r\n\r\nbody";
    assert_int_equal(
        proxy_origin_request_parse(head, strlen(head), &req, &status, reason, sizeof(reason)),
        PROXY_COMPLETE);
    assert_string_equal(req.host, "::1");
    assert_int_equal(req.port, 8443);
    assert_string_equal(req.method, "PUT");
    assert_memory_equal(head + req.path.off, "/a/b", req.path.len);
    assert_memory_equal(head + req.query.off, "c=1&d", req.query.len);
    assert_int_equal(req.head_len, strlen(head) - 4);
    head = "GET / HTTP/1.1\r\nHost: api.test\r\n";
    assert_int_equal(
        proxy_origin_request_parse(head, strlen(head), &req, &status, reason, sizeof(reason)),
        PROXY_INCOMPLETE);

    expect_origin_bad("GET https://api.test/ HTTP/1.1\r\nHost: api.test\r\n\r\n", 400,
                      "inside a tunnel a request names its target as /path (origin form)");
    expect_origin_bad("GET / HTTP/1.1\r\n\r\n", 400, "the request has no Host");
    expect_origin_bad("GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400,
                      "the request has more than one Host");
    expect_origin_bad("GET / HTTP/1.1\r\nHost: a.test:0\r\n\r\n", 400,
                      "the Host header is not host[:port]");
    expect_origin_bad("GET / HTTP/1.1\r\nHost: a.test:99999\r\n\r\n", 400,
                      "the Host header is not host[:port]");
    expect_origin_bad("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n", 400,
                      "CONNECT inside a tunnel");
    expect_origin_bad("GET / HTTP/2.0\r\nHost: a.test\r\n\r\n", 505,
                      "only HTTP/1.x is spoken here");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placeholders),
        cmocka_unit_test(test_a_stream_cut_anywhere),
        cmocka_unit_test(test_the_bound_header_gets_the_value),
        cmocka_unit_test(test_basic_auth),
        cmocka_unit_test(test_anywhere_else_is_refused),
        cmocka_unit_test(test_a_head_too_long_with_its_values),
        cmocka_unit_test(test_requests_in_a_tunnel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
