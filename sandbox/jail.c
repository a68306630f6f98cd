/* jail_run: one program, one jail, one outcome.
 *
 * This thread prepares everything the jailed child will need (it may only
 * make system calls once cloned), clones it into new namespaces, writes its
 * id maps while it waits, makes the jail's cgroup while the child builds its
 * filesystem, moves the child into the cgroup once it is built, lets the job
 * start and supervises until the jail is gone. The child's side of the same
 * story is init.c:
 *
 *   1. namespaces   clone3: user, pid, mount, network, IPC, UTS (cgroup
 *                   namespace once inside the cgroup); uid/gid maps from here
 *   2. filesystem   mnt.c, from plans made here and in the context
 *   3. network      net.c, loopback up; then spec.on_network from here
 *   4. limits       the cgroup from here, rlimits in the job
 *   5. privileges   privs.c, in the job
 *   6. seccomp      in the job, last before execve
 *   7. supervision  supervise.c here, init.c inside; then teardown here
 *
 * The setup runs outside the cgroup and before the clock starts: wall_us,
 * cpu_us and the limits are the job's own.
 *
 * An execve that fails is the job's problem, as in a shell: exit code 127
 * (not found) or 126, with a line on its stderr, status "failed". */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"
#include "common/common.h"

static void close_pipe(int pipe[2])
{
    close_fd(&pipe[0]);
    close_fd(&pipe[1]);
}

static int check_spec(const struct jail_context *ctx, const struct jail_spec *spec, char *msg,
                      size_t len)
{
    if (ctx == NULL || spec == NULL) {
        snprintf(msg, len, "jail_run needs a context and a spec");
        return -1;
    }
    if (spec->argv == NULL || spec->argv[0] == NULL) {
        snprintf(msg, len, "spec.argv is empty");
        return -1;
    }
    if (spec->workspace != NULL && spec->workdir != NULL) {
        snprintf(msg, len, "spec.workspace and spec.workdir cannot both be set");
        return -1;
    }
    if (spec->workdir != NULL && spec->workdir[0] != '/') {
        snprintf(msg, len, "spec.workdir \"%s\" must be an absolute path", spec->workdir);
        return -1;
    }
    if (spec->stdin_len > 0 && spec->stdin_data == NULL) {
        snprintf(msg, len, "spec.stdin_data is NULL but stdin_len is %zu", spec->stdin_len);
        return -1;
    }
    if (spec->image != NULL && (spec->warm != NULL || jail_image_context(spec->image) != ctx)) {
        snprintf(msg, len,
                 "spec.image belongs to another jail context, or comes with a warm "
                 "server (whose interpreter is the host's)");
        return -1;
    }
    if (spec->n_binds > 0 && spec->binds == NULL) {
        snprintf(msg, len, "spec.binds is NULL but n_binds is %zu", spec->n_binds);
        return -1;
    }
    return limits_check(&spec->limits, msg, len);
}

/* The workspace's uid, or one of the pool for the jail's lifetime. */
static int pick_uid(struct jail_run *run, char *msg, size_t len)
{
    if (run->spec->workspace != NULL) {
        run->uid = workspace_uid(run->spec->workspace);
        if (!uid_pool_owns(&run->ctx->uids, run->uid)) {
            snprintf(msg, len, "spec.workspace belongs to another jail context");
            return -1;
        }
        return 0;
    }
    if (uid_pool_get(&run->ctx->uids, &run->uid) != 0) {
        snprintf(msg, len, "all %zu host uids of this jail context are in use",
                 run->ctx->uids.size);
        return -1;
    }
    run->uid_from_pool = true;
    return 0;
}

static int prepare_child(struct jail_run *run, char *msg, size_t len)
{
    const struct jail_spec *spec = run->spec;
    const char *work = spec->workspace ? workspace_path(spec->workspace) : spec->workdir;
    if (mnt_plan_job(&run->job_plan, run->ctx->root_dir, &spec->limits, work, spec->binds,
                     spec->n_binds, msg, len) != 0)
        return -1;
    if ((run->envp = privs_build_env((const char *const *)run->ctx->env, spec->env, msg, len)) ==
        NULL)
        return -1;
    if ((run->exec_candidates = privs_exec_candidates(spec->argv[0], run->envp, msg, len)) == NULL)
        return -1;
    struct jail_child *child = &run->child;
    child->root = run->ctx->root_dir;
    child->base = spec->image ? jail_image_plan(spec->image) : &run->ctx->base_plan;
    child->own_base = spec->image != NULL;
    child->job = &run->job_plan;
    child->argv = (char *const *)spec->argv;
    child->envp = run->envp;
    child->exec_candidates = run->exec_candidates;
    limits_to_rlimits(&spec->limits, child->rlimits);
    child->cap_last_cap = run->ctx->cap_last_cap;
    child->seccomp = run->ctx->seccomp;
    return 0;
}

