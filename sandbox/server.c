/* This process's side of a jail server (see sandbox.h and warm_wire.h):
 * starts brig-zygote, hands it each jail to clone, and tells it when an init
 * may be reaped. One request at a time on the socket: a clone takes about a
 * millisecond, and replies then need no matching. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/jail_host.h"
#include "sandbox/warm_wire.h"

#define START_TIMEOUT_MS (120 * 1000) /* importing big libraries from a cold disk */
#define REPLY_TIMEOUT_MS (10 * 1000)
#define SERVER_SOCKET_FD 3

struct jail_server {
    pid_t pid;
    int sock;
    pthread_mutex_t lock;
    bool gone;
    /* Counts restarts: an init is released only to the server that cloned it,
     * since a later one may have a jail of its own under the same pid. */
    unsigned generation;
    char version[128];
    char *reply; /* WARM_MESSAGE_MAX bytes */
    char *server_path;
    char **args; /* NULL-terminated; for a restart */
};

/* The server's environment is a job's, so that what a warm interpreter
 * read of it while it imported (MPLBACKEND, HOME...) is what a cold one
 * reads; but for its PATH, where python3 must be Debian's interpreter that
 * brig-zygote embeds, from which it takes its prefix. */
static const char *const server_path_env[] = {"PATH=/usr/bin:/bin", NULL};

