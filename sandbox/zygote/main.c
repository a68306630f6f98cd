/* brig-zygote: a warm interpreter's server (see sandbox.h and
 * sandbox/warm_wire.h). Started by a worker with its socket at descriptor 3
 * and the modules to preload as arguments; learns the jail from the
 * worker's hello, prepares the interpreter, then clones one jail's init per
 * spawn request. It runs no job code itself: init and the job are its
 * copies, and the job's code runs only once the job is jailed.
 *
 * Single-threaded on purpose: a new user namespace can only be cloned from
 * a process with one thread, and its copies then hold no lock another
 * thread owned. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brig_version.h"
#include "sandbox/warm_wire.h"
#include "sandbox/zygote/python.h"
#include "sandbox/zygote/view.h"

#define WORKER_SOCKET_FD 3

/* Inits cloned and not yet reaped; the worker says when. */
struct inits {
    pid_t *pids;
    int *pidfds;
    size_t count, capacity;
};

static int inits_add(struct inits *inits, pid_t pid, int pidfd)
{
    if (inits->count == inits->capacity) {
        size_t capacity = inits->capacity ? inits->capacity * 2 : 64;
        pid_t *pids = realloc(inits->pids, capacity * sizeof(*pids));
        if (pids == NULL)
            return -1;
        inits->pids = pids;
        int *pidfds = realloc(inits->pidfds, capacity * sizeof(*pidfds));
        if (pidfds == NULL)
            return -1;
        inits->pidfds = pidfds;
        inits->capacity = capacity;
    }
    inits->pids[inits->count] = pid;
    inits->pidfds[inits->count] = pidfd;
    inits->count++;
    return 0;
}

static void inits_reap(struct inits *inits, pid_t pid)
{
    for (size_t i = 0; i < inits->count; i++) {
        if (inits->pids[i] != pid)
            continue;
        siginfo_t info;
        while (waitid(P_PIDFD, (id_t)inits->pidfds[i], &info, WEXITED | __WALL) != 0 &&
               errno == EINTR)
            ;
        close(inits->pidfds[i]);
        inits->count--;
        inits->pids[i] = inits->pids[inits->count];
        inits->pidfds[i] = inits->pidfds[inits->count];
        return;
    }
}

/* ["<word>", text], or ["<word>", value] with fd attached when text is
 * NULL. A worker that cannot be told is gone: so is this server. */
static void reply(const char *word, const char *text, long long value, int fd)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    if (text != NULL)
        warm_pack_word_text(&pk, word, text);
    else
        warm_pack_word_int(&pk, word, value);
    if (warm_send(WORKER_SOCKET_FD, buf.data, buf.size, &fd, text != NULL ? 0 : 1) != 0)
        _exit(1);
    msgpack_sbuffer_destroy(&buf);
}

static void reply_text(const char *word, const char *text)
{
    reply(word, text, 0, -1);
}

/* The next message; exits when the worker is gone. */
static size_t next_message(char *buf, int *fds, size_t *nfds)
{
    for (;;) {
        ssize_t len =
            warm_recv(WORKER_SOCKET_FD, buf, WARM_MESSAGE_MAX, fds, WARM_SPAWN_FDS_MAX, nfds);
        if (len > 0)
            return (size_t)len;
        if (len == 0)
            exit(0);
        if (errno != EMSGSIZE)
            exit(1);
        reply_text("error", "the request is larger than the warm interpreter takes");
    }
}

/* This process's own network namespace, to come back to after a clone. */
static int own_netns = -1;

