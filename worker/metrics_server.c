#include "worker/metrics_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/log.h"

#define CONNECTIONS_MAX 32
#define IDLE_TIMEOUT_S 10
#define REASON_MAX 2048

struct metrics_server {
    struct MHD_Daemon *daemon;
    struct metrics_registry *registry;
    metrics_readiness_fn ready;
    void *ready_ctx;
    char address[INET6_ADDRSTRLEN + 16];
};

/* ---- requests ---- */

static enum MHD_Result respond(struct MHD_Connection *connection, unsigned status,
                               const char *content_type, void *body, size_t len,
                               enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *response = MHD_create_response_from_buffer(len, body, mode);
    if (!response) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

static enum MHD_Result respond_text(struct MHD_Connection *connection, unsigned status,
                                    const char *text)
{
    return respond(connection, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
                   MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result serve_metrics(struct metrics_server *server,
                                     struct MHD_Connection *connection)
{
    char *text;
    size_t len;
    if (metrics_registry_render(server->registry, &text, &len) < 0)
        return respond_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "out of memory rendering the metrics\n");
    return respond(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                   MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_readiness(struct metrics_server *server,
                                       struct MHD_Connection *connection)
{
    char reason[REASON_MAX] = "";
    if (server->ready(server->ready_ctx, reason, sizeof(reason)))
        return respond_text(connection, MHD_HTTP_OK, "ready\n");
    char *body;
    int len = asprintf(&body, "not ready:\n%s\n", reason[0] ? reason : "(no reason given)");
    if (len < 0)
        return respond_text(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    return respond(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
                   (size_t)len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **request_state)
{
    static int headers_seen;
    struct metrics_server *server = cls;
    (void)version;
    (void)upload_data;

    /* The first call brings only the headers; answering waits for the end
     * of the request, whose body, if any, is read and ignored. */
    if (!*request_state) {
        *request_state = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(server, connection);
    if (strcmp(url, "/healthz") == 0)
        return respond_text(connection, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0)
        return serve_readiness(server, connection);
    return respond_text(connection, MHD_HTTP_NOT_FOUND,
                        "not found: this server has /metrics, /healthz and /readyz\n");
}

static void log_from_libmicrohttpd(void *cls, const char *fmt, va_list args)
{
    char text[512];
    (void)cls;
    vsnprintf(text, sizeof(text), fmt, args);
    text[strcspn(text, "\n")] = '\0';
    log_warn(NULL, "metrics server: %s", text);
}

/* ---- listening ---- */

/* HOST:PORT or [HOST]:PORT into its parts. */
static int split_address(const char *addr, char *host, size_t host_len, char *port, size_t port_len,
                         char *err, size_t errlen)
{
    const char *host_start, *host_end, *colon;
    if (addr[0] == '[') {
        host_start = addr + 1;
        host_end = strchr(host_start, ']');
        colon = host_end && host_end[1] == ':' ? host_end + 1 : NULL;
    } else {
        host_start = addr;
        colon = host_end = strrchr(addr, ':');
        /* An IPv6 address needs brackets to tell it from its port. */
        if (colon && memchr(addr, ':', (size_t)(colon - addr)))
            colon = NULL;
    }
    if (!colon) {
        snprintf(err, errlen, "metrics address %s: expected HOST:PORT ([HOST]:PORT for IPv6)",
                 addr);
        return -1;
    }
    const char *digits = colon + 1;
    size_t n_digits = strspn(digits, "0123456789");
    if (n_digits == 0 || n_digits > 5 || digits[n_digits] || atoi(digits) > 65535) {
        snprintf(err, errlen, "metrics address %s: the port must be a number from 0 to 65535",
                 addr);
        return -1;
    }
    if ((size_t)(host_end - host_start) >= host_len) {
        snprintf(err, errlen, "metrics address %s: the host name is too long", addr);
        return -1;
    }
    snprintf(host, host_len, "%.*s", (int)(host_end - host_start), host_start);
    snprintf(port, port_len, "%s", digits);
    return 0;
}

/* A listening socket on the first of addr's resolved addresses that binds. */
static int listen_on(const char *addr, char *err, size_t errlen)
{
    char host[256], port[8];
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *found;
    if (split_address(addr, host, sizeof(host), port, sizeof(port), err, errlen) < 0)
        return -1;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &found);
    if (rc != 0) {
        snprintf(err, errlen, "metrics address %s: %s", addr,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved_errno = 0;
    const char *step = "";
    for (struct addrinfo *ai = found; ai && fd < 0; ai = ai->ai_next) {
        const int on = 1;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved_errno = errno;
            step = "creating a socket for";
            continue;
        }
        /* A restarted worker binds again at once, despite connections of the
         * previous one in TIME_WAIT. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            saved_errno = errno;
            step = "binding the metrics server to";
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0)
        snprintf(err, errlen, "%s %s: %s", step, addr, strerror(saved_errno));
    return fd;
}

/* The bound address of fd as HOST:PORT, into server->address. */
static int name_bound_address(struct metrics_server *server, int fd, int *family, char *err,
                              size_t errlen)
{
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    char host[INET6_ADDRSTRLEN], port[8];
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0) {
        snprintf(err, errlen, "reading the metrics server's address: %s", strerror(errno));
        return -1;
    }
    int rc = getnameinfo((struct sockaddr *)&bound, bound_len, host, sizeof(host), port,
                         sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
    if (rc != 0) {
        snprintf(err, errlen, "reading the metrics server's address: %s", gai_strerror(rc));
        return -1;
    }
    *family = bound.ss_family;
    snprintf(server->address, sizeof(server->address),
             bound.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return 0;
}

int metrics_server_start(const char *addr, struct metrics_registry *registry,
                         metrics_readiness_fn ready, void *ready_ctx, struct metrics_server **out,
                         char *err, size_t errlen)
{
    int family;
    struct metrics_server *server = calloc(1, sizeof(*server));
    if (!server) {
        snprintf(err, errlen, "starting the metrics server on %s: out of memory", addr);
        return -1;
    }
    server->registry = registry;
    server->ready = ready;
    server->ready_ctx = ready_ctx;
    int fd = listen_on(addr, err, errlen);
    if (fd < 0 || name_bound_address(server, fd, &family, err, errlen) < 0)
        goto fail;

    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* From here libmicrohttpd owns fd and closes it when stopped. Whether a
     * failed start has closed it depends on where it failed, so it is then
     * left alone rather than risk closing a descriptor another thread just
     * got; the worker exits on that failure anyway. */
    server->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, handle_request, server, MHD_OPTION_EXTERNAL_LOGGER,
                         log_from_libmicrohttpd, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_END);
    fd = -1;
    if (!server->daemon) {
        snprintf(err, errlen, "starting the metrics server on %s failed (see the lines above)",
                 addr);
        goto fail;
    }
    *out = server;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    free(server);
    return -1;
}

const char *metrics_server_address(const struct metrics_server *server)
{
    return server->address;
}

void metrics_server_stop(struct metrics_server *server)
{
    if (!server)
        return;
    MHD_stop_daemon(server->daemon);
    free(server);
}
