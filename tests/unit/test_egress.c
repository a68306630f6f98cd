/* The egress proxy: its allow-list (matching, the operator's bound, which
 * addresses a suffix rule may reach), request heads, the proxy itself over
 * real sockets from a network namespace of the test's own (the "job"), with
 * its audit records, and jails whose jobs reach a host server through it.
 * The last two parts need root.
 *
 * getaddrinfo is wrapped here: it counts calls, so a test can tell that a
 * denied request was never resolved, and it resolves names under
 * ".loopback.test" to 127.0.0.1, standing in for a DNS zone that points at
 * the host's loopback. */
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

#define FAKE_ZONE ".loopback.test"

static atomic_int resolutions;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    atomic_fetch_add(&resolutions, 1);
    size_t n = node ? strlen(node) : 0, z = strlen(FAKE_ZONE);
    if (n > z && strcmp(node + n - z, FAKE_ZONE) == 0)
        node = "127.0.0.1";
    return real(node, service, hints, res);
}

/* ---- the allow-list ---- */

static struct egress_rules rules_of(const char *text)
{
    struct egress_rules rules;
    char err[256];
    if (egress_rules_parse(text, &rules, err, sizeof(err)) != 0)
        fail_msg("parsing \"%s\": %s", text ? text : "(null)", err);
    return rules;
}

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

static struct brig_network network_of(struct egress_rules *rules)
{
    return (struct brig_network){BRIG_NETWORK_ALLOW, rules->rules, rules->count};
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

/* ---- the proxy, from a network namespace of the test's own ---- */

struct host_server {
    int fd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;
    char last_head[8192]; /* what the last complete request looked like */
    atomic_int active;
};

static struct host_server server = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
static int host_netns = -1;
static char audit_dir[64], audit_path[128];
static struct audit_store *store;
static const char server_body[] = "hello from the host\n";

static void set_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One request per connection: read its head, answer, close. */
static void *serve_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char head[8192];
    size_t len = 0;
    set_timeout(fd, 60);
    while (len < sizeof(head) - 1) {
        ssize_t n = read(fd, head + len, sizeof(head) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        head[len] = '\0';
        if (strstr(head, "\r\n\r\n"))
            break;
    }
    head[len] = '\0';
    if (strstr(head, "\r\n\r\n")) {
        pthread_mutex_lock(&server.lock);
        snprintf(server.last_head, sizeof(server.last_head), "%s", head);
        pthread_mutex_unlock(&server.lock);
        char response[256];
        int n = snprintf(response, sizeof(response),
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         strlen(server_body), server_body);
        if (write(fd, response, (size_t)n) != n)
            fprintf(stderr, "host server: answering: %s\n", strerror(errno));
    }
    close(fd);
    atomic_fetch_sub(&server.active, 1);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(server.fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR)
            continue;
        if (fd < 0)
            return NULL;
        atomic_fetch_add(&server.active, 1);
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve_connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
            atomic_fetch_sub(&server.active, 1);
            continue;
        }
        pthread_detach(thread);
    }
}

static void server_head(char *out, size_t len)
{
    pthread_mutex_lock(&server.lock);
    snprintf(out, len, "%s", server.last_head);
    server.last_head[0] = '\0';
    pthread_mutex_unlock(&server.lock);
}

static int start_server(void)
{
    server.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    if (server.fd < 0 || bind(server.fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(server.fd, 64) != 0 || getsockname(server.fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    server.port = ntohs(addr.sin_port);
    return pthread_create(&server.thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void stop_server(void)
{
    if (server.fd < 0)
        return;
    shutdown(server.fd, SHUT_RDWR);
    pthread_join(server.thread, NULL);
    close(server.fd);
    for (int i = 0; i < 600 && atomic_load(&server.active) > 0; i++)
        usleep(100000);
}

static void *make_netns(void *arg)
{
    int *out = arg;
    if (unshare(CLONE_NEWNET) != 0)
        return NULL;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) != 0)
        return NULL;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) == 0)
        *out = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    close(sock);
    return NULL;
}

/* A fresh network namespace with loopback up, like a jail's. */
static int new_netns(void)
{
    int fd = -1;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, make_netns, &fd), 0);
    pthread_join(thread, NULL);
    if (fd < 0)
        fail_msg("making a network namespace failed");
    return fd;
}

