/* The egress proxy over real sockets from a network namespace of the test's
 * own (the "job"), with its audit records, and jails whose jobs reach a
 * host server through it. Needs root. */
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
    assert_int_equal(egress_job_open(pc.proxy, "report-unknown", &network, NULL, NULL, 0, &unknown,
                                     err, sizeof(err)),
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
    if (egress_job_open(proxy, id, &network, NULL, NULL, 0, &job, err, sizeof(err)) != 0)
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
    int failed =
        cmocka_run_group_tests_name("egress proxy", proxy, setup_proxy_tests, teardown_proxy_tests);
    failed += cmocka_run_group_tests_name("egress from jails", jails, setup_jail_tests,
                                          teardown_jail_tests);
    return failed ? 1 : 0;
}
