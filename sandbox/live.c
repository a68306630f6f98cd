/* Live jails (live.h): jail_run's steps (jail.c), with the supervision left
 * to the caller. */
#include "sandbox/live.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "sandbox/fd.h"
#include "sandbox/jail_host.h"
#include "common/common.h"

struct jail_live {
    struct jail_run run;
    struct jail_spec spec; /* the run points here: the caller's may go */
};

int jail_live_start(struct jail_context *ctx, const struct jail_spec *spec, struct jail_live **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    struct jail_live *live = calloc(1, sizeof(*live));
    if (live == NULL) {
        snprintf(err, errlen, "allocating a live jail: %s", strerror(errno));
        return -1;
    }
    live->spec = *spec;
    /* The program reads nothing on stdin, and supervise() is not there to
     * write it or to call on_output. */
    live->spec.stdin_data = NULL;
    live->spec.stdin_len = 0;
    live->spec.on_output = NULL;
    live->spec.cancel_fd = 0;
    sigset_t saved_mask;
    block_sigpipe(&saved_mask);
    jail_run_init(&live->run, ctx, &live->spec, true);
    int rc = jail_run_start(&live->run, err, errlen);
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    if (rc != 0) {
        jail_run_release(&live->run);
        free(live);
        return -1;
    }
    close_fd(&live->run.stdin_pipe[1]);
    *out = live;
    return 0;
}

void jail_live_fds(const struct jail_live *live, struct jail_live_fds *fds)
{
    *fds = (struct jail_live_fds){
        .out = live->run.stdout_pipe[0],
        .err = live->run.stderr_pipe[0],
        .from_program = live->run.channel_out[0],
        .to_program = live->run.channel_in[1],
        .ended = live->run.pidfd,
    };
}

int jail_live_interrupt(struct jail_live *live, char *err, size_t errlen)
{
    if (pidfd_send_signal(live->run.pidfd, SIGINT, NULL, 0) != 0) {
        snprintf(err, errlen, "interrupting the jail's program: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int jail_live_usage(struct jail_live *live, struct jail_live_usage *usage)
{
    struct cgroup_usage now;
    if (jail_cgroup_usage(live->run.cgroup, &now) != 0)
        return -1;
    *usage = (struct jail_live_usage){
        .cpu_us = now.cpu_us,
        .peak_memory_bytes = now.peak_memory_bytes,
        .oom_killed = now.oom_killed,
    };
    return 0;
}

/* Init's report of the program's end, when it wrote one. */
static void read_report(struct jail_live *live, struct jail_supervisor *sup)
{
    struct jail_report report;
    ssize_t n;
    while ((n = read(live->run.report_pipe[0], &report, sizeof(report))) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(report))
        return;
    report.step[sizeof(report.step) - 1] = '\0';
    sup->report = report;
    sup->have_report = true;
}

int jail_live_stop(struct jail_live *live, struct jail_outcome *out)
{
    memset(out, 0, sizeof(*out));
    struct jail_run *run = &live->run;
    struct jail_supervisor sup = {
        .ctx = run->ctx,
        .spec = &live->spec,
        .cgroup = run->cgroup,
        .pidfd = run->pidfd,
        .started_ns = run->started_ns,
    };
    struct pollfd gone = {run->pidfd, POLLIN, 0};
    bool running = poll(&gone, 1, 0) == 0;
    read_report(live, &sup);
    /* Gone or not, init is reaped (by its server when it has one). */
    jail_run_kill(run);
    sup.ended_ns = monotonic_ns();
    if (!sup.have_report)
        read_report(live, &sup);
    if (running && !sup.have_report)
        sup.kill_reason = BRIG_STATUS_INTERNAL_ERROR;
    jail_run_finish(run, &sup, 0, "", out);
    jail_run_release(run);
    free(live);
    return out->status == BRIG_STATUS_INTERNAL_ERROR && !out->cancelled ? -1 : 0;
}
