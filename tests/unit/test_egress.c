/* The egress proxy's allow-list (matching, the operator's bound, which
 * addresses a suffix rule may reach) and request heads; test_egress_proxy.c
 * runs the proxy itself. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "sandbox/sandbox.h"
#include "schema/netrule.h"
#include "worker/audit.h"
#include "worker/egress_audit.h"
#include "worker/egress.h"
#include "worker/egress_policy.h"
#include "worker/proxy_http.h"
#include "tests/unit/tree.h"
#include "common/common.h"
#include "tests/unit/egress_fixture.h"

/* ---- the allow-list ---- */

static struct egress_verdict decide(const char *rules_text, const char *host, uint16_t port)
{
    struct egress_rules rules = rules_of(rules_text);
    struct egress_verdict v;
    egress_decide(&rules, host, port, &v);
    egress_rules_free(&rules);
    return v;
}

static void expect_allowed(const char *rules, const char *host, uint16_t port, const char *by)
{
    struct egress_verdict v = decide(rules, host, port);
    if (!v.allowed)
        fail_msg("%s:%u against \"%s\": denied (%s), expected allowed by %s", host, port, rules,
                 v.reason, by);
    assert_string_equal(v.rule, by);
}

static void expect_denied(const char *rules, const char *host, uint16_t port, const char *why)
{
    struct egress_verdict v = decide(rules, host, port);
    if (v.allowed)
        fail_msg("%s:%u against \"%s\": allowed by %s, expected denied", host, port, rules, v.rule);
    if (strstr(v.reason, why) == NULL)
        fail_msg("%s:%u: reason \"%s\" does not say \"%s\"", host, port, v.reason, why);
}

static void test_exact_names(void **state)
{
    (void)state;
    const char *rules = "pypi.org,localhost";
    expect_allowed(rules, "pypi.org", 443, "pypi.org");
    expect_allowed(rules, "PyPI.ORG", 80, "pypi.org");
    expect_allowed(rules, "pypi.org.", 443, "pypi.org");
    expect_allowed(rules, "localhost", 8080, "localhost");
    expect_denied(rules, "files.pypi.org", 443, "no rule of the allow-list matches files.pypi.org");
    expect_denied(rules, "pypi.org.evil.com", 443, "no rule");
    expect_denied(rules, "xpypi.org", 443, "no rule");
    expect_denied(rules, "pypi.org..", 443, "neither a valid host name");
}

static void test_suffixes(void **state)
{
    (void)state;
    const char *rules = "*.example.com";
    expect_allowed(rules, "api.example.com", 443, "*.example.com");
    expect_allowed(rules, "a.b.EXAMPLE.com.", 80, "*.example.com");
    expect_denied(rules, "example.com", 443, "no rule");
    expect_denied(rules, "badexample.com", 443, "no rule");
    expect_denied(rules, "example.com.evil.org", 443, "no rule");
    expect_denied(rules, "*.example.com", 443, "neither a valid host name");
    assert_true(decide(rules, "api.example.com", 443).public_only);
    assert_false(decide("api.example.com", "api.example.com", 443).public_only);
}

static void test_ports(void **state)
{
    (void)state;
    const char *rules = "pypi.org:443,*.example.com:8443,10.0.0.1:5432";
    expect_allowed(rules, "pypi.org", 443, "pypi.org:443");
    expect_denied(rules, "pypi.org", 80,
                  "rule \"pypi.org:443\" allows port 443 only, not pypi.org:80");
    expect_allowed(rules, "x.example.com", 8443, "*.example.com:8443");
    expect_denied(rules, "x.example.com", 443, "rule \"*.example.com:8443\" allows port 8443 only");
    expect_denied(rules, "10.0.0.1", 5433, "rule \"10.0.0.1:5432\" allows port 5432 only");
    expect_allowed("pypi.org", "pypi.org", 1, "pypi.org");
    expect_allowed("pypi.org", "pypi.org", 65535, "pypi.org");
}

static void test_ip_literals(void **state)
{
    (void)state;
    const char *rules = "127.0.0.1:8080,[::1],localhost";
    expect_allowed(rules, "127.0.0.1", 8080, "127.0.0.1:8080");
    expect_allowed(rules, "::1", 22, "[::1]");
    expect_allowed(rules, "0:0::1", 22, "[::1]");
    expect_denied(rules, "127.0.0.2", 8080, "127.0.0.2:8080 is an IP address and no rule names it");
    expect_denied(rules, "::2", 22, "[::2]:22 is an IP address");
    /* a name rule never covers an address, nor an address rule a name */
    expect_denied("localhost", "127.0.0.1", 80, "is an IP address and no rule names it");
    expect_denied("127.0.0.1", "localhost", 80, "no rule");
    /* what inet_aton would take for 127.0.0.1 is no name and no address here */
    const char *odd[] = {"127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.0.0.01"};
    for (size_t i = 0; i < ARRAY_SIZE(odd); i++)
        expect_denied("localhost,127.0.0.1", odd[i], 80, "neither a valid host name nor");
}

