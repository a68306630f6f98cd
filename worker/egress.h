/* The egress proxy: the only way out of a jail for a job with a network
 * allow-list.
 *
 * Every jail has a network namespace of its own with nothing but loopback.
 * For a job with network, the worker opens a listening socket at
 * 127.0.0.1:3128 inside that namespace (jail_spec.on_network, called once the
 * namespace exists and before the job starts; a socket stays in the namespace
 * it was made in) and points the job's HTTP_PROXY and HTTPS_PROXY at it. One
 * proxy thread, in the host's namespace, serves every job's listener with
 * epoll: it reads a request head (CONNECT host:port, or a plain HTTP request
 * with an absolute URI), decides it against the job's allow-list
 * (egress_policy.h), resolves the name only when the request is allowed (a few
 * resolver threads, so that a slow DNS answer stalls no other job), connects
 * from the host and relays bytes both ways: after "200 Connection
 * established" for CONNECT, or after the rewritten request head (one request
 * per connection, "Connection: close"). Anything else gets a short answer: 403
 * with the reason and the job's rules, 400 or 431 for a bad head, 502, 503 or
 * 504 when the destination cannot be reached or a bound is hit.
 *
 * With the operator's secrets (egress_proxy_use_secrets, egress_secrets.h),
 * a job that names some gets a placeholder for each in its environment, and
 * the proxy intercepts its CONNECTs to the hosts secrets are bound to
 * (egress_tls.h): it answers the job's TLS with a certificate of its own CA,
 * which the job's jail trusts for those names only, speaks TLS to the real
 * host, and between the two reads each request (HTTP/1.1, several per
 * connection, bodies of any framing passed on as they come), puts a value in
 * where its binding says and refuses a placeholder anywhere else. Every byte
 * such a job sends through the proxy is searched for its placeholders.
 *
 * Every decided request, allowed or denied, becomes a record (a row of the
 * audit store's connections table). Records wait in a queue, with the
 * proxy's own failures, until the thread that owns the store and the log
 * takes them (egress_take_report; egress_audit.h writes them into the store).
 * The proxy writes to no store and no log itself.
 *
 * Bounds, per job: connections toward destinations (past it a request is
 * refused and audited), connections to the proxy in all (twice as many; past
 * that a connection is refused before it names a destination, so it is not
 * audited), requests (each one audited), bytes relayed both ways (counted
 * toward nothing else), and timeouts for the head, for resolving and
 * connecting, and for a silent connection; for the proxy: connections in all,
 * from the process's descriptor limit. */
#ifndef BRIG_WORKER_EGRESS_H
#define BRIG_WORKER_EGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"
#include "schema/schema.h"
#include "worker/secrets.h"

#define EGRESS_PROXY_PORT 3128

struct egress_limits {
    unsigned connections;        /* open toward destinations at once, per job */
    unsigned requests;           /* decided per job; later ones are refused unrecorded */
    uint64_t bytes;              /* relayed per job, both ways together */
    unsigned head_timeout_ms;    /* from accepting a connection to its complete request head */
    unsigned connect_timeout_ms; /* to resolve the name and connect */
    unsigned idle_timeout_ms;    /* a relayed connection without a byte either way */
};

void egress_limits_default(struct egress_limits *limits);

struct egress_proxy;
struct egress_job;

/* bound: the operator's allow-list, comma-separated rules (egress_policy.h);
 * NULL or "" means that no job gets network, and no thread is started.
 * limits: NULL for the defaults. */
int egress_proxy_start(const char *bound, const struct egress_limits *limits,
                       struct egress_proxy **out, char *err, size_t errlen);

/* Stops the threads and frees the proxy; every job must be closed first.
 * Records not yet taken are lost. NULL is a no-op. */
void egress_proxy_free(struct egress_proxy *proxy);