static void spawn(const struct warm_setup *setup, bool warm, const msgpack_object *msg,
                  const int *fds, size_t nfds, struct inits *inits)
{
    struct warm_job job;
    char err[256];
    if (warm_unpack_spawn(msg, setup->root, &job, err, sizeof(err)) != 0) {
        reply_text("error", err);
        return;
    }
    size_t expected = WARM_SPAWN_FDS + (job.live ? WARM_SPAWN_CHANNEL_FDS : 0);
    if (nfds != expected && nfds != expected + 1) {
        warm_job_free(&job);
        reply_text("error", "a spawn comes with the child's five descriptors, a live jail's "
                            "channel, and maybe a network namespace");
        return;
    }
    bool net_ready = nfds == expected + 1;
    struct jail_child child = {
        .root = setup->root,
        .base = job.has_base ? &job.base : &setup->base,
        .job = &job.plan,
        .stdio = {fds[0], fds[1], fds[2]},
        .go_fd = fds[3],
        .report_fd = fds[4],
        .live = job.live,
        .channel_in = job.live ? fds[5] : -1,
        .channel_out = job.live ? fds[6] : -1,
        .argv = job.argv,
        .envp = job.envp,
        .exec_candidates = job.candidates,
        .cap_last_cap = setup->cap_last_cap,
        .seccomp = setup->seccomp,
        .start = warm ? python_start_job : NULL,
        .net_ready = net_ready,
    };
    memcpy(child.rlimits, job.rlimits, sizeof(child.rlimits));
    int pidfd = -1;
    struct clone_args args = {
        .flags = (JAIL_CLONE_FLAGS & ~(net_ready ? CLONE_NEWNET : 0)) | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = 0,
    };
    /* Init inherits this process's network namespace when it gets no new one. */
    if (net_ready && setns(fds[expected], CLONE_NEWNET) != 0) {
        snprintf(err, sizeof(err), "entering the jail's network namespace: %s", strerror(errno));
        warm_job_free(&job);
        reply_text("error", err);
        return;
    }
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0)
        jail_init_main(&child);
    int clone_errno = errno;
    /* Back home, or this server would put later jails in this one's namespace. */
    if (net_ready && setns(own_netns, CLONE_NEWNET) != 0) {
        reply_text("error", "the jail spawner cannot return to its network namespace");
        exit(1);
    }
    errno = clone_errno;
    warm_job_free(&job);
    if (pid < 0) {
        snprintf(err, sizeof(err), "cloning the jail's init into new namespaces: %s",
                 strerror(errno));
        reply_text("error", err);
        return;
    }
    if (inits_add(inits, (pid_t)pid, pidfd) != 0) {
        /* Untracked, it would never be reaped: better no jail at all. */
        pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        siginfo_t info;
        waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL);
        close(pidfd);
        reply_text("error", "the warm interpreter is out of memory");
        return;
    }
    reply("spawned", NULL, pid, pidfd);
}

/* Descriptors 0-2 on /dev/null: the interpreter's standard streams wrap
 * them, and each job's copy finds its own pipes there. */
static int quiet_stdio(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (dup2(fd, i) != i)
            return -1;
    }
    if (fd > 2)
        close(fd);
    return 0;
}

/* The interpreter, made in a jail's filesystem (view.h). */
static int prepare_warm(const struct warm_setup *setup, char *const *preload, char *version,
                        size_t version_len, char *err, size_t errlen)
{
    int host_ns;
    if (python_read_sources(preload, err, errlen) != 0 ||
        view_enter(setup->root, &setup->base, &host_ns, err, errlen) != 0)
        return -1;
    if (python_prepare(preload, version, version_len, err, errlen) != 0) {
        close(host_ns);
        return -1;
    }
    return view_leave(host_ns, err, errlen);
}

int main(int argc, char **argv)
{
    char version[128], err[512], word[16];
    int fds[WARM_SPAWN_FDS_MAX];
    size_t nfds;
    struct inits inits = {0};
    msgpack_unpacked msg;
    struct warm_setup setup;

    /* The one thing it does for a person at a shell; no module a worker
     * asks to preload is named "--version". */
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("brig-zygote %s\n", BRIG_VERSION);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    /* Dies with the worker, and so do its jails (their inits die with it). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() == 1)
        return 1;
    if (fcntl(WORKER_SOCKET_FD, F_SETFD, FD_CLOEXEC) != 0) {
        fprintf(stderr, "brig-zygote: descriptor 3 must be the worker's socket: %s\n",
                strerror(errno));
        return 2;
    }
    char *buf = malloc(WARM_MESSAGE_MAX);
    own_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (buf == NULL || own_netns < 0 || quiet_stdio() != 0)
        return 1;
    msgpack_unpacked_init(&msg);

    size_t len = next_message(buf, fds, &nfds);
    const char *what = msgpack_unpack_next(&msg, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS
                           ? warm_message_word(&msg.data, word, sizeof(word))
                           : NULL;
    if (what == NULL || strcmp(what, "hello") != 0) {
        reply_text("error", "the first message must be a hello");
        return 1;
    }
    bool warm = argv[1] == NULL || strcmp(argv[1], "--cold") != 0;
    if (!warm)
        snprintf(version, sizeof(version), "cold");
    if (warm_unpack_hello(&msg.data, &setup, err, sizeof(err)) != 0 ||
        (warm && prepare_warm(&setup, argv + 1, version, sizeof(version), err, sizeof(err)) != 0)) {
        reply_text("error", err);
        return 1;
    }
    reply_text("ready", version);

    for (;;) {
        len = next_message(buf, fds, &nfds);
        what = msgpack_unpack_next(&msg, buf, len, NULL) == MSGPACK_UNPACK_SUCCESS
                   ? warm_message_word(&msg.data, word, sizeof(word))
                   : NULL;
        long long pid;
        if (what != NULL && strcmp(what, "spawn") == 0) {
            spawn(&setup, warm, &msg.data, fds, nfds, &inits);
        } else if (what != NULL && strcmp(what, "reap") == 0 &&
                   warm_message_int(&msg.data, &pid) == 0) {
            inits_reap(&inits, (pid_t)pid);
        } else {
            reply_text("error", "unknown request");
        }
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
    }
}
