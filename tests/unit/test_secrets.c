/* The operator's secrets file (worker/secrets.h): the three ways to give a
 * value, bindings and what they render, every refusal naming the secret and
 * field (and never the value), and the owner and mode of the files. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "worker/secrets.h"

#define VALUE "sk-test-0123456789abcdef"

static char dir[64];

static char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return p;
}

static struct secret_store *parse_ok(const char *json)
{
    struct secret_store *store;
    char err[1024];
    if (secret_store_parse(json, strlen(json), "test.json", &store, err, sizeof(err)) != 0)
        fail_msg("parsing %s: %s", json, err);
    return store;
}

/* The refusal of json says what, and never the value. */
static void expect_refused(const char *json, const char *what)
{
    struct secret_store *store = NULL;
    char err[1024];
    if (secret_store_parse(json, strlen(json), "test.json", &store, err, sizeof(err)) == 0)
        fail_msg("accepted %s", json);
    assert_null(store);
    if (!strstr(err, what))
        fail_msg("the error \"%s\" does not say \"%s\"", err, what);
    if (strstr(err, VALUE))
        fail_msg("the error \"%s\" shows the value", err);
}

static void render_is(const struct secret *s, size_t binding, const char *expected)
{
    char *text = secret_render(s, &s->bindings[binding]);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void test_the_three_ways_to_give_a_value(void **state)
{
    (void)state;
    char *file = write_file("key", VALUE "\n", 0600);
    char json[2048];
    setenv("TEST_SECRET_ENV", "from-the-environment", 1);
    char *env_text = getenv("TEST_SECRET_ENV");
    snprintf(json, sizeof(json),
             "{\"secrets\": {"
             " \"INLINE\": {\"value\": \"%s\", \"tenant\": \"*\", \"bindings\": [{\"host\": "
             "\"api.example.com\", \"header\": \"Authorization\", \"template\": \"Bearer "
             "${INLINE}\"}]},"
             " \"FILED\": {\"value_file\": \"%s\", \"bindings\": [{\"host\": "
             "\"localhost:8443\", \"header\": \"x-api-key\", \"template\": \"${FILED}\"}, "
             "{\"host\": \"other.example\", \"header\": \"X-Two\", \"template\": "
             "\"${FILED}/${FILED}\"}]},"
             " \"FROM_ENV\": {\"value_env\": \"TEST_SECRET_ENV\", \"bindings\": [{\"host\": "
             "\"git.example.com\", \"basic_auth\": \"x-access-token\"}]}}}",
             VALUE, file);
    struct secret_store *store = parse_ok(json);
    assert_int_equal(store->count, 3);

    const struct secret *inl = secret_find(store, "INLINE");
    assert_non_null(inl);
    assert_string_equal(inl->value, VALUE);
    assert_string_equal(inl->bindings[0].host, "api.example.com");
    assert_int_equal(inl->bindings[0].port, 443);
    render_is(inl, 0, "Bearer " VALUE);

    const struct secret *filed = secret_find(store, "FILED");
    assert_string_equal(filed->value, VALUE); /* the newline dropped */
    assert_int_equal(filed->n_bindings, 2);
    assert_string_equal(filed->bindings[0].host, "localhost");
    assert_int_equal(filed->bindings[0].port, 8443);
    assert_string_equal(filed->bindings[0].header, "x-api-key");
    render_is(filed, 0, VALUE);
    render_is(filed, 1, VALUE "/" VALUE);

    /* Taken out of the worker's environment, and its text wiped in place. */
    const struct secret *env = secret_find(store, "FROM_ENV");
    assert_string_equal(env->value, "from-the-environment");
    assert_null(getenv("TEST_SECRET_ENV"));
    assert_int_equal(env_text[0], '\0');
    assert_string_equal(env->bindings[0].header, "Authorization");
    /* base64("x-access-token:from-the-environment") */
    render_is(env, 0, "Basic eC1hY2Nlc3MtdG9rZW46ZnJvbS10aGUtZW52aXJvbm1lbnQ=");

    assert_null(secret_find(store, "inline"));
    assert_null(secret_find(store, "OTHER"));
    secret_store_free(store);
    unlink(file);
}

#define BINDING                                                                                    \
    "\"bindings\": [{\"host\": \"api.example.com\", \"header\": \"H\", "                           \
    "\"template\": \"${K}\"}]"

static void test_values(void **state)
{
    (void)state;
    expect_refused("{\"secrets\": {\"K\": {" BINDING "}}}", "secrets.K.value: give the value once");
    expect_refused("{\"secrets\": {\"K\": {\"value\": \"" VALUE "\", \"value_env\": \"X\", " BINDING
                   "}}}",
                   "more than one is set");
    expect_refused("{\"secrets\": {\"K\": {\"value\": \"\", " BINDING "}}}",
                   "secrets.K.value: the value is empty");
    expect_refused("{\"secrets\": {\"K\": {\"value\": \"" VALUE "\\n\", " BINDING "}}}",
                   "secrets.K.value: byte 24 of the value is not printable ASCII");
    expect_refused("{\"secrets\": {\"K\": {\"value\": 12, " BINDING "}}}",
                   "secrets.K.value: must be a string");
    unsetenv("TEST_SECRET_UNSET");
    expect_refused("{\"secrets\": {\"K\": {\"value_env\": \"TEST_SECRET_UNSET\", " BINDING "}}}",
                   "secrets.K.value_env: the worker's environment has no TEST_SECRET_UNSET");
    char json[512], *file = write_file("loose", VALUE, 0644);
    snprintf(json, sizeof(json), "{\"secrets\": {\"K\": {\"value_file\": \"%s\", " BINDING "}}}",
             file);
    expect_refused(json, "has mode 0644: others may read it");
    expect_refused(json, "chmod 600");
    unlink(file);
}

static void test_bindings(void **state)
{
    (void)state;
    const char *head = "{\"secrets\": {\"K\": {\"value\": \"" VALUE "\", \"bindings\": ";
    const struct {
        const char *bindings;
        const char *what;
    } cases[] = {
        {"[]", "secrets.K.bindings: missing or empty"},
        {"[{\"header\": \"H\", \"template\": \"${K}\"}]", "bindings[0].host: missing"},
        {"[{\"host\": \"*.example.com\", \"header\": \"H\", \"template\": \"${K}\"}]",
         "not a suffix or an address"},
        {"[{\"host\": \"10.0.0.1:443\", \"header\": \"H\", \"template\": \"${K}\"}]",
         "not a suffix or an address"},
        {"[{\"host\": \"[::1]:443\", \"header\": \"H\", \"template\": \"${K}\"}]",
         "not a suffix or an address"},
        {"[{\"host\": \"API.example.com\", \"header\": \"H\", \"template\": \"${K}\"}]",
         "bindings[0].host: \"API.example.com\": invalid host"},
        {"[{\"host\": \"api.example.com\", \"template\": \"${K}\"}]",
         "bindings[0].header: missing"},
        {"[{\"host\": \"api.example.com\", \"header\": \"H\"}]", "bindings[0].template: missing"},
        {"[{\"host\": \"api.example.com\", \"header\": \"Host\", \"template\": \"${K}\"}]",
         "\"Host\" frames the request"},
        {"[{\"host\": \"api.example.com\", \"header\": \"transfer-ENCODING\", \"template\": "
         "\"${K}\"}]",
         "frames the request"},
        {"[{\"host\": \"api.example.com\", \"header\": \"A B\", \"template\": \"${K}\"}]",
         "is not a header name"},
        {"[{\"host\": \"api.example.com\", \"header\": \"H\", \"template\": \"Bearer\"}]",
         "does not say where the value goes: put ${K} in it"},
        {"[{\"host\": \"api.example.com\", \"header\": \"H\", \"template\": \"${K}${OTHER}\"}]",
         "a template names only its own secret, ${K}"},
        {"[{\"host\": \"api.example.com\", \"header\": \"H\", \"template\": \"${K}\\r\\nX: "
         "y\"}]",
         "bindings[0].template: byte 4 is not printable ASCII"},
        {"[{\"host\": \"api.example.com\", \"basic_auth\": \"a:b\"}]", "without ':'"},
        {"[{\"host\": \"api.example.com\", \"basic_auth\": \"u\", \"header\": \"H\"}]",
         "basic_auth goes alone"},
        {"[{\"host\": \"api.example.com\", \"header\": \"H\", \"template\": \"${K}\", "
         "\"query\": \"key\"}]",
         "secrets.K.bindings[0].query: unknown field"},
        {"[\"api.example.com\"]", "bindings[0]: must be an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[1024];
        snprintf(json, sizeof(json), "%s%s}}}", head, cases[i].bindings);
        expect_refused(json, cases[i].what);
    }
}

static void test_the_file_as_a_whole(void **state)
{
    (void)state;
    expect_refused("{\"secrets\": {\"K\": {\"value\": \"a\", " BINDING "}, \"K\": {}}}",
                   "duplicate object key");
    expect_refused("{\"secret\": {}}", "test.json: secret: unknown field");
    expect_refused("{\"secrets\": []}", "secrets: missing, or not an object");
    expect_refused("[]", "must be an object");
    expect_refused("{\"secrets\": {\"K-1\": {\"value\": \"a\", " BINDING "}}}",
                   "\"K-1\" cannot name a secret: invalid character");
    expect_refused("{\"secrets\": {\"PATH\": {\"value\": \"a\", " BINDING "}}}",
                   "\"PATH\" cannot name a secret: reserved name");
    expect_refused("{\"secrets\": {\"K\": {\"value\": \"a\", \"binding\": []}}}",
                   "secrets.K.binding: unknown field");
    struct secret_store *empty = parse_ok("{\"secrets\": {}}");
    assert_int_equal(empty->count, 0);
    secret_store_free(empty);
}

static void test_owner_and_mode_of_the_file(void **state)
{
    (void)state;
    const char *json = "{\"secrets\": {\"K\": {\"value\": \"" VALUE "\", " BINDING "}}}";
    struct secret_store *store = NULL;
    char err[1024];

    char *good = write_file("secrets.json", json, 0600);
    assert_int_equal(secret_store_load(good, &store, err, sizeof(err)), 0);
    assert_string_equal(secret_find(store, "K")->value, VALUE);
    secret_store_free(store);
    store = NULL;

    char *readonly = write_file("readonly.json", json, 0400);
    assert_int_equal(secret_store_load(readonly, &store, err, sizeof(err)), 0);
    secret_store_free(store);
    store = NULL;

    char *loose = write_file("loose.json", json, 0640);
    assert_int_equal(secret_store_load(loose, &store, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "loose.json has mode 0640: others may read it"));

    char *writable = write_file("writable.json", json, 0620);
    assert_int_equal(secret_store_load(writable, &store, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "others may change it"));

    if (geteuid() == 0) {
        char *foreign = write_file("foreign.json", json, 0600);
        assert_int_equal(chown(foreign, 1000, 1000), 0);
        assert_int_equal(secret_store_load(foreign, &store, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "is owned by uid 1000, not by the worker's user (uid 0)"));
        unlink(foreign);
    }
    assert_int_equal(secret_store_load(dir, &store, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is not a regular file"));
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/missing.json", dir);
    assert_int_equal(secret_store_load(missing, &store, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "No such file or directory"));
    assert_null(store);
    unlink(good);
    unlink(readonly);
    unlink(loose);
    unlink(writable);
}

static bool known_tenant(const void *ctx, const char *name)
{
    for (const char *const *t = ctx; *t; t++) {
        if (strcmp(*t, name) == 0)
            return true;
    }
    return false;
}

/* "tenant": one name or a list; "*" or none is every job's, unsigned ones'
 * included; a job of any other tenant is not served. */
#define BASIC "\"bindings\": [{\"host\": \"api.example.com\", \"basic_auth\": \"u\"}]"
static void test_tenants_a_secret_is_bound_to(void **state)
{
    (void)state;
    struct secret_store *store =
        parse_ok("{\"secrets\": {"
                 "\"ONE\": {\"value\": \"a\", \"tenant\": \"acme\", " BASIC "},"
                 "\"TWO\": {\"value\": \"b\", \"tenant\": [\"acme\", \"beta-2\"], " BASIC "},"
                 "\"ALL\": {\"value\": \"c\", \"tenant\": \"*\", " BASIC "},"
                 "\"ANY\": {\"value\": \"d\", " BASIC "}}}");
    const struct secret *one = secret_find(store, "ONE"), *two = secret_find(store, "TWO");
    const struct secret *all = secret_find(store, "ALL"), *any = secret_find(store, "ANY");
    assert_true(secret_serves(one, "acme"));
    assert_false(secret_serves(one, "beta-2"));
    assert_false(secret_serves(one, NULL));
    assert_false(secret_serves(one, ""));
    assert_false(secret_serves(one, "acm"));
    assert_true(secret_serves(two, "acme"));
    assert_true(secret_serves(two, "beta-2"));
    assert_false(secret_serves(two, "gamma"));
    assert_false(secret_serves(two, NULL));
    for (const struct secret *s = all; s; s = s == all ? any : NULL) {
        assert_null(s->tenants);
        assert_true(secret_serves(s, "acme"));
        assert_true(secret_serves(s, NULL));
    }

    /* A tenant a reload removed is served nothing until it is back. */
    assert_true(secret_mark_tenant((struct secret *)two, 1, true));
    assert_false(secret_mark_tenant((struct secret *)two, 1, true));
    assert_false(secret_serves(two, "beta-2"));
    assert_true(secret_serves(two, "acme"));
    assert_true(secret_mark_tenant((struct secret *)two, 1, false));
    assert_true(secret_serves(two, "beta-2"));

    /* Every tenant named must be one the worker has. */
    char err[512];
    const char *const both[] = {"acme", "beta-2", NULL}, *const acme[] = {"acme", NULL};
    assert_int_equal(secret_store_check_tenants(store, known_tenant, both, err, sizeof(err)), 0);
    assert_int_equal(secret_store_check_tenants(store, known_tenant, acme, err, sizeof(err)), -1);
    assert_string_equal(err, "secret TWO is bound to tenant beta-2, which the tenants file does "
                             "not name");
    assert_int_equal(secret_store_check_tenants(store, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "secret ONE is bound to tenant acme, and this worker has no "
                                "tenants"));
    secret_store_free(store);
    struct secret_store *open_to_all =
        parse_ok("{\"secrets\": {\"ALL\": {\"value\": \"c\", \"tenant\": \"*\", " BASIC "}}}");
    assert_int_equal(secret_store_check_tenants(open_to_all, NULL, NULL, err, sizeof(err)), 0);
    secret_store_free(open_to_all);

    const char *head = "{\"secrets\": {\"K\": {\"value\": \"a\", " BINDING ", \"tenant\": ";
    const struct {
        const char *tenant, *what;
    } cases[] = {
        {"12", "secrets.K.tenant: must be a tenant's name, a list of names, or \"*\""},
        {"[]", "secrets.K.tenant: an empty list would leave the secret nobody's"},
        {"[\"acme\", \"*\"]", "secrets.K.tenant[1]: \"*\" is every tenant's and goes alone"},
        {"[\"acme\", 3]", "secrets.K.tenant[1]: must be a tenant's name"},
        {"[\"acme\", \"acme\"]", "secrets.K.tenant[1]: \"acme\" is named twice"},
        {"\"Acme\"", "secrets.K.tenant: \"Acme\": "},
        {"[\"ok\", \"a b\"]", "secrets.K.tenant[1]: \"a b\": "},
    };
    char json[512];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(json, sizeof(json), "%s%s}}}", head, cases[i].tenant);
        expect_refused(json, cases[i].what);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/brig-test-secrets.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_three_ways_to_give_a_value),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_bindings),
        cmocka_unit_test(test_the_file_as_a_whole),
        cmocka_unit_test(test_tenants_a_secret_is_bound_to),
        cmocka_unit_test(test_owner_and_mode_of_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