/* Gives the proxy the operator's secrets, which it keeps (store outlives
 * the proxy): makes the CA for their hosts, and the jails' bundle in
 * bundle_dir; upstream_ca_file (NULL = none) adds to the system's CAs for
 * verifying those hosts. Before any job. -1 with err: a binding outside the
 * operator's allow-list, a secret named like a variable the proxy sets. */
int egress_proxy_use_secrets(struct egress_proxy *proxy, const struct secret_store *store,
                             const char *bundle_dir, const char *upstream_ca_file, char *err,
                             size_t errlen);

/* Whether the proxy can serve a job's network field and the secrets it names:
 * 0, or -1 with why (a job field and a sentence), for a "rejected" result. A
 * secret the worker does not have, or whose bindings the job's network does
 * not reach, is refused naming it; so is one bound to tenants other than the
 * job's (tenant: its verified tenant, NULL or "" for an unsigned job), in the
 * words of one the worker does not have. */
int egress_admit(const struct egress_proxy *proxy, const struct brig_network *network,
                 const char *tenant, const char *const *secrets, size_t n_secrets,
                 struct brig_error *why);

/* A job about to run. *out is NULL for a job without network: nothing to do.
 * Otherwise set jail_spec.on_network = egress_on_network and network_ctx =
 * *out, add egress_job_env to the job's environment and egress_job_binds to
 * its binds, run the jail(s), and then call egress_job_close. -1 with err when
 * the job's network or secrets cannot be served (egress_admit says the
 * same). */
int egress_job_open(struct egress_proxy *proxy, const char *job_id,
                    const struct brig_network *network, const char *tenant,
                    const char *const *secrets, size_t n_secrets, struct egress_job **out,
                    char *err, size_t errlen);

/* What the job finds in its environment, NULL-terminated: egress_proxy_env,
 * and for a job with secrets a placeholder for each (NAME=brig-secret:...)
 * and the variables that point TLS clients at the CA bundle. */
const char *const *egress_job_env(const struct egress_job *job);

/* For a job with secrets, the CA bundle bound read-only into its jail; none
 * otherwise. */
const struct jail_bind *egress_job_binds(const struct egress_job *job, size_t *n);

/* jail_spec.on_network: opens the job's listener in the jail's network
 * namespace. Called once per jail of the job (a compile step, then the run).
 * -1 when it cannot: egress_job_error says why. */
int egress_on_network(void *job, int netns_fd);

/* Why egress_on_network failed; "" when it did not. */
const char *egress_job_error(const struct egress_job *job);

/* The records decided from now on carry job_id: a session's interpreter
 * keeps one egress job for its life, and each cell's requests are that
 * cell's. */
void egress_job_rename(struct egress_job *job, const char *job_id);

/* Closes the job's listeners and connections, then frees it; every record of
 * the job is queued by the time it returns. NULL is a no-op. */
void egress_job_close(struct egress_job *job);

/* "HTTP_PROXY=http://127.0.0.1:3128" and its kin, NULL-terminated: what a
 * job with network finds in its environment. NO_PROXY keeps the job's own
 * loopback direct. */
extern const char *const egress_proxy_env[];

/* A decided request, allowed or denied. */
struct egress_record {
    char job_id[BRIG_ID_MAX + 1];
    char host[256];
    uint16_t port;
    bool allowed;
    char *reason;  /* the deciding rule, or why not; NULL = none */
    int64_t ts_ms; /* Unix milliseconds, when it was decided */
};

/* What the proxy hands back since the last report. */
struct egress_report {
    struct egress_record *records; /* in the order they were decided */
    size_t count;
    uint64_t lost;          /* records dropped: the queue was full or memory ran out */
    uint64_t failures;      /* the proxy's own failures (epoll, eventfd, accept, send) */
    char last_failure[256]; /* the latest of them, a sentence; "" when none */
};

/* Takes what the proxy has to report. Any thread, as often as it likes;
 * every record of a closed job is in the next report. Free it with
 * egress_report_free. */
void egress_take_report(struct egress_proxy *proxy, struct egress_report *out);
void egress_report_free(struct egress_report *report);

#endif
