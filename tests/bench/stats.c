#include "tests/bench/stats.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int samples_init(struct samples *s, size_t capacity)
{
    s->us = calloc(capacity, sizeof(*s->us));
    s->n = 0;
    s->capacity = capacity;
    return s->us ? 0 : -1;
}

void samples_free(struct samples *s)
{
    free(s->us);
    s->us = NULL;
    s->n = s->capacity = 0;
}

void samples_add(struct samples *s, double us)
{
    if (s->n < s->capacity)
        s->us[s->n++] = us;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least percent % of them at or
 * below it. */
static double percentile(const struct samples *s, size_t percent)
{
    size_t rank = (percent * s->n + 99) / 100;
    return s->us[rank > 0 ? rank - 1 : 0];
}

void samples_print_row(struct samples *s, const char *label)
{
    if (s->n == 0) {
        printf("row label=%s n=0\n", label);
        return;
    }
    qsort(s->us, s->n, sizeof(*s->us), compare_doubles);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->us[i];
    double median = s->n % 2 ? s->us[s->n / 2] : (s->us[s->n / 2 - 1] + s->us[s->n / 2]) / 2;
    printf("row label=%s n=%zu median_us=%.1f p99_us=%.1f min_us=%.1f mean_us=%.1f\n", label, s->n,
           median, percentile(s, 99), s->us[0], sum / (double)s->n);
    fflush(stdout);
}
