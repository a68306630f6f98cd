/* Signed messages (schema/signature.h): every vector of
 * schema/signing/vectors.json is judged as it says (valid ones have the
 * signing input it gives, and signing them again gives the same header),
 * and the key and name codecs refuse what they must. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schema/signature.h"

#define VECTORS BRIG_SOURCE_DIR "/schema/signing/vectors.json"
#define MIN_VECTORS 30

static json_t *doc;

static int load(void **state)
{
    (void)state;
    json_error_t jerr;
    doc = json_load_file(VECTORS, 0, &jerr);
    if (!doc)
        fail_msg("%s: %s", VECTORS, jerr.text);
    return 0;
}

static int unload(void **state)
{
    (void)state;
    json_decref(doc);
    return 0;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t len = strlen(hex) / 2;
    assert_true(len <= cap);
    for (size_t i = 0; i < len; i++) {
        unsigned byte;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
        out[i] = (uint8_t)byte;
    }
    return len;
}

static void key_seed(const char *name, uint8_t seed[BRIG_ED25519_KEY_BYTES])
{
    json_t *key = json_object_get(json_object_get(doc, "keys"), name);
    assert_non_null(key);
    assert_int_equal(unhex(json_string_value(json_object_get(key, "seed")), seed, 32), 32);
}

/* The vectors' tenants: each key's public text parsed, as a worker would. */
static uint8_t known_keys[8][BRIG_ED25519_KEY_BYTES];

static size_t keys_of(void *ctx, const char *tenant, const uint8_t (**keys)[BRIG_ED25519_KEY_BYTES])
{
    (void)ctx;
    json_t *names = json_object_get(json_object_get(doc, "tenants"), tenant);
    size_t n = json_array_size(names);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        json_t *key = json_object_get(json_object_get(doc, "keys"), name);
        char why[256];
        assert_int_equal(brig_public_key_parse(json_string_value(json_object_get(key, "public")),
                                               known_keys[i], why, sizeof why),
                         0);
    }
    *keys = (const uint8_t(*)[BRIG_ED25519_KEY_BYTES])known_keys;
    return n;
}

static const char *header(json_t *headers, const char *name, size_t *len)
{
    const char *value = json_string_value(json_object_get(headers, name));
    *len = value ? strlen(value) : 0;
    return value;
}

static int check_vector(json_t *v)
{
    const char *description = json_string_value(json_object_get(v, "description"));
    json_t *headers = json_object_get(v, "headers");
    struct brig_signature_headers h;
    h.tenant = header(headers, BRIG_HEADER_TENANT, &h.tenant_len);
    h.ts = header(headers, BRIG_HEADER_TS, &h.ts_len);
    h.sig = header(headers, BRIG_HEADER_SIG, &h.sig_len);
    static uint8_t value[1 << 12], key[256];
    const char *key_hex = json_string_value(json_object_get(v, "key"));
    struct brig_signed m = {
        .topic = json_string_value(json_object_get(v, "topic")),
        .key = key_hex ? key : NULL,
        .key_len = key_hex ? unhex(key_hex, key, sizeof key) : 0,
        .value = value,
        .value_len = unhex(json_string_value(json_object_get(v, "value")), value, sizeof value),
    };
    struct brig_signature sig;
    struct brig_error why = {.field = ""};
    int rc = brig_signature_check(&h, &m, json_integer_value(json_object_get(doc, "now_ms")),
                                  json_integer_value(json_object_get(doc, "window_ms")), keys_of,
                                  NULL, &sig, &why);
    if (!json_is_true(json_object_get(v, "valid"))) {
        json_t *error = json_object_get(v, "error");
        const char *field = json_string_value(json_object_get(error, "field"));
        const char *reason = json_string_value(json_object_get(error, "reason"));
        if (rc == 0 || strcmp(why.field, field) != 0 || !strstr(why.reason, reason)) {
            print_error("%s: expected %s: %s, got %s: %s\n", description, field, reason,
                        rc == 0 ? "valid" : why.field, rc == 0 ? "" : why.reason);
            return 1;
        }
        return 0;
    }
    if (rc != 0) {
        print_error("%s: refused: %s: %s\n", description, why.field, why.reason);
        return 1;
    }
    uint8_t input[BRIG_SIGNING_INPUT_MAX], expected[BRIG_SIGNING_INPUT_MAX];
    size_t len = brig_signing_input(&m, input);
    size_t expected_len =
        unhex(json_string_value(json_object_get(v, "signing_input")), expected, sizeof expected);
    uint8_t seed[BRIG_ED25519_KEY_BYTES];
    char again[BRIG_SIG_TEXT_LEN + 1], err[256];
    key_seed(json_string_value(json_object_get(v, "signed_by")), seed);
    if (len != expected_len || memcmp(input, expected, len) != 0 ||
        brig_sign(seed, &m, again, err, sizeof err) != 0 ||
        strcmp(again, json_string_value(json_object_get(headers, BRIG_HEADER_SIG))) != 0) {
        print_error("%s: the signing input or the signature differs\n", description);
        return 1;
    }
    return 0;
}

