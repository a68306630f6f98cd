/* The tenants file (worker/tenants_file.h): what it reads, and every error
 * naming the file, the tenant and the field; the quota accounting
 * (worker/tenants_quota.h): a sliding hour of CPU in minute buckets and the
 * concurrency hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/tenants_file.h"
#include "worker/tenants_quota.h"

/* Two keys of schema/signing/vectors.json. */
#define KEY_A "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define KEY_B "ed25519:PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="

static const char *runtime_of(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "python") == 0 || strcmp(name, "py") == 0)
        return "python";
    return strcmp(name, "bash") == 0 ? "bash" : NULL;
}

/* Loads text as a tenants file: 0 or -1, with err. */
static int load(const char *text, struct tenant_table **table, char *err, size_t errlen)
{
    char path[] = "/tmp/brig-test-tenants-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = tenant_table_load(path, runtime_of, NULL, table, err, errlen);
    unlink(path);
    return rc;
}

static void test_a_file_is_read_whole(void **state)
{
    (void)state;
    struct tenant_table *table;
    char err[512];
    int rc = load("{\"tenants\": ["
                  " {\"name\": \"zeta\", \"keys\": [\"" KEY_B "\"]},"
                  " {\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
                  "  \"limits\": {\"memory_bytes\": \"512M\", \"wall_ms\": \"30s\","
                  "              \"cpu_millis\": \"0.5\", \"pids\": 10},"
                  "  \"concurrent_jobs\": 2, \"cpu_seconds_per_hour\": \"600s\","
                  "  \"runtimes\": [\"py\", \"argv\"], \"images\": [\"host\", \"sha256:ab\"],"
                  "  \"egress\": [\"pypi.org:443\"]}]}",
                  &table, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(table->count, 2);
    const struct tenant *acme = tenant_find(table, "acme");
    assert_non_null(acme);
    assert_null(tenant_find(table, "acm"));
    assert_null(tenant_find(table, "beta"));
    assert_non_null(tenant_find(table, "zeta"));
    assert_int_equal(acme->n_keys, 1);
    assert_int_equal(acme->caps.limits.memory_bytes, 512ull << 20);
    assert_int_equal(acme->caps.limits.wall_ms, 30000);
    assert_int_equal(acme->caps.limits.cpu_millis, 500);
    assert_int_equal(acme->caps.limits.pids, 10);
    assert_int_equal(acme->caps.limits.output_bytes, 0);
    assert_int_equal(acme->caps.concurrent_jobs, 2);
    assert_int_equal(acme->caps.cpu_us_per_hour, 600ull * 1000000);
    /* An alias is kept as the runtime it names. */
    assert_string_equal(acme->caps.runtimes[0], "python");
    assert_string_equal(acme->caps.runtimes[1], "argv");
    assert_null(acme->caps.runtimes[2]);
    assert_string_equal(acme->caps.images[1], "sha256:ab");
    assert_true(acme->caps.egress_set);
    assert_int_equal(acme->caps.egress.count, 1);
    /* No cap: nothing beyond the worker's. */
    const struct tenant *zeta = tenant_find(table, "zeta");
    assert_null(zeta->caps.runtimes);
    assert_false(zeta->caps.egress_set);
    assert_int_equal(zeta->caps.concurrent_jobs, 0);
    tenant_table_free(table);
}

/* Each broken file is refused with an error holding every piece of want. */
static void refused(const char *text, const char *want1, const char *want2)
{
    struct tenant_table *table = (struct tenant_table *)1;
    char err[512] = "";
    assert_int_equal(load(text, &table, err, sizeof err), -1);
    assert_null(table);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("for %s: got \"%s\", want \"%s\" and \"%s\"", text, err, want1,
                 want2 ? want2 : "");
}

static void test_errors_name_the_tenant_and_the_field(void **state)
{
    (void)state;
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"], \"limit\": {}}]}",
            "tenants[0] (\"acme\"): limit: unknown field", NULL);
    refused("{\"tenants\": [{\"name\": \"Acme\", \"keys\": [\"" KEY_A "\"]}]}", "tenants[0]: name",
            "Acme");
    refused("{\"tenants\": [{\"name\": \"acme\"}]}", "(\"acme\"): keys", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"ed25519:AAAA\"]}]}",
            "(\"acme\"): keys[0]", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"limits\": {\"memory_bytes\": \"64G\"}}]}",
            "limits.memory_bytes", "out of range");
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"limits\": {\"memory_mb\": 5}}]}",
            "limits.memory_mb: unknown limit", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"runtimes\": [\"cobol\"]}]}",
            "runtimes[0]", "no such runtime");
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"images\": [\"relative/path\"]}]}",
            "images[0]", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"concurrent_jobs\": 0}]}",
            "concurrent_jobs", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"],"
            " \"egress\": [\"not a rule\"]}]}",
            "egress", NULL);
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"]},"
            " {\"name\": \"acme\", \"keys\": [\"" KEY_B "\"]}]}",
            "tenant \"acme\" is listed twice", NULL);
    /* One key, two tenants: either could sign as the other. */
    refused("{\"tenants\": [{\"name\": \"acme\", \"keys\": [\"" KEY_A "\"]},"
            " {\"name\": \"beta\", \"keys\": [\"" KEY_B "\", \"" KEY_A "\"]}]}",
            "the same key", NULL);
    refused("{\"tenants\": {}}", "\"tenants\"", NULL);
    refused("{\"tenants\": [], \"more\": 1}", "\"tenants\"", NULL);
    refused("{\"tenants\": [", "line 1", NULL);
}

