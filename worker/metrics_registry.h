/* A small thread-safe registry of Prometheus metrics (counters, gauges and
 * histograms, each a family with optional labels) and its text exposition,
 * format 0.0.4:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 *
 * One mutex guards a registry: recording takes it for a few comparisons and
 * an addition, so slot threads and the main loop can all record without
 * measurable contention at the worker's job rates.
 *
 * Label values must come from small closed sets (status names, runtime
 * names from the runtime table, partition numbers), never from text a job
 * controls. As a last line of defence a family keeps at most
 * METRIC_SERIES_MAX label combinations and ignores observations of new ones
 * beyond that. */
#ifndef BRIG_WORKER_METRICS_REGISTRY_H
#define BRIG_WORKER_METRICS_REGISTRY_H

#include <stddef.h>

#define METRIC_LABELS_MAX 4
#define METRIC_BUCKETS_MAX 32
#define METRIC_SERIES_MAX 1024

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_HISTOGRAM,
};

struct metrics_registry;
struct metric;

struct metric_desc {
    enum metric_type type;
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;
    const char *labels[METRIC_LABELS_MAX]; /* names, NULL-terminated when fewer */
    /* Histograms: upper bounds, strictly increasing; +Inf is implicit. */
    const double *buckets;
    size_t n_buckets;
};

struct metrics_registry *metrics_registry_new(void);
/* Frees the registry and its metrics. NULL is a no-op. */
void metrics_registry_free(struct metrics_registry *registry);

/* Adds a metric family, exposed in the order of registration. An unlabelled
 * counter or gauge starts at 0 and an unlabelled histogram empty, so they
 * are exposed before their first observation. Returns NULL with a message
 * naming the metric in err for an invalid description or a duplicate name. */
struct metric *metrics_registry_add(struct metrics_registry *registry,
                                    const struct metric_desc *desc, char *err, size_t errlen);

/* Recording. label_values holds one value per label name of the family (NULL
 * for an unlabelled one). Counters ignore negative and NaN increments. A
 * call of the wrong kind for the family's type does nothing. */
void metric_add(struct metric *metric, const char *const *label_values, double delta);
void metric_set(struct metric *metric, const char *const *label_values, double value);
void metric_observe(struct metric *metric, const char *const *label_values, double value);

/* Drops one label combination (a gauge for something that went away). */
void metric_remove(struct metric *metric, const char *const *label_values);

/* The current value of a counter or gauge; for a histogram, its count of
 * observations. 0 for a label combination never recorded. */
double metric_value(struct metric *metric, const char *const *label_values);

/* The text exposition of every metric, in a malloc'd NUL-terminated buffer.
 * Returns 0, or -1 when out of memory. */
int metrics_registry_render(struct metrics_registry *registry, char **text, size_t *len);

#endif
