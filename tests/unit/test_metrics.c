/* The metrics registry's exposition format, its thread safety, brig-worker's
 * metric set and the reading of librdkafka statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/metrics.h"
#include "worker/metrics_registry.h"
#include "common/common.h"

#define STATS_SAMPLE BRIG_SOURCE_DIR "/tests/unit/data/rdkafka_stats_consumer.json"

static char *render(struct metrics_registry *registry)
{
    char *text;
    size_t len;
    assert_int_equal(metrics_registry_render(registry, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static struct metric *add(struct metrics_registry *registry, struct metric_desc desc)
{
    char err[256] = "";
    struct metric *metric = metrics_registry_add(registry, &desc, err, sizeof(err));
    if (!metric)
        fail_msg("registering %s: %s", desc.name, err);
    return metric;
}

/* ---- exposition ---- */

static void exposition_of_a_small_registry(void **state)
{
    (void)state;
    static const double bounds[] = {0.25, 0.5, 1};
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *requests = add(registry, (struct metric_desc){
                                                .type = METRIC_COUNTER,
                                                .name = "app_requests_total",
                                                .help = "Requests.\nSecond line \\ back",
                                                .labels = {"method", "code"},
                                            });
    struct metric *temperature = add(registry, (struct metric_desc){
                                                   .type = METRIC_GAUGE,
                                                   .name = "app_temperature",
                                                   .help = "Temperature.",
                                               });
    struct metric *latency = add(registry, (struct metric_desc){
                                               .type = METRIC_HISTOGRAM,
                                               .name = "app_latency_seconds",
                                               .help = "Latency.",
                                               .labels = {"path"},
                                               .buckets = bounds,
                                               .n_buckets = 3,
                                           });
    add(registry, (struct metric_desc){
                      .type = METRIC_HISTOGRAM,
                      .name = "app_wait_seconds",
                      .help = "Wait.",
                      .buckets = bounds,
                      .n_buckets = 1,
                  });

    metric_add(requests, (const char *[]){"GET", "200"}, 2);
    metric_add(requests, (const char *[]){"POST", "500"}, 1);
    metric_add(requests, (const char *[]){"GET", "200"}, 1);
    metric_set(temperature, NULL, -1.5);
    /* A bound is inclusive: 0.25 counts in le="0.25". */
    const double observations[] = {0.125, 0.25, 0.75, 4};
    for (size_t i = 0; i < 4; i++)
        metric_observe(latency, (const char *[]){"/a"}, observations[i]);

    char *text = render(registry);
    assert_string_equal(text, "# HELP app_requests_total Requests.\\nSecond line \\\\ back\n"
                              "# TYPE app_requests_total counter\n"
                              "app_requests_total{method=\"GET\",code=\"200\"} 3\n"
                              "app_requests_total{method=\"POST\",code=\"500\"} 1\n"
                              "# HELP app_temperature Temperature.\n"
                              "# TYPE app_temperature gauge\n"
                              "app_temperature -1.5\n"
                              "# HELP app_latency_seconds Latency.\n"
                              "# TYPE app_latency_seconds histogram\n"
                              "app_latency_seconds_bucket{path=\"/a\",le=\"0.25\"} 2\n"
                              "app_latency_seconds_bucket{path=\"/a\",le=\"0.5\"} 2\n"
                              "app_latency_seconds_bucket{path=\"/a\",le=\"1\"} 3\n"
                              "app_latency_seconds_bucket{path=\"/a\",le=\"+Inf\"} 4\n"
                              "app_latency_seconds_sum{path=\"/a\"} 5.125\n"
                              "app_latency_seconds_count{path=\"/a\"} 4\n"
                              "# HELP app_wait_seconds Wait.\n"
                              "# TYPE app_wait_seconds histogram\n"
                              "app_wait_seconds_bucket{le=\"0.25\"} 0\n"
                              "app_wait_seconds_bucket{le=\"+Inf\"} 0\n"
                              "app_wait_seconds_sum 0\n"
                              "app_wait_seconds_count 0\n");
    free(text);
    metrics_registry_free(registry);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    static const double bounds[] = {1, 2, 3, 4};
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *h = add(registry, (struct metric_desc){
                                         .type = METRIC_HISTOGRAM,
                                         .name = "h",
                                         .help = "h",
                                         .buckets = bounds,
                                         .n_buckets = 4,
                                     });
    /* 0.5 x1, 1.5 x2, 2.5 x3, 3.5 x4, 9 x5 */
    for (int k = 1; k <= 5; k++)
        for (int i = 0; i < k; i++)
            metric_observe(h, NULL, k == 5 ? 9 : k - 0.5);
    metric_observe(h, NULL, NAN); /* ignored */

    char *text = render(registry);
    assert_non_null(strstr(text, "h_bucket{le=\"1\"} 1\n"
                                 "h_bucket{le=\"2\"} 3\n"
                                 "h_bucket{le=\"3\"} 6\n"
                                 "h_bucket{le=\"4\"} 10\n"
                                 "h_bucket{le=\"+Inf\"} 15\n"
                                 "h_sum 70\n"
                                 "h_count 15\n"));
    assert_true(metric_value(h, NULL) == 15);
    free(text);
    metrics_registry_free(registry);
}

