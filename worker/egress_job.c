/* The egress proxy's jobs: each job's rules, its listeners (one per jail,
 * made in the jail's network namespace), the connections they accept, and
 * closing it all when the job ends. */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/egress_internal.h"
#include "common/common.h"

/* ---- listeners ---- */

static void answer_and_close(struct egress_proxy *p, int fd, int status, const char *reason)
{
    char body[256], response[512];
    snprintf(body, sizeof(body), "brig egress proxy: %s\n", reason);
    int len = proxy_response(status, body, response, sizeof(response));
    if (len > 0 && send(fd, response, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        egress_note_failure(p, "answering a refused connection: %s", strerror(errno));
    close(fd);
}

/* Out of descriptors or memory: the listener stays readable, so it is left
 * out of the epoll set until the next tick instead of spinning. */
static void pause_listener(struct egress_proxy *p, struct listener *l, int error)
{
    egress_note_failure(p, "accepting a connection of job %s: %s", l->job->id, strerror(error));
    egress_watch(p, &l->ep, 0);
    l->paused = true;
    l->next_paused = p->paused;
    p->paused = l;
}

void egress_resume_listeners(struct egress_proxy *p)
{
    while (p->paused) {
        struct listener *l = p->paused;
        p->paused = l->next_paused;
        l->paused = false;
        egress_watch(p, &l->ep, EPOLLIN);
    }
}

void egress_accept(struct egress_proxy *p, struct listener *l)
{
    for (;;) {
        int fd = accept4(l->ep.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                pause_listener(p, l, errno);
            return;
        }
        /* Connections that have not named a destination yet are bounded
         * too, at twice the job's limit; refused here, they are not audited. */
        if (l->job->clients >= 2 * p->limits.connections) {
            answer_and_close(p, fd, 503, "the job has too many connections open to the proxy");
            continue;
        }
        struct conn *c = p->n_conns < p->max_connections ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            answer_and_close(p, fd, 503, "the proxy has too many connections open");
            continue;
        }
        egress_conn_open(p, c, l->job, fd);
    }
}

void egress_close_job(struct egress_proxy *p, struct egress_job *job)
{
    for (struct listener *l = job->listeners; l; l = l->next) {
        if (l->paused) {
            struct listener **link = &p->paused;
            while (*link != l)
                link = &(*link)->next_paused;
            *link = l->next_paused;
        }
        egress_close_endpoint(p, &l->ep);
    }
    for (struct conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (c->job == job)
            egress_conn_close(p, c);
    }
}

/* ---- jobs ---- */

/* egress_proxy_env, then for a job with secrets a placeholder for each and
 * the CA bundle for every TLS client that reads one of these variables. */
static int make_env(struct egress_job *job)
{
    static const char *const bundle_vars[] = {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                                              "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"};
    size_t n_proxy = strv_len(egress_proxy_env), n_secrets = job->secrets.count;
    size_t n_bundle = n_secrets ? ARRAY_SIZE(bundle_vars) : 0;
    if (!(job->env = calloc(n_proxy + n_secrets + n_bundle + 1, sizeof(*job->env))))
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < n_proxy; i++) {
        if (!(job->env[n++] = strdup(egress_proxy_env[i])))
            return -1;
    }
    for (size_t i = 0; i < n_secrets; i++) {
        const struct job_secret *js = &job->secrets.list[i];
        if (asprintf(&job->env[n++], "%s=%s", js->secret->name, js->placeholder) < 0) {
            job->env[n - 1] = NULL;
            return -1;
        }
    }
    for (size_t i = 0; i < n_bundle; i++) {
        if (asprintf(&job->env[n++], "%s=%s", bundle_vars[i], EGRESS_TLS_BUNDLE_JAIL_PATH) < 0) {
            job->env[n - 1] = NULL;
            return -1;
        }
    }
    return 0;
}