static int open_pipes(struct jail_run *run, char *msg, size_t len)
{
    int *pipes[] = {run->stdin_pipe,  run->stdout_pipe, run->stderr_pipe, run->go_pipe,
                    run->report_pipe, run->channel_in,  run->channel_out};
    size_t count = run->live ? ARRAY_SIZE(pipes) : ARRAY_SIZE(pipes) - 2;
    for (size_t i = 0; i < count; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) != 0) {
            snprintf(msg, len, "creating the jail's pipes: %s", strerror(errno));
            return -1;
        }
    }
    /* The job reopens its stdio by name (/dev/stdout is /proc/self/fd/1),
     * and the kernel then checks the pipe's inode: pipe2 made it this
     * process's, mode 0600, out of the jail user's reach. Opened to others
     * in the direction the job holds, and no more, those opens work while
     * the job still cannot write into its stdin or read its output back,
     * and, owning nothing, cannot change the mode; chowning the pipes to the
     * jail's uid would have given it all three. Nobody else gets at them:
     * /proc/<pid>/fd of a jail's process or of this one needs ptrace rights
     * over it. */
    if (fchmod(run->stdin_pipe[0], S_IRUSR | S_IWUSR | S_IROTH) != 0 ||
        fchmod(run->stdout_pipe[0], S_IRUSR | S_IWUSR | S_IWOTH) != 0 ||
        fchmod(run->stderr_pipe[0], S_IRUSR | S_IWUSR | S_IWOTH) != 0) {
        snprintf(msg, len, "opening the job's stdio pipes to the jail user: %s", strerror(errno));
        return -1;
    }
    /* The supervisor's ends never block; the child's are plain. */
    int parent_ends[] = {run->stdin_pipe[1],  run->stdout_pipe[0], run->stderr_pipe[0],
                         run->report_pipe[0], run->channel_in[1],  run->channel_out[0]};
    for (size_t i = 0; i < (run->live ? ARRAY_SIZE(parent_ends) : ARRAY_SIZE(parent_ends) - 2);
         i++) {
        if (fcntl(parent_ends[i], F_SETFL, O_NONBLOCK) != 0) {
            snprintf(msg, len, "making the jail's pipes non-blocking: %s", strerror(errno));
            return -1;
        }
    }
    struct jail_child *child = &run->child;
    child->stdio[0] = run->stdin_pipe[0];
    child->stdio[1] = run->stdout_pipe[1];
    child->stdio[2] = run->stderr_pipe[1];
    child->go_fd = run->go_pipe[0];
    child->report_fd = run->report_pipe[1];
    child->live = run->live;
    child->channel_in = run->channel_in[0];
    child->channel_out = run->channel_out[1];
    return 0;
}

/* Jails started by this process, for their cgroups' names. */
static atomic_uint jails_started;

static int create_cgroup(struct jail_run *run, char *msg, size_t len)
{
    /* Named after this process by pid and start time, and numbered across
     * its contexts: unique on the host for its uptime, even when a pid comes
     * back, and jail_reclaim can tell whose it is. */
    char owner[48], name[64];
    owner_format(&run->ctx->owner, owner, sizeof(owner));
    snprintf(name, sizeof(name), "%s-%u", owner, atomic_fetch_add(&jails_started, 1));
    /* One more pid than the job's: init, which is brig's, not the job's. */
    struct jail_limits limits = run->spec->limits;
    limits.pids += 1;
    return jail_cgroup_create(run->ctx->cgroups, name, &limits, &run->cgroup, msg, len);
}

static long clone_here(struct jail_run *run, char *msg, size_t len)
{
    /* No exit signal: init is reaped through its pidfd alone, and a worker
     * that waits for any child of its own never sees it. */
    struct clone_args args = {
        .flags = JAIL_CLONE_FLAGS | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)&run->pidfd,
        .exit_signal = 0,
    };
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0)
        jail_init_main(&run->child);
    if (pid < 0)
        snprintf(msg, len, "cloning the jail's init into new namespaces: %s", strerror(errno));
    return pid;
}