static int spawn_server(struct jail_context *ctx, struct jail_server *server,
                        const char *server_path, const char *const *args, int server_end, char *err,
                        size_t errlen)
{
    char **env = privs_build_env((const char *const *)ctx->env, server_path_env, err, errlen);
    if (env == NULL)
        return -1;
    size_t n = strv_len(args);
    char **argv = calloc(n + 2, sizeof(*argv));
    posix_spawn_file_actions_t actions;
    int rc = posix_spawn_file_actions_init(&actions);
    if (argv == NULL || rc != 0) {
        snprintf(err, errlen, "starting brig-zygote: %s", strerror(argv ? rc : errno));
        if (rc == 0)
            posix_spawn_file_actions_destroy(&actions);
        free(argv);
        free(env);
        return -1;
    }
    argv[0] = (char *)server_path;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = (char *)args[i];
    /* dup2 onto itself would keep close-on-exec, but server_end is the second
     * end of a socketpair, and the first took the lowest free descriptor. */
    rc = posix_spawn_file_actions_adddup2(&actions, server_end, SERVER_SOCKET_FD);
    if (rc == 0)
        rc = posix_spawn(&server->pid, server_path, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(argv);
    free(env);
    if (rc != 0) {
        snprintf(err, errlen, "starting brig-zygote %s: %s", server_path, strerror(rc));
        server->pid = 0;
        return -1;
    }
    return 0;
}

/* The next message, waiting at most timeout_ms; its fds go to fds. */
static int receive(struct jail_server *server, int timeout_ms, msgpack_unpacked *msg, int *fds,
                   size_t maxfds, size_t *nfds, char *err, size_t errlen)
{
    struct pollfd pfd = {server->sock, POLLIN, 0};
    int ready;
    while ((ready = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (ready <= 0) {
        snprintf(err, errlen, "brig-zygote did not answer within %d ms%s%s", timeout_ms,
                 ready < 0 ? ": " : "", ready < 0 ? strerror(errno) : "");
        return -1;
    }
    ssize_t len = warm_recv(server->sock, server->reply, WARM_MESSAGE_MAX, fds, maxfds, nfds);
    if (len <= 0) {
        snprintf(err, errlen, "brig-zygote is gone%s%s", len < 0 ? ": " : "",
                 len < 0 ? strerror(errno) : "");
        return -1;
    }
    if (msgpack_unpack_next(msg, server->reply, (size_t)len, NULL) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "brig-zygote sent something that is not msgpack");
        return -1;
    }
    return 0;
}

static int send_buffer(struct jail_server *server, const msgpack_sbuffer *buf, const int *fds,
                       size_t nfds, char *err, size_t errlen)
{
    if (warm_send(server->sock, buf->data, buf->size, fds, nfds) != 0) {
        snprintf(err, errlen, "talking to brig-zygote: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int handshake(struct jail_server *server, struct jail_context *ctx, char *err, size_t errlen)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_unpacked msg;
    char word[16];
    int rc = -1;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_unpacked_init(&msg);
    size_t nfds;
    warm_pack_hello(&pk, ctx->root_dir, ctx->cap_last_cap, &ctx->base_plan, ctx->seccomp);
    if (send_buffer(server, &buf, NULL, 0, err, errlen) != 0 ||
        receive(server, START_TIMEOUT_MS, &msg, NULL, 0, &nfds, err, errlen) != 0)
        goto out;
    const char *what = warm_message_word(&msg.data, word, sizeof(word));
    if (what != NULL && strcmp(what, "ready") == 0 &&
        warm_message_text(&msg.data, server->version, sizeof(server->version)) == 0) {
        rc = 0;
    } else if (what != NULL && strcmp(what, "error") == 0 &&
               warm_message_text(&msg.data, err, errlen) == 0) {
        /* err holds the server's reason */
    } else {
        snprintf(err, errlen, "brig-zygote answered the hello with nonsense");
    }
out:
    msgpack_unpacked_destroy(&msg);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

int jail_server_start_warm(struct jail_context *ctx, const char *server_path,
                           const char *const *preload, struct jail_server **out, char *err,
                           size_t errlen)
{
    return server_start(ctx, server_path, preload, out, err, errlen);
}

int server_start(struct jail_context *ctx, const char *server_path, const char *const *args,
                 struct jail_server **out, char *err, size_t errlen)
{
    int pair[2] = {-1, -1};
    *out = NULL;
    struct jail_server *server = calloc(1, sizeof(*server));
    if (server == NULL || (server->reply = malloc(WARM_MESSAGE_MAX)) == NULL) {
        snprintf(err, errlen, "allocating a jail server: %s", strerror(errno));
        if (server)
            free(server);
        return -1;
    }
    server->sock = -1;
    pthread_mutex_init(&server->lock, NULL);
    if ((server->server_path = strdup(server_path)) == NULL ||
        (server->args = strv_copy(args)) == NULL) {
        snprintf(err, errlen, "allocating a jail server: %s", strerror(errno));
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(err, errlen, "making brig-zygote's socket: %s", strerror(errno));
        goto fail;
    }
    /* A message is as big as the largest job's environment and arguments. */
    int size = (int)WARM_MESSAGE_MAX + 4096;
    for (int i = 0; i < 2; i++) {
        if (setsockopt(pair[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0) {
            snprintf(err, errlen, "sizing brig-zygote's socket: %s", strerror(errno));
            goto fail;
        }
    }
    server->sock = pair[0];
    if (spawn_server(ctx, server, server_path, args, pair[1], err, errlen) != 0)
        goto fail;
    close(pair[1]);
    pair[1] = -1;
    if (handshake(server, ctx, err, errlen) != 0)
        goto fail;
    *out = server;
    return 0;

fail:
    if (pair[1] >= 0)
        close(pair[1]);
    jail_server_free(server);
    return -1;
}

void jail_server_free(struct jail_server *server)
{
    if (server == NULL)
        return;
    /* End of file tells the server to go; its jails die with it. */
    if (server->sock >= 0)
        close(server->sock);
    if (server->pid > 0) {
        kill(server->pid, SIGKILL);
        while (waitpid(server->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_destroy(&server->lock);
    free(server->reply);
    free(server->server_path);
    strv_free(server->args);
    free(server);
}

const char *jail_server_version(const struct jail_server *server)
{
    return server->version;
}

bool jail_server_alive(struct jail_server *server)
{
    pthread_mutex_lock(&server->lock);
    /* Between requests the server sends nothing: anything to read is the end
     * of the connection, a server that died while idle. */
    struct pollfd pfd = {server->sock, POLLIN, 0};
    if (!server->gone && poll(&pfd, 1, 0) != 0)
        server->gone = true;
    bool alive = !server->gone;
    pthread_mutex_unlock(&server->lock);
    return alive;
}

int jail_server_restart(struct jail_server *server, struct jail_context *ctx, char *err,
                        size_t errlen)
{
    struct jail_server *fresh;
    if (jail_server_alive(server))
        return 0;
    if (server_start(ctx, server->server_path, (const char *const *)server->args, &fresh, err,
                     errlen) != 0)
        return -1;
    if (strcmp(fresh->version, server->version) != 0) {
        snprintf(err, errlen,
                 "the interpreter is now %s, not %s as when the worker started: jobs start "
                 "cold until it restarts",
                 fresh->version, server->version);
        jail_server_free(fresh);
        return -1;
    }
    pthread_mutex_lock(&server->lock);
    int old_sock = server->sock;
    pid_t old_pid = server->pid;
    server->sock = fresh->sock;
    server->pid = fresh->pid;
    server->gone = false;
    server->generation++;
    pthread_mutex_unlock(&server->lock);
    /* fresh now holds the dead server: freeing it closes and reaps that. */
    fresh->sock = old_sock;
    fresh->pid = old_pid;
    jail_server_free(fresh);
    return 0;
}

enum server_spawn_result server_spawn(struct jail_server *server, const struct jail_child *child,
                                      int netns_fd, pid_t *pid, int *pidfd, unsigned *generation,
                                      char *msg, size_t len)
{
    int fds[WARM_SPAWN_FDS_MAX] = {child->stdio[0], child->stdio[1], child->stdio[2], child->go_fd,
                                   child->report_fd};
    size_t nfds_sent = WARM_SPAWN_FDS;
    if (child->live) {
        fds[nfds_sent++] = child->channel_in;
        fds[nfds_sent++] = child->channel_out;
    }
    if (netns_fd >= 0)
        fds[nfds_sent++] = netns_fd;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_unpacked reply;
    char word[16];
    size_t nfds = 0;
    int received = -1;
    enum server_spawn_result rc = SERVER_REFUSED;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_unpacked_init(&reply);
    warm_pack_spawn(&pk, child);

    pthread_mutex_lock(&server->lock);
    if (server->gone) {
        snprintf(msg, len, "brig-zygote is gone");
        rc = SERVER_GONE;
        goto out;
    }
    if (send_buffer(server, &buf, fds, nfds_sent, msg, len) != 0 ||
        receive(server, REPLY_TIMEOUT_MS, &reply, &received, 1, &nfds, msg, len) != 0) {
        /* A server that stops answering is as good as dead. */
        server->gone = true;
        rc = SERVER_GONE;
        goto out;
    }
    long long value;
    const char *what = warm_message_word(&reply.data, word, sizeof(word));
    if (what != NULL && strcmp(what, "spawned") == 0 && nfds == 1 &&
        warm_message_int(&reply.data, &value) == 0 && value > 0) {
        *pid = (pid_t)value;
        *pidfd = received;
        *generation = server->generation;
        received = -1;
        rc = SERVER_SPAWNED;
    } else if (what == NULL || strcmp(what, "error") != 0 ||
               warm_message_text(&reply.data, msg, len) != 0) {
        snprintf(msg, len, "brig-zygote answered a spawn with nonsense");
    }
out:
    pthread_mutex_unlock(&server->lock);
    if (received >= 0)
        close(received);
    msgpack_unpacked_destroy(&reply);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

void server_release(struct jail_server *server, pid_t pid, unsigned generation)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    char ignored[128];
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    warm_pack_word_int(&pk, "reap", pid);
    pthread_mutex_lock(&server->lock);
    if (!server->gone && server->generation == generation &&
        send_buffer(server, &buf, NULL, 0, ignored, sizeof(ignored)) != 0)
        server->gone = true;
    pthread_mutex_unlock(&server->lock);
    msgpack_sbuffer_destroy(&buf);
}
