/* bench_warm: cold against warm starts of Python jobs, in process, as the
 * worker runs them: jail_run() of `python3 -c CODE` from one jail_context,
 * with and without a warm interpreter (brig-zygote) that preloaded numpy and
 * pandas, interleaved, after WARMUP_ROUNDS unmeasured rounds of each. Every
 * layer of the jail is on in both. Prints a summary row (stats.h) for each:
 *
 *   cold_import, warm_import   import numpy, pandas; print(1)   N rounds
 *   cold_print,  warm_print    print(1)                          4 N rounds
 *
 *   bench_warm BRIG_ZYGOTE [N]   (default 40) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "tests/bench/stats.h"
#include "common/common.h"

#define WARMUP_ROUNDS 3

/* Microseconds, or -1 when the job did not print 1 and succeed. */
static double time_python(struct jail_context *ctx, struct jail_server *warm, const char *code)
{
    const char *argv[] = {"python3", "-c", code, NULL};
    struct jail_spec spec = {.argv = argv, .warm = warm};
    struct jail_outcome outcome;
    jail_limits_default(&spec.limits);
    uint64_t start = monotonic_ns();
    jail_run(ctx, &spec, &outcome);
    uint64_t end = monotonic_ns();
    bool ok = outcome.status == BRIG_STATUS_OK && strcmp(outcome.out.data, "1\n") == 0;
    if (!ok)
        fprintf(stderr, "bench_warm: %s start of %s ended %s: %s%s\n", warm ? "warm" : "cold", code,
                brig_status_name(outcome.status), outcome.message, outcome.err.data);
    jail_outcome_free(&outcome);
    return ok ? (double)(end - start) / 1000.0 : -1;
}

/* Both starts of code, rounds times, interleaved. */
static int compare(struct jail_context *ctx, struct jail_server *warm, const char *code,
                   long rounds, const char *cold_label, const char *warm_label)
{
    struct samples cold = {0}, hot = {0};
    int rc = -1;
    if (samples_init(&cold, (size_t)rounds) < 0 || samples_init(&hot, (size_t)rounds) < 0) {
        perror("bench_warm: samples");
        goto out;
    }
    for (long round = -WARMUP_ROUNDS; round < rounds; round++) {
        double cold_us = time_python(ctx, NULL, code);
        double warm_us = cold_us < 0 ? -1 : time_python(ctx, warm, code);
        if (warm_us < 0)
            goto out;
        if (round >= 0) {
            samples_add(&cold, cold_us);
            samples_add(&hot, warm_us);
        }
    }
    samples_print_row(&cold, cold_label);
    samples_print_row(&hot, warm_label);
    rc = 0;
out:
    samples_free(&cold);
    samples_free(&hot);
    return rc;
}

int main(int argc, char **argv)
{
    struct jail_context_config config = {.max_jails = 2};
    struct jail_context *ctx = NULL;
    struct jail_server *warm = NULL;
    char err[1024], *end = NULL;
    int rc = 1;

    long rounds = argc > 2 ? strtol(argv[2], &end, 10) : 40;
    if (argc < 2 || argc > 3 || (argc > 2 && *end != '\0') || rounds <= 0) {
        fprintf(stderr, "usage: bench_warm BRIG_ZYGOTE [N]\n");
        return 2;
    }
    const char *preload[] = {"numpy", "pandas", NULL};
    if (jail_context_new(&config, &ctx, err, sizeof(err)) < 0 ||
        jail_server_start_warm(ctx, argv[1], preload, &warm, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_warm: %s\n", err);
        goto out;
    }
    if (compare(ctx, warm, "import numpy, pandas; print(1)", rounds, "cold_import", "warm_import") <
            0 ||
        compare(ctx, warm, "print(1)", 4 * rounds, "cold_print", "warm_print") < 0)
        goto out;
    rc = 0;
out:
    jail_server_free(warm);
    jail_context_free(ctx);
    return rc;
}