static void label_values_are_escaped(void **state)
{
    (void)state;
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *c = add(registry, (struct metric_desc){
                                         .type = METRIC_COUNTER,
                                         .name = "c_total",
                                         .help = "Help with \"quotes\" kept.",
                                         .labels = {"v"},
                                     });
    metric_add(c, (const char *[]){"say \"hi\"\\now\nnext"}, 1);
    char *text = render(registry);
    assert_string_equal(text, "# HELP c_total Help with \"quotes\" kept.\n"
                              "# TYPE c_total counter\n"
                              "c_total{v=\"say \\\"hi\\\"\\\\now\\nnext\"} 1\n");
    free(text);
    metrics_registry_free(registry);
}

static void values_print_shortest_and_special(void **state)
{
    (void)state;
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *g = add(registry, (struct metric_desc){
                                         .type = METRIC_GAUGE,
                                         .name = "g",
                                         .help = "g",
                                         .labels = {"k"},
                                     });
    metric_set(g, (const char *[]){"tenth"}, 0.1);
    metric_set(g, (const char *[]){"big"}, 12345678901234.0);
    metric_set(g, (const char *[]){"inf"}, INFINITY);
    metric_set(g, (const char *[]){"ninf"}, -INFINITY);
    metric_set(g, (const char *[]){"nan"}, NAN);
    metric_set(g, (const char *[]){"sum"}, 0.1 + 0.2);
    metric_set(g, (const char *[]){"tiny"}, 2.5e-7);
    char *text = render(registry);
    assert_non_null(strstr(text, "g{k=\"tenth\"} 0.1\n"));
    assert_non_null(strstr(text, "g{k=\"big\"} 12345678901234\n"));
    assert_non_null(strstr(text, "g{k=\"inf\"} +Inf\n"));
    assert_non_null(strstr(text, "g{k=\"ninf\"} -Inf\n"));
    assert_non_null(strstr(text, "g{k=\"nan\"} NaN\n"));
    assert_non_null(strstr(text, "g{k=\"sum\"} 0.30000000000000004\n"));
    assert_non_null(strstr(text, "g{k=\"tiny\"} 2.5e-07\n"));
    free(text);
    metrics_registry_free(registry);
}