#define MINUTE 60000

static void test_cpu_slides_over_an_hour_of_minutes(void **state)
{
    (void)state;
    struct tenant_quota *q = tenant_quota_new();
    struct tenant_usage *u = tenant_usage_of(q, "acme");
    assert_ptr_equal(tenant_usage_of(q, "acme"), u);
    assert_ptr_not_equal(tenant_usage_of(q, "beta"), u);
    int64_t t0 = 1000LL * MINUTE;
    tenant_usage_add_cpu(u, 5, t0);
    tenant_usage_add_cpu(u, 7, t0 + 30 * MINUTE);
    assert_int_equal(tenant_usage_cpu_hour(u, t0 + 30 * MINUTE), 12);
    assert_int_equal(tenant_usage_cpu_hour(u, t0 + 59 * MINUTE), 12);
    /* The first minute's CPU stops counting sixty minutes on. */
    assert_int_equal(tenant_usage_cpu_hour(u, t0 + 60 * MINUTE), 7);
    /* Its bucket, reused an hour later, starts again from 0. */
    tenant_usage_add_cpu(u, 1, t0 + 60 * MINUTE);
    assert_int_equal(tenant_usage_cpu_hour(u, t0 + 60 * MINUTE), 8);
    assert_int_equal(tenant_usage_cpu_hour(u, t0 + 200 * MINUTE), 0);
    tenant_quota_free(q);
}

static void test_a_tenant_is_held_at_its_caps(void **state)
{
    (void)state;
    struct tenant_quota *q = tenant_quota_new();
    struct tenant_usage *u = tenant_usage_of(q, "acme");
    struct tenant_caps caps = {.concurrent_jobs = 2, .cpu_us_per_hour = 100};
    int64_t now = 5000LL * MINUTE;
    assert_int_equal(tenant_usage_hold(u, &caps, now), QUOTA_FREE);
    u->account.running = 2;
    assert_int_equal(tenant_usage_hold(u, &caps, now), QUOTA_CONCURRENCY);
    u->account.running = 1;
    tenant_usage_add_cpu(u, 100, now);
    assert_int_equal(tenant_usage_hold(u, &caps, now), QUOTA_CPU);
    assert_int_equal(tenant_usage_hold(u, &caps, now + 60 * MINUTE), QUOTA_FREE);
    struct tenant_caps none = {0};
    u->account.running = 1000;
    assert_int_equal(tenant_usage_hold(u, &none, now), QUOTA_FREE);
    tenant_quota_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_file_is_read_whole),
        cmocka_unit_test(test_errors_name_the_tenant_and_the_field),
        cmocka_unit_test(test_cpu_slides_over_an_hour_of_minutes),
        cmocka_unit_test(test_a_tenant_is_held_at_its_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