static int clone_init(struct jail_run *run, char *msg, size_t len)
{
    long pid = -1;
    enum server_spawn_result spawned = SERVER_GONE;
    if (run->server != NULL) {
        pid_t server_pid;
        /* The server clones init into it; this process keeps no copy. */
        int netns = netns_pool_take(run->ctx->netns);
        spawned = server_spawn(run->server, &run->child, netns, &server_pid, &run->pidfd,
                               &run->server_generation, msg, len);
        if (netns >= 0)
            close(netns);
        if (spawned == SERVER_REFUSED)
            return -1;
        pid = server_pid;
    }
    /* Without a server, or when it is gone: cloned here. */
    if (spawned == SERVER_GONE && (pid = clone_here(run, msg, len)) < 0)
        return -1;
    run->init_pid = (pid_t)pid;
    run->init_is_remote = spawned == SERVER_SPAWNED;
    /* Only the child holds its ends now, so that end of file means it is gone. */
    close_fd(&run->stdin_pipe[0]);
    close_fd(&run->stdout_pipe[1]);
    close_fd(&run->stderr_pipe[1]);
    close_fd(&run->go_pipe[0]);
    close_fd(&run->report_pipe[1]);
    close_fd(&run->channel_in[0]);
    close_fd(&run->channel_out[1]);
    return 0;
}

#define SETUP_TIMEOUT_NS (30 * 1000000000ull)

/* Lets the child past its next wait. */
static int release_child(struct jail_run *run, char *msg, size_t len)
{
    if (write(run->go_pipe[1], "g", 1) != 1) {
        int saved = errno;
        if (saved == EPIPE)
            consume_sigpipe();
        snprintf(msg, len, "signalling the jail's init: %s", strerror(saved));
        return -1;
    }
    return 0;
}

/* Until init reports its jail built, or what failed. */
static int await_ready(struct jail_run *run, char *msg, size_t len)
{
    const char *ended = "the jail's init ended during setup";
    uint64_t deadline = monotonic_ns() + SETUP_TIMEOUT_NS;
    for (;;) {
        struct pollfd fds[2] = {{run->report_pipe[0], POLLIN, 0}, {run->pidfd, POLLIN, 0}};
        uint64_t now = monotonic_ns();
        int ready = now < deadline ? poll(fds, 2, (int)((deadline - now) / 1000000 + 1)) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            snprintf(msg, len, "waiting for the jail's setup: %s", strerror(errno));
            return -1;
        }
        if (ready == 0) {
            snprintf(msg, len, "the jail's setup took longer than %llu s",
                     SETUP_TIMEOUT_NS / 1000000000ull);
            return -1;
        }
        if (fds[0].revents != 0) {
            struct jail_report report;
            ssize_t n = read(run->report_pipe[0], &report, sizeof(report));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n == (ssize_t)sizeof(report) && report.kind == REPORT_READY)
                return 0;
            report.step[sizeof(report.step) - 1] = '\0';
            if (n == (ssize_t)sizeof(report) && report.kind == REPORT_SETUP_FAILED)
                snprintf(msg, len, "%s: %s", report.step, strerror(report.err));
            else
                snprintf(msg, len, "%s", ended);
            return -1;
        }
        snprintf(msg, len, "%s", ended);
        return -1;
    }
}

/* The spec's hook, while init waits with its namespaces built and loopback
 * up. init is not reaped before jail_run ends, so its pid still names it. */
static int run_network_hook(struct jail_run *run, char *msg, size_t len)
{
    if (run->spec->on_network == NULL)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)run->init_pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, len, "opening the jail's network namespace %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = run->spec->on_network(run->spec->network_ctx, fd);
    close(fd);
    if (rc != 0) {
        snprintf(msg, len, "the jail's network hook (spec.on_network) failed");
        return -1;
    }
    return 0;
}

void jail_run_kill(struct jail_run *run)
{
    siginfo_t info;
    pidfd_send_signal(run->pidfd, SIGKILL, NULL, 0);
    if (run->init_is_remote) {
        struct pollfd gone = {run->pidfd, POLLIN, 0};
        while (poll(&gone, 1, -1) < 0 && errno == EINTR)
            ;
        return;
    }
    while (waitid(P_PIDFD, (id_t)run->pidfd, &info, WEXITED | __WALL) != 0 && errno == EINTR)
        ;
}