static void test_operator_list_parsing(void **state)
{
    (void)state;
    struct egress_rules rules = rules_of(" pypi.org, *.example.com:443 ,10.0.0.1,[::1]:22");
    assert_int_equal(rules.count, 4);
    assert_string_equal(rules.rules[0].host, "pypi.org");
    assert_true(rules.rules[1].wildcard);
    assert_string_equal(rules.rules[1].host, "example.com");
    assert_int_equal(rules.rules[1].port, 443);
    assert_string_equal(rules.rules[3].host, "::1");
    assert_int_equal(rules.rules[3].port, 22);
    egress_rules_free(&rules);

    rules = rules_of("");
    assert_int_equal(rules.count, 0);
    rules = rules_of(NULL);
    assert_int_equal(rules.count, 0);

    struct {
        const char *text, *error;
    } bad[] = {
        {"PyPI.org", "entry 1 \"PyPI.org\": invalid host"},
        {"a.com,,b.com", "entry 2 is empty"},
        {"a.com,", "entry 2 is empty"},
        {"a.com,*.com", "entry 2 \"*.com\": invalid wildcard"},
        {"a.com:0", "invalid port"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char err[256] = "";
        assert_int_equal(egress_rules_parse(bad[i].text, &rules, err, sizeof(err)), -1);
        if (strstr(err, bad[i].error) == NULL)
            fail_msg("\"%s\": error \"%s\" does not say \"%s\"", bad[i].text, err, bad[i].error);
    }
}

/* "" when a and b share nothing, else their intersection as text. */
static void expect_intersection(const char *a_text, const char *b_text, const char *expected)
{
    struct egress_rules a = rules_of(a_text), b = rules_of(b_text);
    for (int order = 0; order < 2; order++) {
        struct brig_net_rule both;
        char text[BRIG_ALLOW_RULE_MAX + 1] = "";
        const struct brig_net_rule *x = order ? &b.rules[0] : &a.rules[0];
        const struct brig_net_rule *y = order ? &a.rules[0] : &b.rules[0];
        if (egress_rule_intersect(x, y, &both))
            assert_true(net_rule_format(&both, text, sizeof(text)) > 0);
        if (strcmp(text, expected) != 0)
            fail_msg("%s and %s: \"%s\", expected \"%s\"", a_text, b_text, text, expected);
    }
    egress_rules_free(&a);
    egress_rules_free(&b);
}

static void test_rule_intersections(void **state)
{
    (void)state;
    expect_intersection("pypi.org", "pypi.org", "pypi.org");
    expect_intersection("pypi.org", "pypi.org:443", "pypi.org:443");
    expect_intersection("pypi.org:80", "pypi.org:443", "");
    expect_intersection("*.example.com", "api.example.com:443", "api.example.com:443");
    expect_intersection("*.example.com", "example.com", "");
    expect_intersection("*.a.example.com", "*.example.com:443", "*.a.example.com:443");
    expect_intersection("*.example.com", "*.example.org", "");
    expect_intersection("*.example.com", "*.example.com", "*.example.com");
    expect_intersection("10.0.0.1", "10.0.0.1:5432", "10.0.0.1:5432");
    expect_intersection("[::1]", "[::1]:22", "[::1]:22");
    expect_intersection("localhost", "127.0.0.1", "");
    expect_intersection("*.example.com", "10.0.0.1", "");
}

static void test_operator_bound(void **state)
{
    (void)state;
    struct egress_rules bound = rules_of("api.example.com:443,pypi.org,files.pythonhosted.org");
    struct egress_rules job = rules_of("*.example.com,pypi.org");
    struct brig_network network = network_of(&job);
    struct egress_rules effective;
    struct brig_error why;
    assert_int_equal(egress_rules_bound(&network, &bound, &effective, &why), 0);
    assert_int_equal(effective.count, 2);
    struct egress_verdict v;
    egress_decide(&effective, "api.example.com", 443, &v);
    assert_true(v.allowed);
    assert_string_equal(v.rule, "api.example.com:443");
    egress_decide(&effective, "www.example.com", 443, &v); /* the job's, not the operator's */
    assert_false(v.allowed);
    egress_decide(&effective, "api.example.com", 80, &v);
    assert_false(v.allowed);
    egress_decide(&effective, "files.pythonhosted.org", 443,
                  &v); /* the operator's, not the job's */
    assert_false(v.allowed);
    egress_rules_free(&effective);
    egress_rules_free(&job);

    /* a job rule that the bound does not touch at all is refused, named */
    job = rules_of("pypi.org,evil.com");
    network = network_of(&job);
    assert_int_equal(egress_rules_bound(&network, &bound, &effective, &why), -1);
    assert_string_equal(why.field, "network.allow[1]");
    assert_non_null(strstr(why.reason, "\"evil.com\" is outside what this worker allows"));

    /* a worker without a bound serves no network, and says so */
    struct egress_rules none = {0};
    assert_int_equal(egress_rules_bound(&network, &none, &effective, &why), -1);
    assert_string_equal(why.field, "network");
    assert_non_null(strstr(why.reason, "--egress-allow"));
    egress_rules_free(&job);

    /* no network asked: nothing to bound, at either worker */
    struct brig_network off = {BRIG_NETWORK_NONE, NULL, 0};
    struct brig_network empty = {BRIG_NETWORK_ALLOW, NULL, 0};
    assert_int_equal(egress_rules_bound(&off, &none, &effective, &why), 0);
    assert_int_equal(effective.count, 0);
    assert_int_equal(egress_rules_bound(&empty, &bound, &effective, &why), 0);
    assert_int_equal(effective.count, 0);
    egress_rules_free(&bound);
}

static bool is_public(const char *text)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        fail_msg("%s is no address", text);
    return egress_address_is_public((struct sockaddr *)&ss);
}