/* A TCP connection to 127.0.0.1:port made from inside netns; -errno on failure. */
static int connect_in(int netns, uint16_t port)
{
    assert_int_equal(setns(netns, CLONE_NEWNET), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ? 0 : -errno;
    assert_int_equal(setns(host_netns, CLONE_NEWNET), 0);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    set_timeout(fd, 60);
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until the peer closes, or until the text holds "until" when given. */
static char *read_reply(int fd, const char *until)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    buf[0] = '\0';
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (until && strstr(buf, until))
            break;
    }
    return buf;
}

/* One request through the proxy in netns; everything it answered. */
static char *exchange(int netns, const char *request)
{
    int fd = connect_in(netns, EGRESS_PROXY_PORT);
    if (fd < 0)
        fail_msg("connecting to the proxy: %s", strerror(-fd));
    send_text(fd, request);
    char *reply = read_reply(fd, NULL);
    close(fd);
    return reply;
}

static void expect_reply(char *reply, const char *part)
{
    if (strstr(reply, part) == NULL)
        fail_msg("the reply does not hold \"%s\":\n%s", part, reply);
    free(reply);
}

struct proxy_case {
    struct egress_proxy *proxy;
    struct egress_job *job;
    int netns;
};

static void open_case(struct proxy_case *pc, const char *id, const char *bound,
                      const char *job_rules, const struct egress_limits *limits)
{
    char err[512];
    if (egress_proxy_start(bound, limits, &pc->proxy, err, sizeof(err)) != 0)
        fail_msg("egress_proxy_start: %s", err);
    struct egress_rules rules = rules_of(job_rules);
    struct brig_network network = network_of(&rules);
    if (egress_job_open(pc->proxy, id, &network, NULL, 0, &pc->job, err, sizeof(err)) != 0)
        fail_msg("egress_job_open: %s", err);
    egress_rules_free(&rules);
    assert_non_null(pc->job);
    if (audit_record_job(store, id, 0, NULL, NULL, NULL, NULL, "x", 1, err, sizeof(err)) != 0)
        fail_msg("audit_record_job: %s", err);
    pc->netns = new_netns();
    assert_int_equal(egress_on_network(pc->job, pc->netns), 0);
    assert_string_equal(egress_job_error(pc->job), "");
}

static void drain(struct egress_proxy *proxy)
{
    char err[1024];
    if (egress_audit_drain(proxy, store, err, sizeof(err)) != 0)
        fail_msg("egress_audit_drain: %s", err);
}

static void close_case(struct proxy_case *pc)
{
    egress_job_close(pc->job);
    drain(pc->proxy);
    egress_proxy_free(pc->proxy);
    close(pc->netns);
}

