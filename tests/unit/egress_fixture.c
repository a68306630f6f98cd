/* What the egress tests share: getaddrinfo wrapped (it counts calls and
 * resolves names under FAKE_ZONE to 127.0.0.1, standing in for a DNS zone
 * that points at the host's loopback), allow-lists from text, and the proxy
 * tests' fixture: a host server, network namespaces of the test's own (the
 * "job"), an audit store and the exchanges between them. */
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

atomic_int resolutions;

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

struct egress_rules rules_of(const char *text)
{
    struct egress_rules rules;
    char err[256];
    if (egress_rules_parse(text, &rules, err, sizeof(err)) != 0)
        fail_msg("parsing \"%s\": %s", text ? text : "(null)", err);
    return rules;
}

struct brig_network network_of(struct egress_rules *rules)
{
    return (struct brig_network){BRIG_NETWORK_ALLOW, rules->rules, rules->count};
}

struct host_server server = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
int host_netns = -1;
char audit_dir[64], audit_path[128];
struct audit_store *store;
const char server_body[] = "hello from the host\n";

void set_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One request per connection: read its head, answer, close. */
void *serve_connection(void *arg)
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

void *serve(void *arg)
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

void server_head(char *out, size_t len)
{
    pthread_mutex_lock(&server.lock);
    snprintf(out, len, "%s", server.last_head);
    server.last_head[0] = '\0';
    pthread_mutex_unlock(&server.lock);
}

int start_server(void)
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

void stop_server(void)
{
    if (server.fd < 0)
        return;
    shutdown(server.fd, SHUT_RDWR);
    pthread_join(server.thread, NULL);
    close(server.fd);
    for (int i = 0; i < 600 && atomic_load(&server.active) > 0; i++)
        usleep(100000);
}

void *make_netns(void *arg)
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
int new_netns(void)
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
int connect_in(int netns, uint16_t port)
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

void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until the peer closes, or until the text holds "until" when given. */
char *read_reply(int fd, const char *until)
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
char *exchange(int netns, const char *request)
{
    int fd = connect_in(netns, EGRESS_PROXY_PORT);
    if (fd < 0)
        fail_msg("connecting to the proxy: %s", strerror(-fd));
    send_text(fd, request);
    char *reply = read_reply(fd, NULL);
    close(fd);
    return reply;
}

void expect_reply(char *reply, const char *part)
{
    if (strstr(reply, part) == NULL)
        fail_msg("the reply does not hold \"%s\":\n%s", part, reply);
    free(reply);
}

void open_case(struct proxy_case *pc, const char *id, const char *bound, const char *job_rules,
               const struct egress_limits *limits)
{
    char err[512];
    if (egress_proxy_start(bound, limits, &pc->proxy, err, sizeof(err)) != 0)
        fail_msg("egress_proxy_start: %s", err);
    struct egress_rules rules = rules_of(job_rules);
    struct brig_network network = network_of(&rules);
    if (egress_job_open(pc->proxy, id, &network, NULL, NULL, 0, &pc->job, err, sizeof(err)) != 0)
        fail_msg("egress_job_open: %s", err);
    egress_rules_free(&rules);
    assert_non_null(pc->job);
    if (audit_record_job(store, id, 0, NULL, NULL, NULL, NULL, "x", 1, err, sizeof(err)) != 0)
        fail_msg("audit_record_job: %s", err);
    pc->netns = new_netns();
    assert_int_equal(egress_on_network(pc->job, pc->netns), 0);
    assert_string_equal(egress_job_error(pc->job), "");
}

void drain(struct egress_proxy *proxy)
{
    char err[1024];
    if (egress_audit_drain(proxy, store, err, sizeof(err)) != 0)
        fail_msg("egress_audit_drain: %s", err);
}

void close_case(struct proxy_case *pc)
{
    egress_job_close(pc->job);
    drain(pc->proxy);
    egress_proxy_free(pc->proxy);
    close(pc->netns);
}

/* The job's connections table, a line "host port allowed reason" per row. */
char *connections_of(const char *job_id)
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

void need_root(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: network namespaces and jails need root\n");
        skip();
    }
}

int setup_proxy_tests(void **state)
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

int teardown_proxy_tests(void **state)
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