static void test_public_addresses(void **state)
{
    (void)state;
    const char *special[] = {
        "127.0.0.1",
        "127.255.0.9",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.7",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
        "2001:db8::1",
    };
    const char *public[] = {"8.8.8.8",         "172.32.0.1",     "151.101.0.223",
                            "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"};
    for (size_t i = 0; i < ARRAY_SIZE(special); i++) {
        if (is_public(special[i]))
            fail_msg("%s passed for public", special[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(public); i++) {
        if (!is_public(public[i]))
            fail_msg("%s passed for special", public[i]);
    }
}

/* ---- request heads ---- */

static enum proxy_parse_result parse(const char *text, struct proxy_request *req, int *status,
                                     char *reason)
{
    return proxy_request_parse(text, strlen(text), req, status, reason, 256);
}

static void expect_bad(const char *text, size_t len, int status, const char *why)
{
    struct proxy_request req;
    int got = 0;
    char reason[256] = "";
    if (proxy_request_parse(text, len, &req, &got, reason, sizeof(reason)) != PROXY_BAD)
        fail_msg("\"%.40s\" was not refused", text);
    assert_int_equal(got, status);
    if (strstr(reason, why) == NULL)
        fail_msg("\"%.40s\": reason \"%s\" does not say \"%s\"", text, reason, why);
}

static void test_parse_connect(void **state)
{
    (void)state;
    struct proxy_request req;
    int status;
    char reason[256];
    const char *text = "CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n\x16\x03\x01";
    assert_int_equal(parse(text, &req, &status, reason), PROXY_COMPLETE);
    assert_true(req.connect);
    assert_string_equal(req.method, "CONNECT");
    assert_string_equal(req.host, "pypi.org");
    assert_int_equal(req.port, 443);
    assert_int_equal(req.head_len, strlen(text) - 3); /* the TLS bytes are not the head's */

    assert_int_equal(parse("CONNECT [::1]:8443 HTTP/1.1\r\n\r\n", &req, &status, reason),
                     PROXY_COMPLETE);
    assert_string_equal(req.host, "::1");
    assert_int_equal(req.port, 8443);

    expect_bad("CONNECT pypi.org HTTP/1.1\r\n\r\n", 30, 400, "CONNECT needs host:port");
    expect_bad("CONNECT pypi.org:99999 HTTP/1.1\r\n\r\n", 36, 400, "CONNECT needs host:port");
}

static void test_parse_absolute_uri(void **state)
{
    (void)state;
    struct proxy_request req;
    int status;
    char reason[256];
    const char *text = "GET http://Example.com:8080/a/b?x=1#frag HTTP/1.1\r\n"
                       "Host: elsewhere.org\r\n"
                       "User-Agent: test\r\n"
                       "Proxy-Authorization: Basic c2VjcmV0\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Connection: keep-alive, X-Hop\r\n"
                       "X-Hop: 1\r\n"
                       "Content-Length: 0\r\n"
                       "\r\n";
    assert_int_equal(parse(text, &req, &status, reason), PROXY_COMPLETE);
    assert_false(req.connect);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.host, "Example.com");
    assert_int_equal(req.port, 8080);
    assert_int_equal(req.n_headers, 7);

    char out[1024];
    int len = proxy_request_forward(text, &req, out, sizeof(out));
    assert_true(len > 0);
    out[len] = '\0';
    assert_string_equal(out, "GET /a/b?x=1 HTTP/1.1\r\n"
                             "Host: Example.com:8080\r\n"
                             "User-Agent: test\r\n"
                             "Content-Length: 0\r\n"
                             "Connection: close\r\n"
                             "\r\n");
    assert_int_equal(proxy_request_forward(text, &req, out, 40), -1);

    /* no path, HTTP/1.0, bare LF line ends, the default port */
    text = "HEAD http://h.example?q HTTP/1.0\nAccept: */*\n\n";
    assert_int_equal(parse(text, &req, &status, reason), PROXY_COMPLETE);
    assert_int_equal(req.port, 80);
    len = proxy_request_forward(text, &req, out, sizeof(out));
    out[len] = '\0';
    assert_string_equal(out, "HEAD /?q HTTP/1.0\r\nHost: h.example\r\nAccept: */*\r\n"
                             "Connection: close\r\n\r\n");

    text = "GET http://[::1]:81/ HTTP/1.1\r\n\r\n";
    assert_int_equal(parse(text, &req, &status, reason), PROXY_COMPLETE);
    len = proxy_request_forward(text, &req, out, sizeof(out));
    out[len] = '\0';
    assert_non_null(strstr(out, "Host: [::1]:81\r\n"));
}

static void test_parse_incomplete_and_malformed(void **state)
{
    (void)state;
    struct proxy_request req;
    int status;
    char reason[256];
    assert_int_equal(parse("GET http://h/ HTTP/1.1\r\nHost: h\r\n", &req, &status, reason),
                     PROXY_INCOMPLETE);
    assert_int_equal(parse("CONN", &req, &status, reason), PROXY_INCOMPLETE);

    expect_bad("\x16\x03\x01\x02", 4, 400, "malformed request"); /* TLS without CONNECT */
    expect_bad("GARBAGE\r\n\r\n", 11, 400, "malformed request");
    expect_bad("GET /relative HTTP/1.1\r\nHost: h\r\n\r\n", 35, 400, "needs an absolute URI");
    expect_bad("GET https://h/ HTTP/1.1\r\n\r\n", 27, 400, "only http:// URIs");
    expect_bad("GET ftp://h/ HTTP/1.1\r\n\r\n", 25, 400, "only http:// URIs");
    expect_bad("GET http://u:p@h/ HTTP/1.1\r\n\r\n", 30, 400, "credentials");
    expect_bad("GET http://h:0/ HTTP/1.1\r\n\r\n", 28, 400, "port 0");
    expect_bad("GET http://h/ HTTP/2.0\r\n\r\n", 26, 505, "HTTP/1.x");
    expect_bad("GET http://h/ HTTP/1.1\r\nBad Name: x\r\n\r\n", 39, 400, "invalid name");

    /* the bounds: head size and header count */
    size_t big = PROXY_HEAD_MAX + 10;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, 'a', big);
    memcpy(text, "GET http://h/ HTTP/1.1\r\nX: ", 27);
    expect_bad(text, big, 431, "longer than 16384 bytes");
    size_t len = (size_t)sprintf(text, "GET http://h/ HTTP/1.1\r\n");
    for (int i = 0; i <= PROXY_HEADERS_MAX; i++)
        len += (size_t)sprintf(text + len, "X-%d: %d\r\n", i, i);
    len += (size_t)sprintf(text + len, "\r\n");
    expect_bad(text, len, 431, "more than 100 header fields");
    free(text);

    char response[256];
    int n = proxy_response(403, "no\n", response, sizeof(response));
    assert_true(n > 0);
    assert_non_null(strstr(response, "HTTP/1.1 403 Forbidden\r\n"));
    assert_non_null(strstr(response, "Content-Length: 3\r\n"));
    assert_non_null(strstr(response, "\r\n\r\nno\n"));
}