static void every_vector_is_judged_as_it_says(void **state)
{
    (void)state;
    json_t *vectors = json_object_get(doc, "vectors");
    assert_true(json_array_size(vectors) >= MIN_VECTORS);
    int failures = 0;
    for (size_t i = 0; i < json_array_size(vectors); i++)
        failures += check_vector(json_array_get(vectors, i));
    assert_int_equal(failures, 0);
}

static void public_keys_read_back_as_written(void **state)
{
    (void)state;
    const char *name;
    json_t *key;
    json_object_foreach(json_object_get(doc, "keys"), name, key)
    {
        uint8_t seed[BRIG_ED25519_KEY_BYTES], pub[BRIG_ED25519_KEY_BYTES];
        uint8_t parsed[BRIG_ED25519_KEY_BYTES];
        char text[BRIG_PUBLIC_KEY_TEXT_SIZE], err[256];
        key_seed(name, seed);
        assert_int_equal(brig_public_key_of(seed, pub, err, sizeof err), 0);
        brig_public_key_format(pub, text);
        assert_string_equal(text, json_string_value(json_object_get(key, "public")));
        assert_int_equal(brig_public_key_parse(text, parsed, err, sizeof err), 0);
        assert_memory_equal(parsed, pub, sizeof pub);
    }
}

static void malformed_public_keys_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "ed25519:",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",          /* no prefix */
        "ED25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",  /* prefix case */
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",   /* no padding */
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",  /* unused bits set */
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= ", /* trailing space */
        "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcH",      /* 30 bytes */
    };
    uint8_t out[BRIG_ED25519_KEY_BYTES];
    char why[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(brig_public_key_parse(bad[i], out, why, sizeof why), -1);
        assert_non_null(strstr(why, "not a public key"));
    }
}

static void tenant_names_are_lowercase_tokens(void **state)
{
    (void)state;
    char why[256];
    assert_true(brig_tenant_name_ok("acme", 4, why, sizeof why));
    assert_true(brig_tenant_name_ok("a0_-", 4, why, sizeof why));
    assert_false(brig_tenant_name_ok("", 0, why, sizeof why));
    assert_non_null(strstr(why, "empty"));
    assert_false(brig_tenant_name_ok("a.b", 3, why, sizeof why)); /* dots: topic prefixes */
    assert_non_null(strstr(why, "invalid character"));
    assert_false(brig_tenant_name_ok("a/b", 3, why, sizeof why));
    assert_false(brig_tenant_name_ok("..", 2, why, sizeof why));
    assert_false(brig_tenant_name_ok("_a", 2, why, sizeof why));
    assert_false(brig_tenant_name_ok("a\0b", 3, why, sizeof why));
    assert_false(brig_tenant_name_ok("abcdefghijklmnopqrstuvwxyz0123456", 33, why, sizeof why));
    assert_non_null(strstr(why, "too long"));
}

/* A signing input is refused rather than built from an empty or oversized
 * topic or tenant, which would make two messages share one. */
static void signing_input_needs_topic_and_tenant(void **state)
{
    (void)state;
    uint8_t buf[BRIG_SIGNING_INPUT_MAX];
    struct brig_signed m = {
        .topic = "brig.jobs", .tenant = "", .ts_ms = 1, .value = "", .value_len = 0};
    assert_int_equal(brig_signing_input(&m, buf), 0);
    m.tenant = "acme";
    m.topic = "";
    assert_int_equal(brig_signing_input(&m, buf), 0);
    m.topic = "brig.jobs";
    assert_int_equal(brig_signing_input(&m, buf), 12 + 1 + 9 + 1 + 4 + 8 + 1 + 32 + 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_vector_is_judged_as_it_says),
        cmocka_unit_test(public_keys_read_back_as_written),
        cmocka_unit_test(malformed_public_keys_are_refused),
        cmocka_unit_test(tenant_names_are_lowercase_tokens),
        cmocka_unit_test(signing_input_needs_topic_and_tenant),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