int egress_job_open(struct egress_proxy *p, const char *job_id, const struct brig_network *network,
                    const char *tenant, const char *const *secrets, size_t n_secrets,
                    struct egress_job **out, char *err, size_t errlen)
{
    *out = NULL;
    struct brig_error why;
    if (egress_admit(p, network, tenant, secrets, n_secrets, &why) < 0) {
        snprintf(err, errlen, "%s: %s", why.field, why.reason);
        return -1;
    }
    struct egress_rules rules;
    if (egress_rules_bound(network, &p->bound, &rules, &why) < 0) {
        snprintf(err, errlen, "%s: %s", why.field, why.reason);
        return -1;
    }
    if (rules.count == 0)
        return 0;
    struct egress_job *job = calloc(1, sizeof(*job));
    if (!job) {
        snprintf(err, errlen, "allocating the job's egress: %s", strerror(errno));
        egress_rules_free(&rules);
        return -1;
    }
    job->proxy = p;
    snprintf(job->id, sizeof(job->id), "%s", job_id);
    job->rules = rules;
    if (job_secrets_make(p->secrets, secrets, n_secrets, &job->secrets, err, errlen) < 0) {
        egress_job_close(job);
        return -1;
    }
    if (make_env(job) < 0) {
        snprintf(err, errlen, "making the job's environment: out of memory");
        egress_job_close(job);
        return -1;
    }
    if (job->secrets.count > 0)
        job->bind = (struct jail_bind){.src = egress_tls_bundle_path(p->tls),
                                       .dst = EGRESS_TLS_BUNDLE_JAIL_PATH};
    *out = job;
    return 0;
}

const char *const *egress_job_env(const struct egress_job *job)
{
    return (const char *const *)job->env;
}

const struct jail_bind *egress_job_binds(const struct egress_job *job, size_t *n)
{
    *n = job->bind.src ? 1 : 0;
    return &job->bind;
}

struct listen_call {
    int netns_fd;
    int fd;
    char *err;
    size_t errlen;
};

/* In a thread of its own, since a namespace is entered per thread and this
 * one ends there: nothing has to be restored. */
static void *listen_in_namespace(void *arg)
{
    struct listen_call *call = arg;
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(EGRESS_PROXY_PORT),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    const char *step = "entering the jail's network namespace";
    int fd = -1;
    if (setns(call->netns_fd, CLONE_NEWNET) != 0)
        goto fail;
    step = "creating the proxy's socket in the jail";
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    step = "binding the proxy to 127.0.0.1:" STRINGIFY(EGRESS_PROXY_PORT) " in the jail";
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto fail;
    step = "listening in the jail";
    if (listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    call->fd = fd;
    return NULL;
fail:
    snprintf(call->err, call->errlen, "%s: %s", step, strerror(errno));
    if (fd >= 0)
        close(fd);
    return NULL;
}

int egress_on_network(void *ctx, int netns_fd)
{
    struct egress_job *job = ctx;
    struct egress_proxy *p = job->proxy;
    struct listen_call call = {netns_fd, -1, job->error, sizeof(job->error)};
    pthread_t thread;
    if (egress_start_thread(&thread, listen_in_namespace, &call, job->error, sizeof(job->error),
                            "listener") == 0)
        pthread_join(thread, NULL);
    struct listener *l = call.fd >= 0 ? calloc(1, sizeof(*l)) : NULL;
    if (call.fd >= 0 && !l)
        snprintf(job->error, sizeof(job->error), "allocating the proxy's listener: %s",
                 strerror(errno));
    if (l) {
        l->ep = (struct endpoint){.kind = ENDPOINT_LISTENER, .fd = call.fd};
        l->job = job;
        if (egress_watch(p, &l->ep, EPOLLIN) < 0)
            snprintf(job->error, sizeof(job->error), "watching the proxy's listener: %s",
                     strerror(errno));
    }
    if (!l || l->ep.events == 0) {
        if (call.fd >= 0)
            close(call.fd);
        free(l);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    l->next = job->listeners;
    job->listeners = l;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

const char *egress_job_error(const struct egress_job *job)
{
    return job->error;
}

void egress_job_rename(struct egress_job *job, const char *job_id)
{
    /* The proxy thread reads the id under the report lock only. */
    pthread_mutex_lock(&job->proxy->report_lock);
    snprintf(job->id, sizeof(job->id), "%s", job_id);
    pthread_mutex_unlock(&job->proxy->report_lock);
}

void egress_job_close(struct egress_job *job)
{
    if (!job)
        return;
    struct egress_proxy *p = job->proxy;
    pthread_mutex_lock(&p->lock);
    if (job->listeners) {
        job->next_closing = p->closing;
        p->closing = job;
        egress_wake(p);
        while (!job->closed)
            pthread_cond_wait(&p->closed_cond, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    while (job->listeners) {
        struct listener *l = job->listeners;
        job->listeners = l->next;
        free(l);
    }
    egress_rules_free(&job->rules);
    job_secrets_free(&job->secrets);
    strv_free(job->env);
    free(job);
}