static void counters_only_go_up_and_series_can_be_removed(void **state)
{
    (void)state;
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *c = add(registry, (struct metric_desc){
                                         .type = METRIC_COUNTER,
                                         .name = "c_total",
                                         .help = "c",
                                     });
    struct metric *g = add(registry, (struct metric_desc){
                                         .type = METRIC_GAUGE,
                                         .name = "g",
                                         .help = "g",
                                         .labels = {"partition"},
                                     });
    metric_add(c, NULL, 2);
    metric_add(c, NULL, -1);
    metric_add(c, NULL, NAN);
    metric_set(c, NULL, 100); /* not a gauge */
    assert_true(metric_value(c, NULL) == 2);

    metric_set(g, (const char *[]){"0"}, 5);
    metric_set(g, (const char *[]){"1"}, 7);
    metric_add(g, (const char *[]){"1"}, -2);
    metric_remove(g, (const char *[]){"0"});
    metric_remove(g, (const char *[]){"9"}); /* never set: nothing happens */
    assert_true(metric_value(g, (const char *[]){"0"}) == 0);
    assert_true(metric_value(g, (const char *[]){"1"}) == 5);
    char *text = render(registry);
    assert_null(strstr(text, "g{partition=\"0\"}"));
    assert_non_null(strstr(text, "g{partition=\"1\"} 5\n"));
    free(text);
    metrics_registry_free(registry);
}

static void invalid_descriptions_are_refused_by_name(void **state)
{
    (void)state;
    static const double unsorted[] = {1, 0.5};
    static const double sorted[] = {1};
    struct {
        struct metric_desc desc;
        const char *expected;
    } cases[] = {
        {{.type = METRIC_COUNTER, .name = "1bad", .help = "x"}, "metric 1bad: the name"},
        {{.type = METRIC_COUNTER, .name = "bad-name", .help = "x"}, "metric bad-name: the name"},
        {{.type = METRIC_COUNTER, .name = "no_help"}, "metric no_help: help"},
        {{.type = METRIC_COUNTER, .name = "dup", .help = "x"}, "metric dup: registered twice"},
        {{.type = METRIC_GAUGE, .name = "lbl", .help = "x", .labels = {"a-b"}},
         "metric lbl: invalid label name a-b"},
        {{.type = METRIC_GAUGE, .name = "rsv", .help = "x", .labels = {"__name"}},
         "metric rsv: invalid label name __name"},
        {{.type = METRIC_HISTOGRAM,
          .name = "le_label",
          .help = "x",
          .labels = {"le"},
          .buckets = sorted,
          .n_buckets = 1},
         "metric le_label: invalid label name le"},
        {{.type = METRIC_HISTOGRAM,
          .name = "unsorted",
          .help = "x",
          .buckets = unsorted,
          .n_buckets = 2},
         "metric unsorted: bucket bounds must be finite and increasing"},
        {{.type = METRIC_HISTOGRAM, .name = "nobuckets", .help = "x"},
         "metric nobuckets: a histogram needs"},
        {{.type = METRIC_GAUGE, .name = "gbuckets", .help = "x", .buckets = sorted, .n_buckets = 1},
         "metric gbuckets: buckets are for histograms only"},
    };
    struct metrics_registry *registry = metrics_registry_new();
    add(registry, (struct metric_desc){.type = METRIC_COUNTER, .name = "dup", .help = "x"});
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char err[256] = "";
        assert_null(metrics_registry_add(registry, &cases[i].desc, err, sizeof(err)));
        if (strncmp(err, cases[i].expected, strlen(cases[i].expected)) != 0)
            fail_msg("case %zu: got \"%s\", expected \"%s...\"", i, err, cases[i].expected);
    }
    metrics_registry_free(registry);
}

static void a_family_keeps_a_bounded_number_of_series(void **state)
{
    (void)state;
    struct metrics_registry *registry = metrics_registry_new();
    struct metric *c = add(registry, (struct metric_desc){
                                         .type = METRIC_COUNTER,
                                         .name = "c_total",
                                         .help = "c",
                                         .labels = {"v"},
                                     });
    for (int i = 0; i < METRIC_SERIES_MAX + 50; i++) {
        char value[16];
        snprintf(value, sizeof(value), "%d", i);
        metric_add(c, (const char *[]){value}, 1);
    }
    assert_true(metric_value(c, (const char *[]){"0"}) == 1);
    assert_true(metric_value(c, (const char *[]){"1049"}) == 0);
    char *text = render(registry);
    size_t samples = 0;
    for (const char *line = strstr(text, "\nc_total{"); line; line = strstr(line + 1, "\nc_total{"))
        samples++;
    assert_int_equal(samples, METRIC_SERIES_MAX);
    free(text);
    metrics_registry_free(registry);
}

