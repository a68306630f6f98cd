/* What the egress tests share (egress_fixture.c): getaddrinfo wrapped, the
 * allow-list from text, and the proxy tests' host server, network namespaces
 * and audit store (setup_proxy_tests / teardown_proxy_tests, a group's
 * fixture; they need root). Each helper fails the test on error. */
#ifndef BRIG_TESTS_EGRESS_FIXTURE_H
#define BRIG_TESTS_EGRESS_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "schema/schema.h"
#include "worker/audit.h"
#include "worker/egress.h"
#include "worker/egress_policy.h"

#define FAKE_ZONE ".loopback.test"

/* getaddrinfo calls so far: a denied request is never resolved. */
extern atomic_int resolutions;

struct host_server {
    int fd;
    uint16_t port;
    pthread_t thread;
    pthread_mutex_t lock;
    char last_head[8192]; /* what the last complete request looked like */
    atomic_int active;
};

struct proxy_case {
    struct egress_proxy *proxy;
    struct egress_job *job;
    int netns;
};

extern struct host_server server;
extern int host_netns;
extern char audit_dir[64], audit_path[128];
extern struct audit_store *store;
extern const char server_body[];

struct egress_rules rules_of(const char *text);
struct brig_network network_of(struct egress_rules *rules);
void set_timeout(int fd, int seconds);
void *serve_connection(void *arg);
void *serve(void *arg);
void server_head(char *out, size_t len);
int start_server(void);
void stop_server(void);
void *make_netns(void *arg);
int new_netns(void);
int connect_in(int netns, uint16_t port);
void send_text(int fd, const char *text);
char *read_reply(int fd, const char *until);
char *exchange(int netns, const char *request);
void expect_reply(char *reply, const char *part);
/* A proxy with bound, a job with job_rules in a fresh network namespace. */
void open_case(struct proxy_case *pc, const char *id, const char *bound, const char *job_rules,
               const struct egress_limits *limits);
void drain(struct egress_proxy *proxy);
void close_case(struct proxy_case *pc);
char *connections_of(const char *job_id);
void need_root(void);
int setup_proxy_tests(void **state);
int teardown_proxy_tests(void **state);

#endif
