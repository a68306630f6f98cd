#include "worker/metrics_registry.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *label_values[METRIC_LABELS_MAX];
    double value;            /* counter, gauge; a histogram's sum */
    uint64_t count;          /* histogram: observations */
    uint64_t *bucket_counts; /* histogram: per bucket, not cumulative */
};

struct metric {
    struct metrics_registry *registry;
    enum metric_type type;
    char *name, *help;
    char *labels[METRIC_LABELS_MAX];
    size_t n_labels;
    double *buckets;
    size_t n_buckets;
    struct series *series;
    size_t n_series, series_capacity;
    struct metric *next;
};

struct metrics_registry {
    pthread_mutex_t lock;
    struct metric *head, *tail;
};

struct metrics_registry *metrics_registry_new(void)
{
    struct metrics_registry *registry = calloc(1, sizeof(*registry));
    if (registry)
        pthread_mutex_init(&registry->lock, NULL);
    return registry;
}

static void series_clear(struct series *s)
{
    for (size_t i = 0; i < METRIC_LABELS_MAX; i++)
        free(s->label_values[i]);
    free(s->bucket_counts);
}

static void metric_free(struct metric *metric)
{
    for (size_t i = 0; i < metric->n_series; i++)
        series_clear(&metric->series[i]);
    free(metric->series);
    for (size_t i = 0; i < metric->n_labels; i++)
        free(metric->labels[i]);
    free(metric->buckets);
    free(metric->name);
    free(metric->help);
    free(metric);
}

void metrics_registry_free(struct metrics_registry *registry)
{
    if (!registry)
        return;
    struct metric *metric = registry->head;
    while (metric) {
        struct metric *next = metric->next;
        metric_free(metric);
        metric = next;
    }
    pthread_mutex_destroy(&registry->lock);
    free(registry);
}

/* ---- registration ---- */

static bool valid_name(const char *name, bool colons)
{
    if (!name || !*name || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char *c = name; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || (colons && *c == ':');
        if (!ok)
            return false;
    }
    return true;
}

static int check_desc(struct metrics_registry *registry, const struct metric_desc *desc,
                      size_t *n_labels, char *err, size_t errlen)
{
    const char *name = desc->name ? desc->name : "(null)";
    if (!valid_name(desc->name, true)) {
        snprintf(err, errlen, "metric %s: the name must match [a-zA-Z_:][a-zA-Z0-9_:]*", name);
        return -1;
    }
    if (desc->type != METRIC_COUNTER && desc->type != METRIC_GAUGE &&
        desc->type != METRIC_HISTOGRAM) {
        snprintf(err, errlen, "metric %s: unknown type %d", name, (int)desc->type);
        return -1;
    }
    if (!desc->help) {
        snprintf(err, errlen, "metric %s: help text is missing", name);
        return -1;
    }
    for (struct metric *m = registry->head; m; m = m->next) {
        if (strcmp(m->name, desc->name) == 0) {
            snprintf(err, errlen, "metric %s: registered twice", name);
            return -1;
        }
    }
    *n_labels = 0;
    while (*n_labels < METRIC_LABELS_MAX && desc->labels[*n_labels]) {
        const char *label = desc->labels[*n_labels];
        /* Names starting with __ are reserved for Prometheus itself, and a
         * histogram's le is the bucket bound. */
        if (!valid_name(label, false) || strncmp(label, "__", 2) == 0 ||
            (desc->type == METRIC_HISTOGRAM && strcmp(label, "le") == 0)) {
            snprintf(err, errlen, "metric %s: invalid label name %s", name, label);
            return -1;
        }
        (*n_labels)++;
    }
    if (desc->type != METRIC_HISTOGRAM) {
        if (desc->n_buckets) {
            snprintf(err, errlen, "metric %s: buckets are for histograms only", name);
            return -1;
        }
        return 0;
    }
    if (!desc->buckets || desc->n_buckets == 0 || desc->n_buckets > METRIC_BUCKETS_MAX) {
        snprintf(err, errlen, "metric %s: a histogram needs 1 to %d buckets", name,
                 METRIC_BUCKETS_MAX);
        return -1;
    }
    for (size_t i = 0; i < desc->n_buckets; i++) {
        if (!isfinite(desc->buckets[i]) || (i > 0 && desc->buckets[i] <= desc->buckets[i - 1])) {
            snprintf(err, errlen, "metric %s: bucket bounds must be finite and increasing", name);
            return -1;
        }
    }
    return 0;
}