/* ---- concurrency ---- */

#define THREADS 4
#define INCREMENTS 10000

struct hammer {
    struct metric *counter, *histogram;
};

static void *hammer_metrics(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        metric_add(h->counter, (const char *[]){i % 2 ? "odd" : "even"}, 1);
        metric_observe(h->histogram, NULL, 0.5);
    }
    return NULL;
}

static void concurrent_increments_are_exact(void **state)
{
    (void)state;
    static const double bounds[] = {1};
    struct metrics_registry *registry = metrics_registry_new();
    struct hammer h = {
        .counter = add(registry, (struct metric_desc){.type = METRIC_COUNTER,
                                                      .name = "hits_total",
                                                      .help = "hits",
                                                      .labels = {"parity"}}),
        .histogram = add(registry, (struct metric_desc){.type = METRIC_HISTOGRAM,
                                                        .name = "hit_seconds",
                                                        .help = "hit",
                                                        .buckets = bounds,
                                                        .n_buckets = 1}),
    };
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, hammer_metrics, &h), 0);
    /* Rendering while they record must see consistent text, never crash. */
    for (int i = 0; i < 20; i++)
        free(render(registry));
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    assert_true(metric_value(h.counter, (const char *[]){"odd"}) == THREADS * INCREMENTS / 2);
    assert_true(metric_value(h.counter, (const char *[]){"even"}) == THREADS * INCREMENTS / 2);
    char *text = render(registry);
    assert_non_null(strstr(text, "hits_total{parity=\"even\"} 20000\n"));
    assert_non_null(strstr(text, "hit_seconds_bucket{le=\"1\"} 40000\n"
                                 "hit_seconds_bucket{le=\"+Inf\"} 40000\n"
                                 "hit_seconds_sum 20000\n"
                                 "hit_seconds_count 40000\n"));
    free(text);
    metrics_registry_free(registry);
}

/* ---- brig-worker's metrics ---- */

static int teardown_metrics(void **state)
{
    (void)state;
    metrics_free();
    return 0;
}

static char *render_worker_metrics(void)
{
    assert_non_null(metrics_registry());
    return render(metrics_registry());
}

static void recording_before_init_does_nothing(void **state)
{
    (void)state;
    assert_null(metrics_registry());
    metrics_job_ran("python", BRIG_STATUS_OK, 1);
    metrics_job_rejected(NULL);
    metrics_set_lag(0, 5);
    metrics_audit_write(0.1);
    assert_null(metrics_registry());
}

