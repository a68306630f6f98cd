/* The metrics endpoint over real sockets: /metrics (checked by promtool
 * when it is installed), /healthz, /readyz, errors, and the readiness
 * checks behind /readyz. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/metrics_server.h"
#include "worker/readiness.h"
#include "common/common.h"

struct response {
    int status;
    char *head; /* status line and headers */
    char *body;
};

static void response_free(struct response *r)
{
    free(r->head);
    free(r->body);
}

/* A plain HTTP/1.0 exchange with the server at address (IPv4 HOST:PORT). */
static struct response fetch(const char *address, const char *method, const char *path)
{
    char host[64];
    int port;
    assert_int_equal(sscanf(address, "%63[^:]:%d", host, &port), 2);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    assert_int_equal(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval timeout = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        fail_msg("connecting to %s: %s", address, strerror(errno));

    char request[256];
    int len = snprintf(request, sizeof(request), "%s %s HTTP/1.0\r\nHost: %s\r\n\r\n", method, path,
                       address);
    assert_int_equal(write(fd, request, (size_t)len), len);

    size_t size = 0, capacity = 1 << 16;
    char *data = malloc(capacity);
    assert_non_null(data);
    ssize_t n;
    while ((n = read(fd, data + size, capacity - size - 1)) > 0) {
        size += (size_t)n;
        if (size + 1 == capacity) {
            char *grown = realloc(data, capacity *= 2);
            assert_non_null(grown);
            data = grown;
        }
    }
    if (n < 0)
        fail_msg("reading from %s: %s", address, strerror(errno));
    close(fd);
    data[size] = '\0';

    struct response r = {0};
    char *end_of_head = strstr(data, "\r\n\r\n");
    assert_non_null(end_of_head);
    r.head = strndup(data, (size_t)(end_of_head - data));
    r.body = strdup(end_of_head + 4);
    assert_int_equal(sscanf(data, "HTTP/1.%*d %d", &r.status), 1);
    free(data);
    return r;
}

/* ---- a test readiness callback ---- */

struct fake_readiness {
    bool ready;
    const char *reason;
};

static bool fake_ready(void *ctx, char *reason, size_t reason_len)
{
    struct fake_readiness *f = ctx;
    snprintf(reason, reason_len, "%s", f->reason);
    return f->ready;
}

struct fixture {
    struct metrics_server *server;
    struct fake_readiness readiness;
};

static int start_server(void **state)
{
    char err[512];
    struct fixture *f = calloc(1, sizeof(*f));
    f->readiness = (struct fake_readiness){false, "kafka: no broker\naudit: disk full"};
    if (metrics_init(4, err, sizeof(err)) < 0 ||
        metrics_server_start("127.0.0.1:0", metrics_registry(), fake_ready, &f->readiness,
                             &f->server, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int stop_server(void **state)
{
    struct fixture *f = *state;
    metrics_server_stop(f->server);
    metrics_free();
    free(f);
    return 0;
}

static void metrics_are_served_in_the_text_format(void **state)
{
    struct fixture *f = *state;
    metrics_job_ran("python", BRIG_STATUS_OK, 0.2);
    const char *address = metrics_server_address(f->server);
    assert_int_equal(strncmp(address, "127.0.0.1:", 10), 0);
    assert_int_not_equal(atoi(address + 10), 0);

    struct response r = fetch(address, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "\r\nContent-Type: text/plain; version=0.0.4"));
    char *expected;
    size_t len;
    assert_int_equal(metrics_registry_render(metrics_registry(), &expected, &len), 0);
    assert_string_equal(r.body, expected);
    assert_non_null(strstr(r.body, "brig_jobs_total{status=\"ok\",runtime=\"python\"} 1\n"));
    free(expected);
    response_free(&r);

    r = fetch(address, "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    response_free(&r);
}

static void health_is_ok_while_running(void **state)
{
    struct fixture *f = *state;
    struct response r = fetch(metrics_server_address(f->server), "GET", "/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    response_free(&r);
}

static void readiness_follows_the_callback(void **state)
{
    struct fixture *f = *state;
    struct response r = fetch(metrics_server_address(f->server), "GET", "/readyz");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready:\nkafka: no broker\naudit: disk full\n");
    response_free(&r);

    f->readiness.ready = true;
    r = fetch(metrics_server_address(f->server), "GET", "/readyz");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    response_free(&r);
}

static void other_paths_and_methods_are_refused(void **state)
{
    struct fixture *f = *state;
    struct response r = fetch(metrics_server_address(f->server), "GET", "/nothing");
    assert_int_equal(r.status, 404);
    response_free(&r);
    r = fetch(metrics_server_address(f->server), "POST", "/metrics");
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.head, "\r\nAllow: GET, HEAD"));
    response_free(&r);
}

static void promtool_accepts_the_exposition(void **state)
{
    struct fixture *f = *state;
    if (system("promtool --version >/dev/null 2>&1") != 0) {
        /* Debian's prometheus package provides it (mk/deps.sh prometheus). */
        fprintf(stderr, "promtool is not installed: skipping its check\n");
        skip();
    }
    /* Every kind of series present: labelled and not, histograms, lag. */
    metrics_job_ran("python", BRIG_STATUS_OK, 0.2);
    metrics_job_ran(NULL, BRIG_STATUS_SETUP_ERROR, 0.01);
    metrics_job_rejected(NULL);
    metrics_job_started(0.003);
    metrics_audit_write(0.0004);
    metrics_set_lag(0, 12);
    metrics_set_lag(1, 0);
    struct response r = fetch(metrics_server_address(f->server), "GET", "/metrics");
    assert_int_equal(r.status, 200);

    char path[] = "/tmp/brig-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, r.body, strlen(r.body)), (ssize_t)strlen(r.body));
    close(fd);
    char command[256], output[4096] = "";
    snprintf(command, sizeof(command), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(command, "r");
    assert_non_null(p);
    size_t n = fread(output, 1, sizeof(output) - 1, p);
    output[n] = '\0';
    int status = pclose(p);
    unlink(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("promtool check metrics failed (status %d):\n%s\non:\n%s", status, output, r.body);
    response_free(&r);
}

/* ---- addresses ---- */

static void start_errors_name_the_address(void **state)
{
    struct fixture *f = *state;
    struct metrics_server *second = NULL;
    char err[512];
    const char *taken = metrics_server_address(f->server);
    struct {
        const char *addr, *expected;
    } cases[] = {
        {taken, NULL}, /* filled below */
        {"nonsense", "metrics address nonsense: expected HOST:PORT ([HOST]:PORT for IPv6)"},
        {"::1:80", "metrics address ::1:80: expected HOST:PORT ([HOST]:PORT for IPv6)"},
        {"127.0.0.1:99999",
         "metrics address 127.0.0.1:99999: the port must be a number from 0 to 65535"},
        {"127.0.0.1:http", "metrics address 127.0.0.1:http: the port must be a number"},
    };
    char in_use[600];
    snprintf(in_use, sizeof(in_use), "binding the metrics server to %s: %s", taken,
             strerror(EADDRINUSE));
    cases[0].expected = in_use;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        err[0] = '\0';
        assert_int_equal(metrics_server_start(cases[i].addr, metrics_registry(), fake_ready,
                                              &f->readiness, &second, err, sizeof(err)),
                         -1);
        if (strncmp(err, cases[i].expected, strlen(cases[i].expected)) != 0)
            fail_msg("%s: got \"%s\", expected \"%s...\"", cases[i].addr, err, cases[i].expected);
    }
}

static void an_empty_host_listens_everywhere(void **state)
{
    (void)state;
    struct metrics_server *server;
    char err[512];
    struct fake_readiness readiness = {true, ""};
    assert_int_equal(metrics_server_start(":0", metrics_registry(), fake_ready, &readiness, &server,
                                          err, sizeof(err)),
                     0);
    const char *address = metrics_server_address(server);
    const char *port = strrchr(address, ':') + 1;
    char loopback[32];
    snprintf(loopback, sizeof(loopback), "127.0.0.1:%s", port);
    struct response r = fetch(loopback, "GET", "/healthz");
    assert_int_equal(r.status, 200);
    response_free(&r);
    metrics_server_stop(server);
}

/* ---- readiness checks ---- */

static void readiness_needs_every_check(void **state)
{
    (void)state;
    char reason[1024];
    readiness_reset();
    assert_false(readiness_report(NULL, reason, sizeof(reason)));
    assert_string_equal(reason, "kafka: no connection to a Kafka broker yet\n"
                                "audit: the audit store is not open yet\n"
                                "jails: the jail context is not set up yet\n"
                                "consumer: not consuming jobs yet");

    readiness_pass(READY_KAFKA);
    readiness_pass(READY_AUDIT);
    readiness_set(READY_JAILS, false, "setting up a jail failed: %s", "no cgroup");
    readiness_pass(READY_RUNNING);
    assert_false(readiness_report(NULL, reason, sizeof(reason)));
    assert_string_equal(reason, "jails: setting up a jail failed: no cgroup");

    readiness_pass(READY_JAILS);
    assert_true(readiness_report(NULL, reason, sizeof(reason)));
    assert_string_equal(reason, "");

    readiness_set(READY_RUNNING, false, "draining: SIGTERM received");
    char small[16];
    assert_false(readiness_report(NULL, small, sizeof(small)));
    assert_string_equal(small, "consumer: drain"); /* cut, still terminated */
    readiness_reset();
}

int main(void)
{
    /* libmicrohttpd's own complaints go through the worker's log. */
    log_configure(LOG_FORMAT_TEXT, LOG_LEVEL_WARN, "test", STDERR_FILENO);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_are_served_in_the_text_format),
        cmocka_unit_test(health_is_ok_while_running),
        cmocka_unit_test(readiness_follows_the_callback),
        cmocka_unit_test(other_paths_and_methods_are_refused),
        cmocka_unit_test(promtool_accepts_the_exposition),
        cmocka_unit_test(start_errors_name_the_address),
        cmocka_unit_test(an_empty_host_listens_everywhere),
        cmocka_unit_test(readiness_needs_every_check),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