/* A new series at the end of metric's list (registry lock held). */
static struct series *series_new(struct metric *metric, const char *const *label_values)
{
    if (metric->n_series == METRIC_SERIES_MAX)
        return NULL;
    if (metric->n_series == metric->series_capacity) {
        size_t capacity = metric->series_capacity ? metric->series_capacity * 2 : 4;
        struct series *grown = realloc(metric->series, capacity * sizeof(*grown));
        if (!grown)
            return NULL;
        metric->series = grown;
        metric->series_capacity = capacity;
    }
    struct series *s = &metric->series[metric->n_series];
    memset(s, 0, sizeof(*s));
    bool ok = true;
    for (size_t i = 0; i < metric->n_labels; i++) {
        const char *value = label_values[i] ? label_values[i] : "";
        ok = ok && (s->label_values[i] = strdup(value)) != NULL;
    }
    if (metric->type == METRIC_HISTOGRAM)
        ok = ok && (s->bucket_counts = calloc(metric->n_buckets, sizeof(uint64_t))) != NULL;
    if (!ok) {
        series_clear(s);
        return NULL;
    }
    metric->n_series++;
    return s;
}

struct metric *metrics_registry_add(struct metrics_registry *registry,
                                    const struct metric_desc *desc, char *err, size_t errlen)
{
    size_t n_labels;
    struct metric *metric = NULL;

    pthread_mutex_lock(&registry->lock);
    if (check_desc(registry, desc, &n_labels, err, errlen) < 0)
        goto fail;
    metric = calloc(1, sizeof(*metric));
    if (!metric)
        goto oom;
    metric->registry = registry;
    metric->type = desc->type;
    metric->n_labels = n_labels;
    if (!(metric->name = strdup(desc->name)) || !(metric->help = strdup(desc->help)))
        goto oom;
    for (size_t i = 0; i < n_labels; i++)
        if (!(metric->labels[i] = strdup(desc->labels[i])))
            goto oom;
    if (desc->type == METRIC_HISTOGRAM) {
        metric->n_buckets = desc->n_buckets;
        metric->buckets = malloc(desc->n_buckets * sizeof(double));
        if (!metric->buckets)
            goto oom;
        memcpy(metric->buckets, desc->buckets, desc->n_buckets * sizeof(double));
    }
    if (n_labels == 0 && !series_new(metric, NULL))
        goto oom;
    if (registry->tail)
        registry->tail->next = metric;
    else
        registry->head = metric;
    registry->tail = metric;
    pthread_mutex_unlock(&registry->lock);
    return metric;

oom:
    snprintf(err, errlen, "metric %s: out of memory", desc->name);
fail:
    if (metric)
        metric_free(metric);
    pthread_mutex_unlock(&registry->lock);
    return NULL;
}

/* ---- recording ---- */

/* The series of label_values, made when create is set (registry lock held).
 * NULL when absent, or when it cannot be made. */
static struct series *find_series(struct metric *metric, const char *const *label_values,
                                  bool create)
{
    if (metric->n_labels == 0)
        return metric->n_series ? &metric->series[0] : NULL;
    if (!label_values)
        return NULL;
    for (size_t i = 0; i < metric->n_series; i++) {
        struct series *s = &metric->series[i];
        size_t l = 0;
        while (l < metric->n_labels &&
               strcmp(s->label_values[l], label_values[l] ? label_values[l] : "") == 0)
            l++;
        if (l == metric->n_labels)
            return s;
    }
    return create ? series_new(metric, label_values) : NULL;
}

void metric_add(struct metric *metric, const char *const *label_values, double delta)
{
    if (metric->type == METRIC_HISTOGRAM ||
        (metric->type == METRIC_COUNTER && !(delta >= 0))) /* also refuses NaN */
        return;
    pthread_mutex_lock(&metric->registry->lock);
    struct series *s = find_series(metric, label_values, true);
    if (s)
        s->value += delta;
    pthread_mutex_unlock(&metric->registry->lock);
}

void metric_set(struct metric *metric, const char *const *label_values, double value)
{
    if (metric->type != METRIC_GAUGE)
        return;
    pthread_mutex_lock(&metric->registry->lock);
    struct series *s = find_series(metric, label_values, true);
    if (s)
        s->value = value;
    pthread_mutex_unlock(&metric->registry->lock);
}