static void worker_metrics_count_jobs_by_status_and_runtime(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(metrics_init(3, err, sizeof(err)), 0);
    metrics_job_ran("python", BRIG_STATUS_OK, 0.3);
    metrics_job_ran("python", BRIG_STATUS_OK, 0.02);
    metrics_job_ran("python", BRIG_STATUS_TIMEOUT, 12);
    metrics_job_ran(NULL, BRIG_STATUS_SETUP_ERROR, 0.004);
    metrics_job_rejected(NULL);
    metrics_job_started(0.002);
    metrics_set_slots_busy(2);
    metrics_dead_letter();
    metrics_audit_write(0.0007);
    metrics_producer_error();
    metrics_redelivery_answered();
    metrics_redelivery_answered();
    metrics_set_lag(3, 17);

    char *text = render_worker_metrics();
    const char *expected[] = {
        "# TYPE brig_jobs_total counter\n",
        "brig_jobs_total{status=\"ok\",runtime=\"python\"} 2\n",
        "brig_jobs_total{status=\"timeout\",runtime=\"python\"} 1\n",
        "brig_jobs_total{status=\"setup_error\",runtime=\"none\"} 1\n",
        "brig_jobs_total{status=\"rejected\",runtime=\"none\"} 1\n",
        "brig_job_duration_seconds_bucket{runtime=\"python\",le=\"0.025\"} 1\n",
        "brig_job_duration_seconds_bucket{runtime=\"python\",le=\"0.5\"} 2\n",
        "brig_job_duration_seconds_bucket{runtime=\"python\",le=\"30\"} 3\n",
        "brig_job_duration_seconds_count{runtime=\"python\"} 3\n",
        "brig_job_queue_wait_seconds_bucket{le=\"0.005\"} 1\n",
        "brig_jail_setup_failures_total 1\n",
        "brig_slots_busy 2\n",
        "brig_slots 3\n",
        "brig_consumer_lag{partition=\"3\"} 17\n",
        "brig_kafka_brokers_up 0\n",
        "brig_dead_letters_total 1\n",
        "brig_audit_write_seconds_bucket{le=\"0.001\"} 1\n",
        "brig_producer_errors_total 1\n",
        "brig_redeliveries_answered_total 2\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++)
        if (!strstr(text, expected[i]))
            fail_msg("missing \"%s\" in:\n%s", expected[i], text);
    metrics_forget_lag(3);
    free(text);
    text = render_worker_metrics();
    assert_null(strstr(text, "brig_consumer_lag{"));
    free(text);
}

/* ---- librdkafka statistics ---- */

static char *read_sample(void)
{
    FILE *f = fopen(STATS_SAMPLE, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(n > 0);
    return text;
}

/* text (freed) with one field of one partition of brig.jobs replaced, or
 * removed when value is NULL. */
static char *edited(char *text, const char *partition, const char *field, json_t *value)
{
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    json_t *p = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "topics"), "brig.jobs"),
                        "partitions"),
        partition);
    assert_non_null(p);
    if (value)
        json_object_set_new(p, field, value);
    else
        json_object_del(p, field);
    char *out = json_dumps(root, 0);
    json_decref(root);
    free(text);
    return out;
}

struct seen_partitions {
    struct stats_partition seen[4];
    size_t n;
};

static void collect(void *ctx, const struct stats_partition *seen)
{
    struct seen_partitions *all = ctx;
    assert_true(all->n < 4);
    all->seen[all->n++] = *seen;
}

/* What the statistics say of each assigned partition reaches the caller:
 * the worker checks the log start against what it expects (partitions.c). */
static void each_assigned_partition_is_passed_on(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(metrics_init(2, err, sizeof(err)), 0);
    char *json = edited(read_sample(), "1", "lo_offset", json_integer(3));
    json = edited(json, "1", "fetchq_cnt", json_integer(7));
    struct seen_partitions all = {0};
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", collect,
                                                       &all, err, sizeof(err)),
                     1);
    assert_int_equal(all.n, 2);
    for (size_t i = 0; i < all.n; i++) {
        const struct stats_partition *p = &all.seen[i];
        assert_true(p->partition == 0 || p->partition == 1);
        assert_int_equal(p->log_start, p->partition == 1 ? 3 : 0);
        assert_int_equal(p->queued, p->partition == 1 ? 7 : 0);
        assert_int_equal(p->next_fetch, 5);
    }
    free(json);

    /* A revoked partition is not passed on, nor anything of a bad document. */
    json = edited(read_sample(), "1", "desired", json_false());
    all.n = 0;
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", collect,
                                                       &all, err, sizeof(err)),
                     1);
    assert_int_equal(all.n, 1);
    assert_int_equal(all.seen[0].partition, 0);
    free(json);
    json = edited(read_sample(), "0", "lo_offset", NULL);
    all.n = 0;
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", collect,
                                                       &all, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "lo_offset"));
    assert_int_equal(all.n, 0);
    free(json);
}

