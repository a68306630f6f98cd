/* bench_jail_run: what a jail costs the process that runs it, without the
 * brig-jail program around it: jail_run() of /bin/true from one jail_context
 * made as the worker makes it (brig-zygote --cold clones the jails, a pool
 * keeps network namespaces ready; label jail_run) and from a plain one that
 * clones here and makes each namespace (jail_run_plain), against a bare
 * fork, execv and waitpid of /bin/true in the same process, interleaved,
 * after WARMUP_ROUNDS unmeasured rounds. Prints one summary row for each
 * (stats.h), then the CPU time one plain jail_run() costs on average, in this
 * process and in the jail it reaps:
 *
 *   cpu label=jail_run_plain self_us=S children_us=C
 *
 * Back to back, each jail finds the kernel warm from the previous one. A
 * worker at a moderate rate starts its jails after idle gaps, so N/5 more
 * jail_run() calls are timed after IDLE_PAUSE_MS of sleep each
 * (label jail_run_after_idle).
 *
 *   bench_jail_run [N]   (default 300) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "sandbox/self_path.h"
#include "tests/bench/stats.h"
#include "common/common.h"

#define WARMUP_ROUNDS 10
#define IDLE_PAUSE_MS 50

static const char *const true_argv[] = {"/bin/true", NULL};

static double cpu_us(int who)
{
    struct rusage usage;
    getrusage(who, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/* Microseconds, or -1 when the jail did not run /bin/true to success. */
static double time_jail_run(struct jail_context *ctx)
{
    static const char *const no_env[] = {NULL};
    struct jail_spec spec = {.argv = true_argv, .env = no_env};
    struct jail_outcome outcome;
    jail_limits_default(&spec.limits);

    uint64_t start = monotonic_ns();
    int rc = jail_run(ctx, &spec, &outcome);
    uint64_t end = monotonic_ns();
    bool ok = rc == 0 && outcome.status == BRIG_STATUS_OK;
    if (!ok)
        fprintf(stderr, "bench_jail_run: jail_run of /bin/true ended %s: %s\n",
                brig_status_name(outcome.status), outcome.message);
    jail_outcome_free(&outcome);
    return ok ? (double)(end - start) / 1000.0 : -1;
}

/* Microseconds, or -1 when /bin/true did not run to success. */
static double time_fork_exec(int devnull)
{
    uint64_t start = monotonic_ns();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_jail_run: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0)
            _exit(126);
        execv(true_argv[0], (char *const *)true_argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "bench_jail_run: waiting for /bin/true: %s\n", strerror(errno));
            return -1;
        }
    }
    uint64_t end = monotonic_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_jail_run: /bin/true ended with wait status %#x\n", status);
        return -1;
    }
    return (double)(end - start) / 1000.0;
}

int main(int argc, char **argv)
{
    char zygote[PATH_MAX];
    struct jail_context_config config = {.max_jails = 1, .spawner_path = zygote, .netns_pool = 1};
    struct jail_context_config plain_config = {.max_jails = 1};
    struct jail_context *ctx = NULL, *plain = NULL;
    struct samples jailed = {0}, jailed_plain = {0}, bare = {0}, after_idle = {0};
    char err[1024], *end;
    int rc = 1, devnull = -1;

    long rounds = argc > 1 ? strtol(argv[1], &end, 10) : 300;
    if (argc > 2 || (argc > 1 && *end != '\0') || rounds <= 0) {
        fprintf(stderr, "usage: bench_jail_run [N]\n");
        return 2;
    }
    /* build/helpers/bench_jail_run -> build/bin/brig-zygote */
    if (self_relative_path("../bin/brig-zygote", zygote, sizeof(zygote), err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_jail_run: %s\n", err);
        return 1;
    }
    if (jail_context_new(&config, &ctx, err, sizeof(err)) < 0 ||
        jail_context_new(&plain_config, &plain, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_jail_run: %s\n", err);
        goto out;
    }
    if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        fprintf(stderr, "bench_jail_run: opening /dev/null: %s\n", strerror(errno));
        goto out;
    }
    long idle_rounds = rounds / 5 > 0 ? rounds / 5 : 1;
    if (samples_init(&jailed, (size_t)rounds) < 0 || samples_init(&bare, (size_t)rounds) < 0 ||
        samples_init(&jailed_plain, (size_t)rounds) < 0 ||
        samples_init(&after_idle, (size_t)idle_rounds) < 0) {
        fprintf(stderr, "bench_jail_run: room for %ld samples: %s\n", rounds, strerror(errno));
        goto out;
    }
    double self_us = 0, children_us = 0;
    for (long round = -WARMUP_ROUNDS; round < rounds; round++) {
        double self_before = cpu_us(RUSAGE_SELF), children_before = cpu_us(RUSAGE_CHILDREN);
        double plain_us = time_jail_run(plain);
        double self_after = cpu_us(RUSAGE_SELF), children_after = cpu_us(RUSAGE_CHILDREN);
        double jail_us = plain_us < 0 ? -1 : time_jail_run(ctx);
        double bare_us = jail_us < 0 ? -1 : time_fork_exec(devnull);
        if (bare_us < 0)
            goto out;
        if (round >= 0) {
            samples_add(&jailed, jail_us);
            samples_add(&jailed_plain, plain_us);
            samples_add(&bare, bare_us);
            self_us += self_after - self_before;
            children_us += children_after - children_before;
        }
    }
    for (long round = 0; round < idle_rounds; round++) {
        usleep(IDLE_PAUSE_MS * 1000);
        double jail_us = time_jail_run(ctx);
        if (jail_us < 0)
            goto out;
        samples_add(&after_idle, jail_us);
    }
    samples_print_row(&jailed, "jail_run");
    samples_print_row(&jailed_plain, "jail_run_plain");
    samples_print_row(&bare, "fork_exec");
    samples_print_row(&after_idle, "jail_run_after_idle");
    printf("cpu label=jail_run_plain self_us=%.1f children_us=%.1f\n", self_us / (double)rounds,
           children_us / (double)rounds);
    rc = 0;
out:
    samples_free(&jailed);
    samples_free(&jailed_plain);
    samples_free(&bare);
    samples_free(&after_idle);
    if (devnull >= 0)
        close(devnull);
    jail_context_free(ctx);
    jail_context_free(plain);
    return rc;
}