/* Kills whatever is left, measures, removes; the cgroup must end up empty. */
static int finish_cgroup(struct jail_run *run, struct cgroup_usage *usage, char *msg, size_t len)
{
    if (jail_cgroup_kill(run->cgroup, msg, len) != 0)
        return -1;
    if (!jail_cgroup_empty(run->cgroup)) {
        snprintf(msg, len, "processes of the jail survived being killed");
        return -1;
    }
    if (jail_cgroup_usage(run->cgroup, usage) != 0) {
        snprintf(msg, len, "reading the jail's cgroup accounting failed");
        return -1;
    }
    struct jail_cgroup *cgroup = run->cgroup;
    run->cgroup = NULL;
    return jail_cgroup_destroy(cgroup, msg, len);
}

static void classify(const struct jail_supervisor *sup, const struct cgroup_usage *usage,
                     const struct jail_limits *limits, struct jail_outcome *out)
{
    const struct jail_report *report = &sup->report;
    if (sup->have_report && report->kind == REPORT_SETUP_FAILED) {
        out->status = BRIG_STATUS_SETUP_ERROR;
        snprintf(out->message, sizeof(out->message), "%s: %s", report->step, strerror(report->err));
        return;
    }
    if (sup->kill_reason != BRIG_STATUS_OK) {
        out->status = sup->kill_reason;
        out->signal = SIGKILL;
        if (sup->kill_reason == BRIG_STATUS_INTERNAL_ERROR) {
            out->cancelled = true;
            snprintf(out->message, sizeof(out->message), "stopped by its supervisor");
        }
        return;
    }
    if (!sup->have_report) {
        /* The OOM killer may pick init when the job is small. */
        out->status = usage->oom_killed ? BRIG_STATUS_OOM : BRIG_STATUS_INTERNAL_ERROR;
        out->signal = SIGKILL;
        if (!usage->oom_killed)
            snprintf(out->message, sizeof(out->message),
                     "the jail's init ended without reporting on the job");
        return;
    }
    int status = report->wait_status;
    bool signaled = WIFSIGNALED(status);
    if (signaled)
        out->signal = WTERMSIG(status);
    else
        out->exit_code = WEXITSTATUS(status);
    /* An OOM kill anywhere in the tree explains any failure of the job. */
    if (usage->oom_killed && (signaled || out->exit_code != 0)) {
        out->status = BRIG_STATUS_OOM;
    } else if (signaled && out->signal == SIGSYS && !report->sigsys_sent) {
        out->status = BRIG_STATUS_SECCOMP;
        const char *name =
            report->refused_nr >= 0 ? seccomp_syscall_name(report->refused_nr) : NULL;
        snprintf(out->syscall, sizeof(out->syscall), "%s", name ? name : "");
    } else if (signaled && (out->signal == SIGXCPU || out->signal == SIGKILL) &&
               usage->cpu_us >= limits->cpu_ms * 1000) {
        out->status = BRIG_STATUS_CPU_TIMEOUT; /* the RLIMIT_CPU backstop */
    } else if (signaled) {
        out->status = BRIG_STATUS_SIGNALED;
    } else {
        out->status = out->exit_code == 0 ? BRIG_STATUS_OK : BRIG_STATUS_FAILED;
    }
}

static void fail_outcome(struct jail_outcome *out, brig_status status, const char *msg)
{
    out->status = status;
    snprintf(out->message, sizeof(out->message), "%s", msg);
}

/* The captures are strings even when nothing was captured. */
static void terminate_captures(struct jail_outcome *out)
{
    struct jail_capture *captures[] = {&out->out, &out->err};
    for (size_t i = 0; i < 2; i++) {
        if (captures[i]->data == NULL)
            captures[i]->data = calloc(1, 1);
    }
}

void jail_run_release(struct jail_run *run)
{
    char ignored[256];
    if (run->cgroup != NULL)
        jail_cgroup_destroy(run->cgroup, ignored, sizeof(ignored));
    if (run->init_is_remote)
        server_release(run->server, run->init_pid, run->server_generation);
    close_fd(&run->pidfd);
    close_pipe(run->stdin_pipe);
    close_pipe(run->stdout_pipe);
    close_pipe(run->stderr_pipe);
    close_pipe(run->go_pipe);
    close_pipe(run->report_pipe);
    close_pipe(run->channel_in);
    close_pipe(run->channel_out);
    mnt_plan_free(&run->job_plan);
    free(run->envp);
    free(run->exec_candidates);
    if (run->uid_from_pool)
        uid_pool_put(&run->ctx->uids, run->uid);
}