static void lag_and_brokers_come_from_a_captured_sample(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(metrics_init(2, err, sizeof(err)), 0);
    char *json = read_sample();

    /* One broker connection; the logical GroupCoordinator is not another. */
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     1);
    char *text = render_worker_metrics();
    /* Partition 1 committed offset 3 of 5; partition 0 has no commit yet, so
     * its lag is end offset 5 minus position 5. The -1 queue is no partition. */
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"1\"} 2\n"));
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"0\"} 0\n"));
    assert_null(strstr(text, "partition=\"-1\""));
    assert_non_null(strstr(text, "brig_kafka_brokers_up 1\n"));
    free(text);
    free(json);

    /* Nothing consumed yet: the position is where the next fetch starts. */
    json = edited(read_sample(), "0", "app_offset", json_integer(-1001));
    json = edited(json, "0", "next_offset", json_integer(3));
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     1);
    text = render_worker_metrics();
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"0\"} 2\n"));
    free(text);
    free(json);

    /* No position known at all: no lag rather than a made-up one. */
    json = edited(read_sample(), "0", "app_offset", json_integer(-1001));
    json = edited(json, "0", "next_offset", json_integer(-1001));
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     1);
    text = render_worker_metrics();
    assert_null(strstr(text, "brig_consumer_lag{partition=\"0\"}"));
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"1\"} 2\n"));
    free(text);
    free(json);

    /* Revoked: librdkafka keeps the partition, no longer desired. */
    json = edited(read_sample(), "1", "desired", json_false());
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     1);
    text = render_worker_metrics();
    assert_null(strstr(text, "brig_consumer_lag{partition=\"1\"}"));
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"0\"} 0\n"));
    free(text);
    free(json);
}

static void another_topic_leaves_lag_alone(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(metrics_init(2, err, sizeof(err)), 0);
    char *json = read_sample();
    /* Only len bytes are read: librdkafka's buffer need not end there. */
    size_t len = strlen(json);
    strcat(json, "trailing junk");
    assert_int_equal(
        metrics_update_from_rdkafka_stats(json, len, "other.jobs", NULL, NULL, err, sizeof(err)),
        1);
    char *text = render_worker_metrics();
    assert_null(strstr(text, "brig_consumer_lag{"));
    free(text);
    free(json);
}

static void bad_statistics_name_the_field_and_change_nothing(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(metrics_init(2, err, sizeof(err)), 0);
    metrics_set_lag(0, 42);

    assert_int_equal(metrics_update_from_rdkafka_stats("{not json", 9, "brig.jobs", NULL, NULL, err,
                                                       sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "librdkafka statistics: line 1"));

    assert_int_equal(metrics_update_from_rdkafka_stats("{\"topics\":{}}", 13, "brig.jobs", NULL,
                                                       NULL, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "librdkafka statistics: brokers: not an object");

    /* Partition 1 is bad; partition 0, read first, must not be recorded. */
    char *json = edited(read_sample(), "1", "consumer_lag", NULL);
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     -1);
    assert_string_equal(err, "librdkafka statistics: topics.brig.jobs.partitions.1.consumer_lag: "
                             "not an integer");
    free(json);
    json = edited(read_sample(), "0", "desired", json_string("yes"));
    assert_int_equal(metrics_update_from_rdkafka_stats(json, strlen(json), "brig.jobs", NULL, NULL,
                                                       err, sizeof(err)),
                     -1);
    assert_string_equal(err, "librdkafka statistics: topics.brig.jobs.partitions.0.desired: not a "
                             "boolean");
    free(json);

    char *text = render_worker_metrics();
    assert_non_null(strstr(text, "brig_consumer_lag{partition=\"0\"} 42\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exposition_of_a_small_registry),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(values_print_shortest_and_special),
        cmocka_unit_test(counters_only_go_up_and_series_can_be_removed),
        cmocka_unit_test(invalid_descriptions_are_refused_by_name),
        cmocka_unit_test(a_family_keeps_a_bounded_number_of_series),
        cmocka_unit_test(concurrent_increments_are_exact),
        cmocka_unit_test(recording_before_init_does_nothing),
        cmocka_unit_test_teardown(worker_metrics_count_jobs_by_status_and_runtime,
                                  teardown_metrics),
        cmocka_unit_test_teardown(lag_and_brokers_come_from_a_captured_sample, teardown_metrics),
        cmocka_unit_test_teardown(each_assigned_partition_is_passed_on, teardown_metrics),
        cmocka_unit_test_teardown(another_topic_leaves_lag_alone, teardown_metrics),
        cmocka_unit_test_teardown(bad_statistics_name_the_field_and_change_nothing,
                                  teardown_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