/* The job's connections table, a line "host port allowed reason" per row. */
static char *connections_of(const char *job_id)
{
    char err[512];
    if (audit_flush(store, err, sizeof(err)) != 0)
        fail_msg("audit_flush: %s", err);
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open_v2(audit_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT host, port, allowed, reason FROM connections "
                                        "WHERE job_id = ? ORDER BY id",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(stmt, 1, job_id, -1, SQLITE_STATIC);
    size_t cap = 65536, len = 0;
    char *text = calloc(1, cap);
    assert_non_null(text);
    while (sqlite3_step(stmt) == SQLITE_ROW && len < cap) {
        const char *reason = (const char *)sqlite3_column_text(stmt, 3);
        len += (size_t)snprintf(
            text + len, cap - len, "%s %d %d %s\n", (const char *)sqlite3_column_text(stmt, 0),
            sqlite3_column_int(stmt, 1), sqlite3_column_int(stmt, 2), reason ? reason : "(null)");
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return text;
}

static void need_root(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: network namespaces and jails need root\n");
        skip();
    }
}

static int setup_proxy_tests(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    char err[512];
    host_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    snprintf(audit_dir, sizeof(audit_dir), "/tmp/brig-test-egress.XXXXXX");
    if (host_netns < 0 || mkdtemp(audit_dir) == NULL || start_server() != 0)
        return -1;
    snprintf(audit_path, sizeof(audit_path), "%s/audit.db", audit_dir);
    if (audit_open(audit_path, "egress-test", &store, err, sizeof(err)) != 0) {
        fprintf(stderr, "audit_open: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown_proxy_tests(void **state)
{
    (void)state;
    char err[512], path[192];
    stop_server();
    if (store)
        audit_close(store, err, sizeof(err));
    store = NULL;
    if (host_netns >= 0)
        close(host_netns);
    host_netns = -1;
    const char *files[] = {"audit.db", "audit.db-wal", "audit.db-shm"};
    for (size_t i = 0; audit_dir[0] && i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", audit_dir, files[i]);
        unlink(path);
    }
    if (audit_dir[0])
        rmdir(audit_dir);
    return 0;
}

static void test_get_through_the_proxy(void **state)
{
    (void)state;
    need_root();
    struct proxy_case pc;
    open_case(&pc, "get-1", "localhost,127.0.0.1", "localhost", NULL);
    char request[512], head[8192];
    snprintf(request, sizeof(request),
             "GET http://LOCALHOST:%u/a/b?c=1 HTTP/1.1\r\nHost: evil.example\r\n"
             "Proxy-Authorization: Basic c2VjcmV0\r\nUser-Agent: t\r\n\r\n",
             server.port);
    int before = atomic_load(&resolutions);
    char *reply = exchange(pc.netns, request);
    assert_true(atomic_load(&resolutions) > before);
    assert_non_null(strstr(reply, "HTTP/1.1 200 OK\r\n"));
    expect_reply(reply, server_body);
    server_head(head, sizeof(head));
    char expected[128];
    snprintf(expected, sizeof(expected), "GET /a/b?c=1 HTTP/1.1\r\nHost: LOCALHOST:%u\r\n",
             server.port);
    assert_non_null(strstr(head, expected));
    assert_null(strstr(head, "evil.example"));
    assert_null(strstr(head, "Proxy-Authorization"));
    assert_non_null(strstr(head, "User-Agent: t\r\n"));
    assert_non_null(strstr(head, "Connection: close\r\n"));
    close_case(&pc);

    char *rows = connections_of("get-1");
    char row[128];
    snprintf(row, sizeof(row), "localhost %u 1 localhost\n", server.port);
    assert_string_equal(rows, row);
    free(rows);
}

static void test_connect_tunnel(void **state)
{
    (void)state;
    need_root();
    struct proxy_case pc;
    open_case(&pc, "connect-1", "127.0.0.1", "127.0.0.1", NULL);
    int fd = connect_in(pc.netns, EGRESS_PROXY_PORT);
    assert_true(fd >= 0);
    char request[256];
    snprintf(request, sizeof(request), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", server.port);
    send_text(fd, request);
    char *reply = read_reply(fd, "\r\n\r\n");
    assert_string_equal(reply, "HTTP/1.1 200 Connection established\r\n\r\n");
    free(reply);
    send_text(fd, "GET /through-the-tunnel HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_reply(read_reply(fd, NULL), server_body);
    close(fd);
    char head[8192];
    server_head(head, sizeof(head));
    assert_non_null(strstr(head, "GET /through-the-tunnel HTTP/1.1\r\n"));
    close_case(&pc);
}

static void test_denied_requests_are_403_and_never_resolved(void **state)
{
    (void)state;
    need_root();
    struct proxy_case pc;
    open_case(&pc, "deny-1", "localhost,*.example.com,127.0.0.1:1", "localhost,127.0.0.1:1", NULL);
    char request[256];
    int before = atomic_load(&resolutions);

    char *reply = exchange(pc.netns, "CONNECT pypi.org:443 HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(reply, "HTTP/1.1 403 Forbidden\r\n"));
    assert_non_null(strstr(reply, "CONNECT pypi.org:443 denied: no rule of the allow-list "
                                  "matches pypi.org:443"));
    expect_reply(reply, "This job may reach: localhost, 127.0.0.1:1\n");

    snprintf(request, sizeof(request), "GET http://127.0.0.1:%u/ HTTP/1.1\r\n\r\n", server.port);
    expect_reply(exchange(pc.netns, request), "rule \"127.0.0.1:1\" allows port 1 only");

    snprintf(request, sizeof(request), "GET http://[::1]:%u/ HTTP/1.1\r\n\r\n", server.port);
    expect_reply(exchange(pc.netns, request), "is an IP address and no rule names it");

    expect_reply(exchange(pc.netns, "CONNECT 2130706433:80 HTTP/1.1\r\n\r\n"),
                 "neither a valid host name");

    /* the operator allows *.example.com, the job did not ask for it */
    expect_reply(exchange(pc.netns, "CONNECT www.example.com:443 HTTP/1.1\r\n\r\n"), "403");
    assert_int_equal(atomic_load(&resolutions), before);
    close_case(&pc);

    char *rows = connections_of("deny-1");
    char expected[1024];
    snprintf(expected, sizeof(expected),
             "pypi.org 443 0 no rule of the allow-list matches pypi.org:443\n"
             "127.0.0.1 %u 0 rule \"127.0.0.1:1\" allows port 1 only, not 127.0.0.1:%u\n"
             "::1 %u 0 [::1]:%u is an IP address and no rule names it (name rules never match "
             "addresses)\n"
             "2130706433 80 0 \"2130706433\" is neither a valid host name nor an IPv4 or IPv6 "
             "address\n"
             "www.example.com 443 0 no rule of the allow-list matches www.example.com:443\n",
             server.port, server.port, server.port, server.port);
    assert_string_equal(rows, expected);
    free(rows);
}

/* The proxy hands its records back and keeps none; writing them is the
 * adapter's, which says which it could not write. */
static void test_records_are_handed_back(void **state)
{
    (void)state;
    need_root();
    struct proxy_case pc;
    open_case(&pc, "report-1", "localhost", "localhost:1", NULL);
    expect_reply(exchange(pc.netns, "CONNECT pypi.org:443 HTTP/1.1\r\n\r\n"), "403");
    egress_job_close(pc.job);
    struct egress_report report;
    egress_take_report(pc.proxy, &report);
    assert_int_equal(report.count, 1);
    assert_string_equal(report.records[0].job_id, "report-1");
    assert_string_equal(report.records[0].host, "pypi.org");
    assert_int_equal(report.records[0].port, 443);
    assert_false(report.records[0].allowed);
    assert_string_equal(report.records[0].reason, "no rule of the allow-list matches pypi.org:443");
    assert_true(report.records[0].ts_ms > 0);
    assert_int_equal(report.lost, 0);
    assert_int_equal(report.failures, 0);
    egress_report_free(&report);
    egress_take_report(pc.proxy, &report);
    assert_int_equal(report.count, 0);
    egress_report_free(&report);

    /* A job the store does not know: its record is refused, and said so. */
    struct egress_job *unknown;
    struct egress_rules rules = rules_of("localhost:1");
    struct brig_network network = network_of(&rules);
    char err[1024];
    assert_int_equal(
        egress_job_open(pc.proxy, "report-unknown", &network, NULL, 0, &unknown, err, sizeof(err)),
        0);
    egress_rules_free(&rules);
    int netns = new_netns();
    assert_int_equal(egress_on_network(unknown, netns), 0);
    expect_reply(exchange(netns, "CONNECT pypi.org:443 HTTP/1.1\r\n\r\n"), "403");
    egress_job_close(unknown);
    close(netns);
    assert_int_equal(egress_audit_drain(pc.proxy, store, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1 of 1 egress connection record(s) not written, the first: "));
    egress_proxy_free(pc.proxy);
    close(pc.netns);
}

static void test_suffix_rule_never_reaches_loopback(void **state)
{
    (void)state;
    need_root();
    struct proxy_case pc;
    open_case(&pc, "suffix-1", "*" FAKE_ZONE ",exact" FAKE_ZONE, "*" FAKE_ZONE ",exact" FAKE_ZONE,
              NULL);
    char request[256];
    snprintf(request, sizeof(request), "GET http://host%s:%u/ HTTP/1.1\r\n\r\n", FAKE_ZONE,
             server.port);
    expect_reply(exchange(pc.netns, request), "resolves only to loopback, private or other");
    /* the same address through a name the allow-list spells out */
    snprintf(request, sizeof(request), "GET http://exact%s:%u/ HTTP/1.1\r\n\r\n", FAKE_ZONE,
             server.port);
    expect_reply(exchange(pc.netns, request), server_body);
    close_case(&pc);

    char *rows = connections_of("suffix-1");
    assert_non_null(strstr(rows, "host" FAKE_ZONE));
    assert_non_null(strstr(rows, " 0 host" FAKE_ZONE));
    assert_non_null(strstr(rows, "which suffix rules never reach\nexact" FAKE_ZONE));
    assert_non_null(strstr(rows, " 1 exact" FAKE_ZONE "\n"));
    free(rows);
}

static void test_bad_heads(void **state)
{
    (void)state;
    need_root();
    struct egress_limits limits;
    egress_limits_default(&limits);
    limits.head_timeout_ms = 200;
    struct proxy_case pc;
    open_case(&pc, "bad-1", "localhost", "localhost", &limits);
    expect_reply(exchange(pc.netns, "GET /relative HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                 "HTTP/1.1 400 Bad Request\r\n");
    expect_reply(exchange(pc.netns, "\x16\x03\x01\x00\x05hello"), "400 Bad Request");

    int fd = connect_in(pc.netns, EGRESS_PROXY_PORT);
    assert_true(fd >= 0);
    char *big = malloc(PROXY_HEAD_MAX + 1);
    assert_non_null(big);
    memset(big, 'a', PROXY_HEAD_MAX);
    memcpy(big, "GET http://localhost/ HTTP/1.1\r\nX: ", 35);
    big[PROXY_HEAD_MAX] = '\0';
    send_text(fd, big);
    free(big);
    expect_reply(read_reply(fd, NULL), "431 Request Header Fields Too Large");
    close(fd);

    /* a client that never finishes its head */
    fd = connect_in(pc.netns, EGRESS_PROXY_PORT);
    assert_true(fd >= 0);
    send_text(fd, "GET http://localhost/ HTTP/1.1\r\n");
    expect_reply(read_reply(fd, NULL), "408 Request Timeout");
    close(fd);
    close_case(&pc);

    char *rows = connections_of("bad-1");
    assert_string_equal(rows, ""); /* no destination, nothing to record */
    free(rows);
}

static void test_limits(void **state)
{
    (void)state;
    need_root();
    struct egress_limits limits;
    egress_limits_default(&limits);
    limits.connections = 2;
    struct proxy_case pc;
    open_case(&pc, "limits-1", "127.0.0.1", "127.0.0.1", &limits);
    char request[256];
    snprintf(request, sizeof(request), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n", server.port);
    int tunnels[2];
    for (int i = 0; i < 2; i++) {
        tunnels[i] = connect_in(pc.netns, EGRESS_PROXY_PORT);
        assert_true(tunnels[i] >= 0);
        send_text(tunnels[i], request);
        expect_reply(read_reply(tunnels[i], "\r\n\r\n"), "200 Connection established");
    }
    expect_reply(exchange(pc.netns, request), "the job already has 2 connections open");

    /* closing the job ends its tunnels and its listener */
    egress_job_close(pc.job);
    pc.job = NULL;
    for (int i = 0; i < 2; i++) {
        char byte;
        assert_int_equal(read(tunnels[i], &byte, 1), 0);
        close(tunnels[i]);
    }
    assert_int_equal(connect_in(pc.netns, EGRESS_PROXY_PORT), -ECONNREFUSED);
    close_case(&pc);

    char *rows = connections_of("limits-1");
    assert_non_null(strstr(rows, " 0 the job already has 2 connections open, its most\n"));
    free(rows);

    /* a byte budget, spent by the first request */
    egress_limits_default(&limits);
    limits.bytes = 16;
    open_case(&pc, "limits-2", "127.0.0.1", "127.0.0.1", &limits);
    snprintf(request, sizeof(request), "GET http://127.0.0.1:%u/ HTTP/1.1\r\n\r\n", server.port);
    free(exchange(pc.netns, request));
    expect_reply(exchange(pc.netns, request), "503 Service Unavailable");
    close_case(&pc);
    rows = connections_of("limits-2");
    assert_non_null(strstr(rows, " 0 the job has used up its 16 bytes of egress\n"));
    free(rows);

    /* connections that never name a destination: twice the limit, then refused at once */
    egress_limits_default(&limits);
    limits.connections = 1;
    open_case(&pc, "limits-3", "127.0.0.1", "127.0.0.1", &limits);
    int idle[2];
    for (int i = 0; i < 2; i++) {
        idle[i] = connect_in(pc.netns, EGRESS_PROXY_PORT);
        assert_true(idle[i] >= 0);
    }
    int fd = connect_in(pc.netns, EGRESS_PROXY_PORT);
    assert_true(fd >= 0);
    expect_reply(read_reply(fd, NULL), "503 Service Unavailable");
    close(fd);
    for (int i = 0; i < 2; i++)
        close(idle[i]);
    close_case(&pc);
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
    assert_int_equal(egress_admit(proxy, &network, NULL, 0, &why), -1);
    assert_string_equal(why.field, "network");
    assert_int_equal(egress_job_open(proxy, "j", &network, NULL, 0, &job, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "network: this worker gives jobs no network"));
    struct brig_network off = {0};
    assert_int_equal(egress_admit(proxy, &off, NULL, 0, &why), 0);
    assert_int_equal(egress_job_open(proxy, "j", &off, NULL, 0, &job, err, sizeof(err)), 0);
    assert_null(job);
    egress_job_close(job);
    egress_rules_free(&rules);
    egress_proxy_free(proxy);

    assert_int_equal(egress_proxy_start("PyPI.org", NULL, &proxy, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--egress-allow"));
    assert_non_null(strstr(err, "entry 1 \"PyPI.org\""));
}

/* ---- jails ---- */

static struct jail_context *jail_ctx;
static char jail_state_dir[64];

static int setup_jail_tests(void **state)
{
    if (geteuid() != 0)
        return 0;
    if (setup_proxy_tests(state) != 0)
        return -1;
    snprintf(jail_state_dir, sizeof(jail_state_dir), "/tmp/brig-test-egress-jail.XXXXXX");
    if (mkdtemp(jail_state_dir) == NULL)
        return -1;
    struct jail_context_config config = {.state_dir = jail_state_dir, .max_jails = 4};
    char err[256];
    if (jail_context_new(&config, &jail_ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_context_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown_jail_tests(void **state)
{
    jail_context_free(jail_ctx);
    if (jail_state_dir[0] && remove_tree(jail_state_dir) != 0)
        fprintf(stderr, "removing %s: %s\n", jail_state_dir, strerror(errno));
    return teardown_proxy_tests(state);
}

/* Runs python3 with args in a jail whose network goes through job's proxy. */
static struct jail_outcome run_python(struct egress_job *job, const char *script, const char *arg)
{
    const char *argv[] = {"/usr/bin/python3", "-c", script, arg, NULL};
    struct jail_spec spec = {.argv = argv, .env = egress_proxy_env};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 120000; /* generous: the machine may be loaded */
    spec.limits.cpu_ms = 60000;
    spec.on_network = egress_on_network;
    spec.network_ctx = job;
    struct jail_outcome out;
    jail_run(jail_ctx, &spec, &out);
    if (out.status != BRIG_STATUS_OK)
        fail_msg("the job ended %s (%s), stderr:\n%s", brig_status_name(out.status), out.message,
                 out.err.data);
    return out;
}

/* The job fetches url through HTTP_PROXY and prints the status and body. */
static const char fetch_script[] =
    "import os, sys, urllib.request, urllib.error\n"
    "for name in ('NO_PROXY', 'no_proxy'): os.environ.pop(name, None)\n"
    "try:\n"
    "    reply = urllib.request.urlopen(sys.argv[1], timeout=60)\n"
    "    print(reply.status, reply.read().decode(), end='')\n"
    "except urllib.error.HTTPError as e:\n"
    "    print(e.code, e.read().decode(), end='')\n";

static struct egress_job *open_job(struct egress_proxy *proxy, const char *id, const char *rules)
{
    struct egress_rules list = rules_of(rules);
    struct brig_network network = network_of(&list);
    struct egress_job *job;
    char err[512];
    if (egress_job_open(proxy, id, &network, NULL, 0, &job, err, sizeof(err)) != 0)
        fail_msg("egress_job_open: %s", err);
    if (audit_record_job(store, id, 0, NULL, NULL, NULL, NULL, "x", 1, err, sizeof(err)) != 0)
        fail_msg("audit_record_job: %s", err);
    egress_rules_free(&list);
    return job;
}

static void test_jail_reaches_the_host_only_through_the_proxy(void **state)
{
    (void)state;
    need_root();
    struct egress_proxy *proxy;
    char err[512], url[128], rule[64];
    assert_int_equal(egress_proxy_start("127.0.0.1,localhost", NULL, &proxy, err, sizeof(err)), 0);
    snprintf(rule, sizeof(rule), "127.0.0.1:%u", server.port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/from-the-jail", server.port);

    struct egress_job *job = open_job(proxy, "jail-allowed", rule);
    struct jail_outcome out = run_python(job, fetch_script, url);
    egress_job_close(job);
    char expected[128];
    snprintf(expected, sizeof(expected), "200 %s", server_body);
    assert_string_equal(out.out.data, expected);
    jail_outcome_free(&out);
    char head[8192];
    server_head(head, sizeof(head));
    assert_non_null(strstr(head, "GET /from-the-jail HTTP/1.1\r\n"));

    job = open_job(proxy, "jail-denied", "localhost:1");
    out = run_python(job, fetch_script, url);
    egress_job_close(job);
    assert_non_null(strstr(out.out.data, "403 brig egress proxy: GET 127.0.0.1:"));
    assert_non_null(strstr(out.out.data, "is an IP address and no rule names it"));
    jail_outcome_free(&out);

    /* Straight to the host's server: nothing listens there in the jail. */
    const char *direct = "import socket, sys\n"
                         "try:\n"
                         "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), 30)\n"
                         "    print('connected')\n"
                         "except ConnectionRefusedError:\n"
                         "    print('refused')\n";
    char port[16];
    snprintf(port, sizeof(port), "%u", server.port);
    job = open_job(proxy, "jail-direct", rule);
    out = run_python(job, direct, port);
    egress_job_close(job);
    assert_string_equal(out.out.data, "refused\n");
    jail_outcome_free(&out);

    drain(proxy);
    egress_proxy_free(proxy);
    char *rows = connections_of("jail-allowed");
    snprintf(expected, sizeof(expected), "127.0.0.1 %u 1 127.0.0.1:%u\n", server.port, server.port);
    assert_string_equal(rows, expected);
    free(rows);
    rows = connections_of("jail-denied");
    assert_non_null(strstr(rows, " 0 127.0.0.1:"));
    free(rows);
    rows = connections_of("jail-direct");
    assert_string_equal(rows, "");
    free(rows);
}

static int hook_calls;
static bool hook_saw_other_namespace;

static int inspect_namespace(void *ctx, int netns_fd)
{
    struct stat jail_ns, own_ns;
    hook_calls++;
    hook_saw_other_namespace = fstat(netns_fd, &jail_ns) == 0 &&
                               stat("/proc/self/ns/net", &own_ns) == 0 &&
                               jail_ns.st_ino != own_ns.st_ino;
    return *(int *)ctx;
}

static void test_network_hook(void **state)
{
    (void)state;
    need_root();
    int verdict = 0;
    const char *argv[] = {"/bin/true", NULL};
    struct jail_spec spec = {
        .argv = argv, .on_network = inspect_namespace, .network_ctx = &verdict};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 60000;
    struct jail_outcome out;
    jail_run(jail_ctx, &spec, &out);
    assert_int_equal(out.status, BRIG_STATUS_OK);
    assert_int_equal(hook_calls, 1);
    assert_true(hook_saw_other_namespace);
    jail_outcome_free(&out);

    verdict = -1;
    assert_int_equal(jail_run(jail_ctx, &spec, &out), -1);
    assert_int_equal(out.status, BRIG_STATUS_SETUP_ERROR);
    assert_non_null(strstr(out.message, "on_network"));
    assert_int_equal(hook_calls, 2);
    jail_outcome_free(&out);
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
    };
    const struct CMUnitTest proxy[] = {
        cmocka_unit_test(test_get_through_the_proxy),
        cmocka_unit_test(test_connect_tunnel),
        cmocka_unit_test(test_denied_requests_are_403_and_never_resolved),
        cmocka_unit_test(test_records_are_handed_back),
        cmocka_unit_test(test_suffix_rule_never_reaches_loopback),
        cmocka_unit_test(test_bad_heads),
        cmocka_unit_test(test_limits),
    };
    const struct CMUnitTest jails[] = {
        cmocka_unit_test(test_jail_reaches_the_host_only_through_the_proxy),
        cmocka_unit_test(test_network_hook),
    };
    int failed = cmocka_run_group_tests_name("egress policy and requests", policy, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("egress proxy", proxy, setup_proxy_tests, teardown_proxy_tests);
    failed += cmocka_run_group_tests_name("egress from jails", jails, setup_jail_tests,
                                          teardown_jail_tests);
    return failed ? 1 : 0;
}