static void test_no_bound_no_network(void **state)
{
    (void)state;
    struct egress_proxy *proxy;
    struct egress_job *job = NULL;
    char err[512];
    assert_int_equal(egress_proxy_start("", NULL, &proxy, err, sizeof(err)), 0);
    struct egress_rules rules = rules_of("pypi.org");
    struct brig_network network = network_of(&rules);
    struct brig_error why;
    assert_int_equal(egress_admit(proxy, &network, NULL, NULL, 0, &why), -1);
    assert_string_equal(why.field, "network");
    assert_int_equal(egress_job_open(proxy, "j", &network, NULL, NULL, 0, &job, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "network: this worker gives jobs no network"));
    struct brig_network off = {0};
    assert_int_equal(egress_admit(proxy, &off, NULL, NULL, 0, &why), 0);
    assert_int_equal(egress_job_open(proxy, "j", &off, NULL, NULL, 0, &job, err, sizeof(err)), 0);
    assert_null(job);
    egress_job_close(job);
    egress_rules_free(&rules);
    egress_proxy_free(proxy);

    assert_int_equal(egress_proxy_start("PyPI.org", NULL, &proxy, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--egress-allow"));
    assert_non_null(strstr(err, "entry 1 \"PyPI.org\""));
}

/* A secret bound to acme: acme's job may name it; beta's, an unsigned one's,
 * and acme's once a reload removed acme, read as a name the worker does not
 * have, in the same words. */
static void test_a_tenants_secret_is_nobody_elses(void **state)
{
    (void)state;
    static const char json[] =
        "{\"secrets\": {\"KEY\": {\"value\": \"v\", \"tenant\": [\"acme\"], \"bindings\": "
        "[{\"host\": \"api.test\", \"basic_auth\": \"u\"}]}}}";
    struct secret_store *store;
    struct egress_proxy *proxy;
    char err[512], dir[] = "/tmp/brig-test-egress-tenant.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(secret_store_parse(json, strlen(json), "t", &store, err, sizeof(err)), 0);
    assert_int_equal(egress_proxy_start("api.test", NULL, &proxy, err, sizeof(err)), 0);
    if (egress_proxy_use_secrets(proxy, store, dir, NULL, err, sizeof(err)) != 0)
        fail_msg("egress_proxy_use_secrets: %s", err);
    struct egress_rules rules = rules_of("api.test");
    struct brig_network network = network_of(&rules);
    const char *const key[] = {"KEY"}, *const nope[] = {"NOPE"};
    struct brig_error why, unknown;
    assert_int_equal(egress_admit(proxy, &network, "beta", nope, 1, &unknown), -1);
    assert_string_equal(unknown.reason, "this worker has no secret \"NOPE\"");
    assert_int_equal(egress_admit(proxy, &network, "acme", key, 1, &why), 0);
    const char *refused[] = {"beta", "", NULL};
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        assert_int_equal(egress_admit(proxy, &network, refused[i], key, 1, &why), -1);
        assert_string_equal(why.field, "secrets[0]");
        assert_string_equal(why.reason, "this worker has no secret \"KEY\"");
    }
    assert_true(secret_mark_tenant(&store->secrets[0], 0, true));
    assert_int_equal(egress_admit(proxy, &network, "acme", key, 1, &why), -1);
    assert_string_equal(why.reason, "this worker has no secret \"KEY\"");
    struct egress_job *job = NULL;
    assert_int_equal(egress_job_open(proxy, "j", &network, "acme", key, 1, &job, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "secrets[0]: this worker has no secret \"KEY\"");
    assert_null(job);
    egress_rules_free(&rules);
    egress_proxy_free(proxy);
    secret_store_free(store);
    assert_int_equal(rmdir(dir), 0); /* the proxy took its CA bundle away */
}

int main(void)
{
    const struct CMUnitTest policy[] = {
        cmocka_unit_test(test_exact_names),
        cmocka_unit_test(test_suffixes),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_ip_literals),
        cmocka_unit_test(test_operator_list_parsing),
        cmocka_unit_test(test_rule_intersections),
        cmocka_unit_test(test_operator_bound),
        cmocka_unit_test(test_public_addresses),
        cmocka_unit_test(test_parse_connect),
        cmocka_unit_test(test_parse_absolute_uri),
        cmocka_unit_test(test_parse_incomplete_and_malformed),
        cmocka_unit_test(test_no_bound_no_network),
        cmocka_unit_test(test_a_tenants_secret_is_nobody_elses),
    };
    return cmocka_run_group_tests_name("egress policy and requests", policy, NULL, NULL) ? 1 : 0;
}
