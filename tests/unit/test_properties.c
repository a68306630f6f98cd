/* Kafka properties from -X and from a properties file: the file's first,
 * then the command line's, which win; bad lines named with their number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/properties.h"

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/brig-test-properties-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_file_then_overrides(void **state)
{
    (void)state;
    char err[512];
    write_file("# TLS and SASL\n"
               "security.protocol = SASL_SSL\n"
               "\n"
               "! also a comment\n"
               "  sasl.password=from-file  \n"
               "sasl.jaas=a=b\n");
    struct property_list list = {0}, overrides = {0};
    assert_int_equal(properties_add(&overrides, "sasl.password=given", err, sizeof(err)), 0);
    assert_int_equal(properties_load(&list, path, &overrides, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(list.count, 4);
    assert_string_equal(list.items[0].key, "security.protocol");
    assert_string_equal(list.items[0].value, "SASL_SSL");
    assert_string_equal(list.items[1].value, "from-file");
    assert_string_equal(list.items[2].key, "sasl.jaas");
    assert_string_equal(list.items[2].value, "a=b");
    /* The override comes last: librdkafka keeps the last value of a key. */
    assert_string_equal(list.items[3].key, "sasl.password");
    assert_string_equal(list.items[3].value, "given");
    assert_int_equal(overrides.count, 0);
    properties_free(&list);
}

static void test_bad_input_named(void **state)
{
    (void)state;
    char err[512];
    struct property_list list = {0}, none = {0};
    assert_int_equal(properties_add(&list, "novalue", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "novalue: expected KEY=VALUE"));
    assert_int_equal(properties_add(&list, "=x", err, sizeof(err)), -1);
    write_file("a=1\nbroken line\n");
    assert_int_equal(properties_load(&list, path, &none, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2: broken line: expected KEY=VALUE"));
    unlink(path);
    assert_int_equal(
        properties_load(&list, "/nonexistent/kafka.properties", &none, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/kafka.properties: No such file or directory"));
    properties_free(&list);
}

static void test_environment_names_the_file(void **state)
{
    (void)state;
    char err[512];
    write_file("client.id=from-env\n");
    setenv("BRIG_KAFKA_CONFIG", path, 1);
    struct property_list list = {0}, none = {0};
    assert_int_equal(properties_load(&list, NULL, &none, err, sizeof(err)), 0);
    unsetenv("BRIG_KAFKA_CONFIG");
    unlink(path);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].value, "from-env");
    properties_free(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_then_overrides),
        cmocka_unit_test(test_bad_input_named),
        cmocka_unit_test(test_environment_names_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