void metric_observe(struct metric *metric, const char *const *label_values, double value)
{
    if (metric->type != METRIC_HISTOGRAM || isnan(value))
        return;
    pthread_mutex_lock(&metric->registry->lock);
    struct series *s = find_series(metric, label_values, true);
    if (s) {
        size_t b = 0;
        while (b < metric->n_buckets && value > metric->buckets[b])
            b++;
        if (b < metric->n_buckets)
            s->bucket_counts[b]++;
        s->count++;
        s->value += value;
    }
    pthread_mutex_unlock(&metric->registry->lock);
}

void metric_remove(struct metric *metric, const char *const *label_values)
{
    if (metric->n_labels == 0)
        return;
    pthread_mutex_lock(&metric->registry->lock);
    struct series *s = find_series(metric, label_values, false);
    if (s) {
        size_t index = (size_t)(s - metric->series);
        series_clear(s);
        memmove(s, s + 1, (metric->n_series - index - 1) * sizeof(*s));
        metric->n_series--;
    }
    pthread_mutex_unlock(&metric->registry->lock);
}

double metric_value(struct metric *metric, const char *const *label_values)
{
    double value = 0;
    pthread_mutex_lock(&metric->registry->lock);
    struct series *s = find_series(metric, label_values, false);
    if (s)
        value = metric->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&metric->registry->lock);
    return value;
}

/* ---- exposition ---- */

/* The shortest decimal text that reads back as the same double. */
static void format_value(double value, char *buf, size_t len)
{
    if (isnan(value)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(buf, len, value > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Counts are whole numbers: 20000, not the equally short 2e+04. */
    if (value == floor(value) && fabs(value) < 9007199254740992.0) {
        snprintf(buf, len, "%.0f", value);
        return;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, len, "%.*g", precision, value);
        if (strtod(buf, NULL) == value)
            return;
    }
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(FILE *out, const char *text, bool quote)
{
    for (const char *c = text; *c; c++) {
        if (*c == '\\')
            fputs("\\\\", out);
        else if (*c == '\n')
            fputs("\\n", out);
        else if (quote && *c == '"')
            fputs("\\\"", out);
        else
            fputc(*c, out);
    }
}

/* {name="value",...} with le="bound" last for histogram buckets; nothing at
 * all for an unlabelled sample. */
static void put_labels(FILE *out, const struct metric *metric, const struct series *s,
                       const char *le)
{
    if (metric->n_labels == 0 && !le)
        return;
    fputc('{', out);
    for (size_t i = 0; i < metric->n_labels; i++) {
        fprintf(out, "%s%s=\"", i ? "," : "", metric->labels[i]);
        put_escaped(out, s->label_values[i], true);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", metric->n_labels ? "," : "", le);
    fputc('}', out);
}

static void put_sample(FILE *out, const struct metric *metric, const char *suffix,
                       const struct series *s, const char *le, double value)
{
    char text[32];
    format_value(value, text, sizeof(text));
    fprintf(out, "%s%s", metric->name, suffix);
    put_labels(out, metric, s, le);
    fprintf(out, " %s\n", text);
}

static void put_metric(FILE *out, const struct metric *metric)
{
    static const char *const type_names[] = {
        [METRIC_COUNTER] = "counter",
        [METRIC_GAUGE] = "gauge",
        [METRIC_HISTOGRAM] = "histogram",
    };
    fprintf(out, "# HELP %s ", metric->name);
    put_escaped(out, metric->help, false);
    fprintf(out, "\n# TYPE %s %s\n", metric->name, type_names[metric->type]);

    for (size_t i = 0; i < metric->n_series; i++) {
        const struct series *s = &metric->series[i];
        if (metric->type != METRIC_HISTOGRAM) {
            put_sample(out, metric, "", s, NULL, s->value);
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t b = 0; b < metric->n_buckets; b++) {
            char le[32];
            format_value(metric->buckets[b], le, sizeof(le));
            cumulative += s->bucket_counts[b];
            put_sample(out, metric, "_bucket", s, le, (double)cumulative);
        }
        put_sample(out, metric, "_bucket", s, "+Inf", (double)s->count);
        put_sample(out, metric, "_sum", s, NULL, s->value);
        put_sample(out, metric, "_count", s, NULL, (double)s->count);
    }
}

int metrics_registry_render(struct metrics_registry *registry, char **text, size_t *len)
{
    FILE *out = open_memstream(text, len);
    if (!out)
        return -1;
    pthread_mutex_lock(&registry->lock);
    for (const struct metric *metric = registry->head; metric; metric = metric->next)
        put_metric(out, metric);
    pthread_mutex_unlock(&registry->lock);
    bool failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}
