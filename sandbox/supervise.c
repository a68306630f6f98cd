/* The host side of a running jail: one poll loop over the job's stdin,
 * stdout and stderr, init's report pipe and init's pidfd, that also enforces
 * the wall-clock, CPU-time and output limits by killing init (the kernel then
 * kills everything in its pid namespace).
 *
 * CPU time is the cgroup's, read adaptively: the tree can burn at most
 * min(CPUs, quota) seconds of CPU per second, so the limit cannot be reached
 * before remaining / that rate has passed, and the loop sleeps that long
 * instead of polling every few milliseconds. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"
#include "common/common.h"

#define NS_PER_MS 1000000ull

/* After init is gone its namespace is empty and the pipes are at end of
 * file; should one stay open anyway, the cgroup is killed, then it is dropped. */
#define DRAIN_GRACE_NS (2000 * NS_PER_MS)

void block_sigpipe(sigset_t *saved)
{
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, saved);
}

void consume_sigpipe(void)
{
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0});
}

struct stream {
    int fd;
    enum jail_stream which;
    struct jail_capture *capture;
    size_t capacity;
};

struct loop {
    struct jail_supervisor *sup;
    const struct jail_limits *limits;
    struct stream streams[2];
    uint64_t output_seen; /* bytes read from both streams */
    size_t stdin_done;
    bool init_gone;
    uint64_t wall_deadline_ns;
    uint64_t next_cpu_check_ns;
    uint64_t drain_deadline_ns;
    bool cgroup_killed;
};

static void stop_jail(struct loop *loop, brig_status reason)
{
    struct jail_supervisor *sup = loop->sup;
    /* The job's own end wins: a job that has ended is not stopped for a limit. */
    if (sup->kill_reason != BRIG_STATUS_OK || sup->have_report || loop->init_gone)
        return;
    sup->kill_reason = reason;
    pidfd_send_signal(sup->pidfd, SIGKILL, NULL, 0);
}

/* How long the tree needs at the least to burn the CPU time it has left. */
static uint64_t cpu_check_delay_ns(const struct loop *loop, uint64_t used_us)
{
    uint64_t limit_us = loop->limits->cpu_ms * 1000;
    uint64_t remaining_us = used_us < limit_us ? limit_us - used_us : 0;
    uint64_t rate_millis = (uint64_t)loop->sup->ctx->ncpus * 1000;
    if (loop->limits->cpu_millis != 0 && loop->limits->cpu_millis < rate_millis)
        rate_millis = loop->limits->cpu_millis;
    uint64_t delay_us = remaining_us * 1000 / rate_millis;
    return (delay_us < 1000 ? 1000 : delay_us) * 1000;
}

static void check_limits(struct loop *loop, uint64_t now)
{
    if (now >= loop->wall_deadline_ns) {
        stop_jail(loop, BRIG_STATUS_TIMEOUT);
        return;
    }
    if (now < loop->next_cpu_check_ns)
        return;
    struct cgroup_usage usage;
    if (jail_cgroup_usage(loop->sup->cgroup, &usage) != 0) {
        /* Unreadable for now: the RLIMIT_CPU backstop still holds; try again soon. */
        loop->next_cpu_check_ns = now + 10 * NS_PER_MS;
        return;
    }
    if (usage.cpu_us >= loop->limits->cpu_ms * 1000)
        stop_jail(loop, BRIG_STATUS_CPU_TIMEOUT);
    else
        loop->next_cpu_check_ns = now + cpu_check_delay_ns(loop, usage.cpu_us);
}

static int keep_output(struct loop *loop, struct stream *stream, const char *data, size_t len,
                       char *err, size_t errlen)
{
    uint64_t budget = loop->limits->output_bytes;
    uint64_t kept_before = loop->output_seen < budget ? loop->output_seen : budget;
    loop->output_seen += len;
    size_t keep = budget - kept_before < len ? (size_t)(budget - kept_before) : len;
    struct jail_capture *capture = stream->capture;
    if (keep < len)
        capture->truncated = true;
    if (keep > 0) {
        size_t needed = capture->len + keep + 1;
        if (needed > stream->capacity) {
            size_t capacity = stream->capacity ? stream->capacity * 2 : 4096;
            if (capacity < needed)
                capacity = needed;
            if (capacity > budget + 1)
                capacity = (size_t)budget + 1; /* never less than needed */
            char *grown = realloc(capture->data, capacity);
            if (grown == NULL) {
                snprintf(err, errlen, "allocating %zu bytes for the job's output: %s", capacity,
                         strerror(errno));
                return -1;
            }
            capture->data = grown;
            stream->capacity = capacity;
        }
        memcpy(capture->data + capture->len, data, keep);
        capture->len += keep;
        capture->data[capture->len] = '\0';
    }
    if (loop->output_seen > budget)
        stop_jail(loop, BRIG_STATUS_OUTPUT_LIMIT);
    return 0;
}

static int read_stream(struct loop *loop, struct stream *stream, char *err, size_t errlen)
{
    char buf[65536];
    ssize_t n = read(stream->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        close_fd(&stream->fd);
        return 0;
    }
    const struct jail_spec *spec = loop->sup->spec;
    if (spec->on_output != NULL)
        spec->on_output(spec->output_ctx, stream->which, buf, (size_t)n);
    return keep_output(loop, stream, buf, (size_t)n, err, errlen);
}

static void read_report(struct loop *loop)
{
    struct jail_supervisor *sup = loop->sup;
    struct jail_report report;
    ssize_t n = read(sup->report_fd, &report, sizeof(report));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n != (ssize_t)sizeof(report)) {
        close_fd(&sup->report_fd);
        return;
    }
    report.step[sizeof(report.step) - 1] = '\0';
    /* The first setup failure is the story; the job's end only counts without one. */
    if (sup->have_report && sup->report.kind == REPORT_SETUP_FAILED)
        return;
    sup->report = report;
    sup->have_report = true;
    if (report.kind == REPORT_JOB_ENDED)
        sup->ended_ns = monotonic_ns();
}