void jail_run_init(struct jail_run *run, struct jail_context *ctx, const struct jail_spec *spec,
                   bool live)
{
    *run = (struct jail_run){
        .ctx = ctx,
        .spec = spec,
        .live = live,
        .server = spec != NULL && spec->warm != NULL ? spec->warm
                  : ctx                              ? ctx->spawner
                                                     : NULL,
        .stdin_pipe = {-1, -1},
        .stdout_pipe = {-1, -1},
        .stderr_pipe = {-1, -1},
        .go_pipe = {-1, -1},
        .report_pipe = {-1, -1},
        .channel_in = {-1, -1},
        .channel_out = {-1, -1},
        .pidfd = -1,
    };
}

int jail_run_start(struct jail_run *run, char *msg, size_t len)
{
    if (check_spec(run->ctx, run->spec, msg, len) != 0 || pick_uid(run, msg, len) != 0 ||
        prepare_child(run, msg, len) != 0 || open_pipes(run, msg, len) != 0 ||
        clone_init(run, msg, len) != 0)
        return -1;
    /* The cgroup is made while the child builds its filesystem. */
    if (user_write_id_maps(run->init_pid, run->uid, msg, len) != 0 ||
        release_child(run, msg, len) != 0 || create_cgroup(run, msg, len) != 0 ||
        await_ready(run, msg, len) != 0 || run_network_hook(run, msg, len) != 0 ||
        jail_cgroup_attach(run->cgroup, run->init_pid, msg, len) != 0) {
        jail_run_kill(run);
        return -1;
    }
    run->started_ns = monotonic_ns();
    if (release_child(run, msg, len) != 0) {
        jail_run_kill(run);
        return -1;
    }
    close_fd(&run->go_pipe[1]);
    return 0;
}

void jail_run_finish(struct jail_run *run, const struct jail_supervisor *sup, int supervised,
                     const char *msg, struct jail_outcome *out)
{
    out->wall_us = (sup->ended_ns - sup->started_ns) / 1000;
    struct cgroup_usage usage = {0};
    char cgroup_msg[256];
    int finished = finish_cgroup(run, &usage, cgroup_msg, sizeof(cgroup_msg));
    out->cpu_us = usage.cpu_us;
    out->peak_memory_bytes = usage.peak_memory_bytes;
    if (supervised != 0)
        fail_outcome(out, BRIG_STATUS_INTERNAL_ERROR, msg);
    else if (finished != 0)
        fail_outcome(out, BRIG_STATUS_INTERNAL_ERROR, cgroup_msg);
    else
        classify(sup, &usage, &run->spec->limits, out);
}

int jail_run(struct jail_context *ctx, const struct jail_spec *spec, struct jail_outcome *out)
{
    struct jail_run run;
    char msg[256] = "";
    memset(out, 0, sizeof(*out));
    sigset_t saved_mask;
    block_sigpipe(&saved_mask);

    jail_run_init(&run, ctx, spec, false);
    if (jail_run_start(&run, msg, sizeof(msg)) != 0) {
        fail_outcome(out, BRIG_STATUS_SETUP_ERROR, msg);
    } else {
        struct jail_supervisor sup = {
            .ctx = ctx,
            .spec = spec,
            .cgroup = run.cgroup,
            .pidfd = run.pidfd,
            .stdin_fd = run.stdin_pipe[1],
            .stdout_fd = run.stdout_pipe[0],
            .stderr_fd = run.stderr_pipe[0],
            .report_fd = run.report_pipe[0],
            .started_ns = run.started_ns,
        };
        /* supervise() closes these. */
        run.stdin_pipe[1] = run.stdout_pipe[0] = run.stderr_pipe[0] = run.report_pipe[0] = -1;
        int supervised = supervise(&sup, out, msg, sizeof(msg));
        jail_run_finish(&run, &sup, supervised, msg, out);
    }
    jail_run_release(&run);
    terminate_captures(out);
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    return out->status == BRIG_STATUS_SETUP_ERROR || out->status == BRIG_STATUS_INTERNAL_ERROR ? -1
                                                                                               : 0;
}

void jail_outcome_free(struct jail_outcome *outcome)
{
    if (outcome == NULL)
        return;
    free(outcome->out.data);
    free(outcome->err.data);
    outcome->out = (struct jail_capture){0};
    outcome->err = (struct jail_capture){0};
}
