/* Every vector in schema/vectors decodes as its .json description says, and
 * every valid one survives an encode/decode round trip unchanged. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_schema_support.h"

#define MIN_VECTORS 40

static int is_message(const struct dirent *entry)
{
    size_t len = strlen(entry->d_name);
    return len > 8 && strcmp(entry->d_name + len - 8, ".msgpack") == 0;
}

/* The vector names (file names without .msgpack), sorted. */
static char **list_vectors(size_t *count)
{
    struct dirent **entries;
    int n = scandir(vectors_dir(), &entries, is_message, alphasort);
    if (n < 0)
        fail_msg("cannot read %s: %s (run from the repo root or set BRIG_SCHEMA_VECTORS)",
                 vectors_dir(), strerror(errno));
    size_t found = n > 0 ? (size_t)n : 0;
    char **names = calloc(found + 1, sizeof *names);
    assert_non_null(names);
    for (size_t i = 0; i < found; i++) {
        names[i] = strndup(entries[i]->d_name, strlen(entries[i]->d_name) - 8);
        free(entries[i]);
    }
    free(entries);
    *count = found;
    return names;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Checks one vector; returns the number of failures, each printed. */
static int check_vector(const char *name)
{
    char path[4096];
    size_t len, json_len;
    snprintf(path, sizeof path, "%s/%s.msgpack", vectors_dir(), name);
    char *data = read_whole_file(path, &len);
    snprintf(path, sizeof path, "%s/%s.json", vectors_dir(), name);
    char *text = read_whole_file(path, &json_len);
    json_error_t jerr;
    json_t *description = text ? json_loadb(text, json_len, 0, &jerr) : NULL;
    int failures = 0;
    if (!data || !description) {
        print_error("%s: missing .msgpack or unreadable .json\n", name);
        failures = 1;
        goto done;
    }
    const char *kind = json_string_value(json_object_get(description, "kind"));
    bool valid = json_is_true(json_object_get(description, "valid"));
    if (!kind) {
        print_error("%s: description without kind\n", name);
        failures = 1;
        goto done;
    }
    struct brig_error err;
    json_t *decoded = decode_to_json(kind, data, len, 0, &err);
    if (valid) {
        json_t *expected = json_object_get(description, "expected");
        if (!decoded) {
            print_error("%s: refused: %s: %s\n", name, err.field, err.reason);
            failures++;
        } else if (!json_equal(decoded, expected)) {
            char *got = json_dumps(decoded, JSON_SORT_KEYS);
            print_error("%s: decoded %s\n", name, got);
            free(got);
            failures++;
        }
        json_t *again = decode_to_json(kind, data, len, 1, &err);
        if (!again || !json_equal(again, expected)) {
            print_error("%s: changed in an encode/decode round trip (%s)\n", name,
                        again ? "content" : err.reason);
            failures++;
        }
        json_decref(again);
    } else {
        const char *field =
            json_string_value(json_object_get(json_object_get(description, "error"), "field"));
        const char *reason =
            json_string_value(json_object_get(json_object_get(description, "error"), "reason"));
        if (decoded) {
            print_error("%s: accepted, expected %s: %s\n", name, field, reason);
            failures++;
        } else if (!field || !reason || strcmp(err.field, field) != 0 ||
                   !strstr(err.reason, reason)) {
            print_error("%s: got [%s] %s, expected [%s] ...%s...\n", name, err.field, err.reason,
                        field, reason);
            failures++;
        }
    }
    json_decref(decoded);
done:
    json_decref(description);
    free(data);
    free(text);
    return failures;
}

static void test_every_vector(void **state)
{
    (void)state;
    size_t count;
    char **names = list_vectors(&count);
    int failures = 0;
    for (size_t i = 0; i < count; i++)
        failures += check_vector(names[i]);
    free_names(names, count);
    assert_int_equal(failures, 0);
    assert_true(count >= MIN_VECTORS);
}

/* A description without its message would silently test nothing. */
static void test_every_description_has_a_message(void **state)
{
    (void)state;
    DIR *dir = opendir(vectors_dir());
    assert_non_null(dir);
    struct dirent *entry;
    int orphans = 0;
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= 5 || strcmp(entry->d_name + len - 5, ".json") != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%.*s.msgpack", vectors_dir(), (int)(len - 5),
                 entry->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            print_error("%s has no .msgpack\n", entry->d_name);
            orphans++;
        } else {
            fclose(f);
        }
    }
    closedir(dir);
    assert_int_equal(orphans, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_vector),
        cmocka_unit_test(test_every_description_has_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