static void write_stdin(struct loop *loop)
{
    struct jail_supervisor *sup = loop->sup;
    const struct jail_spec *spec = sup->spec;
    while (loop->stdin_done < spec->stdin_len) {
        ssize_t n = write(sup->stdin_fd, (const char *)spec->stdin_data + loop->stdin_done,
                          spec->stdin_len - loop->stdin_done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) {
            if (errno == EPIPE) /* the job closed its stdin */
                consume_sigpipe();
            break;
        }
        loop->stdin_done += (size_t)n;
    }
    close_fd(&sup->stdin_fd);
}

static void reap_init(struct loop *loop)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    while (waitid(P_PIDFD, (id_t)loop->sup->pidfd, &info, WEXITED | __WALL) != 0 && errno == EINTR)
        ;
    uint64_t now = monotonic_ns();
    loop->init_gone = true;
    if (loop->sup->ended_ns == 0)
        loop->sup->ended_ns = now;
    loop->drain_deadline_ns = now + DRAIN_GRACE_NS;
}

static bool loop_done(const struct loop *loop)
{
    const struct jail_supervisor *sup = loop->sup;
    return loop->init_gone && loop->streams[0].fd < 0 && loop->streams[1].fd < 0 &&
           sup->report_fd < 0;
}

/* After init: kill the cgroup once if a pipe lingers, then stop waiting. */
static bool drain_expired(struct loop *loop, uint64_t now)
{
    if (now < loop->drain_deadline_ns)
        return false;
    if (loop->cgroup_killed)
        return true;
    char ignored[256]; /* jail_run kills the cgroup again, and reports */
    jail_cgroup_kill(loop->sup->cgroup, ignored, sizeof(ignored));
    loop->cgroup_killed = true;
    loop->drain_deadline_ns = now + DRAIN_GRACE_NS;
    return false;
}

static int poll_timeout_ms(const struct loop *loop, uint64_t now)
{
    uint64_t deadline;
    if (loop->init_gone) {
        deadline = loop->drain_deadline_ns;
    } else if (loop->sup->have_report || loop->sup->kill_reason != BRIG_STATUS_OK) {
        return -1; /* init is on its way out; its pidfd will tell */
    } else {
        deadline = loop->wall_deadline_ns < loop->next_cpu_check_ns ? loop->wall_deadline_ns
                                                                    : loop->next_cpu_check_ns;
    }
    if (deadline <= now)
        return 0;
    uint64_t ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > 60000 ? 60000 : (int)ms;
}

int supervise(struct jail_supervisor *sup, struct jail_outcome *out, char *err, size_t errlen)
{
    struct loop loop = {
        .sup = sup,
        .limits = &sup->spec->limits,
        .streams = {{sup->stdout_fd, JAIL_STDOUT, &out->out, 0},
                    {sup->stderr_fd, JAIL_STDERR, &out->err, 0}},
    };
    sup->kill_reason = BRIG_STATUS_OK;
    loop.wall_deadline_ns = sup->started_ns + loop.limits->wall_ms * NS_PER_MS;
    loop.next_cpu_check_ns = sup->started_ns + cpu_check_delay_ns(&loop, 0);
    sup->stdout_fd = sup->stderr_fd = -1; /* the loop owns them now */

    int rc = 0;
    write_stdin(&loop);
    while (rc == 0 && !loop_done(&loop)) {
        uint64_t now = monotonic_ns();
        if (!loop.init_gone)
            check_limits(&loop, now);
        else if (drain_expired(&loop, now)) {
            snprintf(err, errlen, "the jail's output stayed open after its processes were gone");
            rc = -1;
            break;
        }

        enum { OUT, ERR, REPORT, INIT, IN, CANCEL, NFDS };
        struct pollfd fds[NFDS] = {
            [OUT] = {loop.streams[0].fd, POLLIN, 0},
            [ERR] = {loop.streams[1].fd, POLLIN, 0},
            [REPORT] = {sup->report_fd, POLLIN, 0},
            [INIT] = {loop.init_gone ? -1 : sup->pidfd, POLLIN, 0},
            [IN] = {sup->stdin_fd, POLLOUT, 0},
            [CANCEL] = {loop.init_gone || sup->spec->cancel_fd <= 0 ? -1 : sup->spec->cancel_fd,
                        POLLIN, 0},
        };
        int ready = poll(fds, NFDS, poll_timeout_ms(&loop, now));
        if (ready < 0 && errno != EINTR) {
            snprintf(err, errlen, "polling the jail: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (ready <= 0)
            continue;
        for (int i = 0; i < 2 && rc == 0; i++) {
            if (fds[OUT + i].revents != 0)
                rc = read_stream(&loop, &loop.streams[i], err, errlen);
        }
        if (fds[REPORT].revents != 0)
            read_report(&loop);
        if (fds[IN].revents != 0)
            write_stdin(&loop);
        if (fds[INIT].revents != 0)
            reap_init(&loop);
        if (fds[CANCEL].revents != 0)
            stop_jail(&loop, BRIG_STATUS_INTERNAL_ERROR);
    }

    if (rc != 0 && !loop.init_gone) {
        pidfd_send_signal(sup->pidfd, SIGKILL, NULL, 0);
        reap_init(&loop);
    }
    close_fd(&loop.streams[0].fd);
    close_fd(&loop.streams[1].fd);
    close_fd(&sup->stdin_fd);
    close_fd(&sup->report_fd);
    return rc;
}
