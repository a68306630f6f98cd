/* Durations measured by the benchmark helpers, summarised the same way
 * everywhere (median, 99th percentile, N) and printed as one line that
 * tests/bench/bench.py reads:
 *
 *   row label=NAME n=N median_us=M p99_us=P min_us=L mean_us=A */
#ifndef BRIG_BENCH_STATS_H
#define BRIG_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

struct samples {
    double *us;
    size_t n, capacity;
};

/* Room for capacity samples; -1 with errno set when memory is short. */
int samples_init(struct samples *s, size_t capacity);
void samples_free(struct samples *s);

/* Adds one duration in microseconds; the caller sized the set for it. */
void samples_add(struct samples *s, double us);

/* Sorts the samples and prints their summary row. */
void samples_print_row(struct samples *s, const char *label);

#endif
