/* Sizes, durations, counts and CPU fractions as typed by people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/units.h"

static char err[256];

static uint64_t size_of(const char *text)
{
    uint64_t bytes = 0;
    err[0] = '\0';
    assert_int_equal(units_parse_size(text, &bytes, err, sizeof(err)), 0);
    return bytes;
}

static void assert_bad_size(const char *text, const char *expected_words)
{
    uint64_t bytes = 12345;
    char quoted[128];

    err[0] = '\0';
    assert_int_equal(units_parse_size(text, &bytes, err, sizeof(err)), -1);
    snprintf(quoted, sizeof(quoted), "\"%s\"", text);
    assert_non_null(strstr(err, quoted));
    assert_non_null(strstr(err, expected_words));
    assert_int_equal(bytes, 12345);
}

static void test_size_plain_and_suffixes(void **state)
{
    (void)state;
    assert_int_equal(size_of("0"), 0);
    assert_int_equal(size_of("4096"), 4096);
    assert_int_equal(size_of("1k"), 1024);
    assert_int_equal(size_of("1K"), 1024);
    assert_int_equal(size_of("64M"), 64ull << 20);
    assert_int_equal(size_of("64m"), 64ull << 20);
    assert_int_equal(size_of("3G"), 3ull << 30);
    assert_int_equal(size_of("2T"), 2ull << 40);
    assert_int_equal(size_of("18446744073709551615"), UINT64_MAX);
    assert_int_equal(size_of("16777215T"), 16777215ull << 40);
}

static void test_size_overflow(void **state)
{
    (void)state;
    assert_bad_size("18446744073709551616", "too large");
    assert_bad_size("99999999999999999999999", "too large");
    assert_bad_size("16777216T", "too large");
    assert_bad_size("17179869184G", "too large");
}

static void test_size_garbage(void **state)
{
    (void)state;
    assert_bad_size("", "not a size");
    assert_bad_size("M", "not a size");
    assert_bad_size("64X", "not a size");
    assert_bad_size("64MB", "not a size");
    assert_bad_size("64 M", "not a size");
    assert_bad_size(" 64", "not a size");
    assert_bad_size("-1", "not a size");
    assert_bad_size("+1", "not a size");
    assert_bad_size("1.5G", "not a size");
    assert_bad_size("0x10", "not a size");
    assert_bad_size("ten", "not a size");
}

static uint64_t ms_of(const char *text)
{
    uint64_t ms = 0;
    err[0] = '\0';
    assert_int_equal(units_parse_duration_ms(text, &ms, err, sizeof(err)), 0);
    return ms;
}

static void assert_bad_duration(const char *text, const char *expected_words)
{
    uint64_t ms = 777;
    char quoted[128];

    err[0] = '\0';
    assert_int_equal(units_parse_duration_ms(text, &ms, err, sizeof(err)), -1);
    snprintf(quoted, sizeof(quoted), "\"%s\"", text);
    assert_non_null(strstr(err, quoted));
    assert_non_null(strstr(err, expected_words));
    assert_int_equal(ms, 777);
}

static void test_duration_valid(void **state)
{
    (void)state;
    assert_int_equal(ms_of("2"), 2000);
    assert_int_equal(ms_of("2s"), 2000);
    assert_int_equal(ms_of("1.5"), 1500);
    assert_int_equal(ms_of("1.5s"), 1500);
    assert_int_equal(ms_of("0.25s"), 250);
    assert_int_equal(ms_of("0.001s"), 1);
    assert_int_equal(ms_of("250ms"), 250);
    assert_int_equal(ms_of("0ms"), 0);
    assert_int_equal(ms_of("18446744073709551615ms"), UINT64_MAX);
    assert_int_equal(ms_of("18446744073709551.615s"), UINT64_MAX);
}

static void test_duration_errors(void **state)
{
    (void)state;
    assert_bad_duration("", "not a duration");
    assert_bad_duration("s", "not a duration");
    assert_bad_duration("ms", "not a duration");
    assert_bad_duration("5m", "not a duration");
    assert_bad_duration("5 s", "not a duration");
    assert_bad_duration("1.5ms", "not a duration");
    assert_bad_duration("1.", "not a duration");
    assert_bad_duration(".5", "not a duration");
    assert_bad_duration("1..5", "not a duration");
    assert_bad_duration("1.2.3", "not a duration");
    assert_bad_duration("-1s", "not a duration");
    assert_bad_duration("1.2345s", "too many decimals");
    assert_bad_duration("18446744073709551616ms", "too large");
    assert_bad_duration("18446744073709552s", "too large");
}

static void test_count(void **state)
{
    uint64_t count = 0;
    (void)state;
    assert_int_equal(units_parse_count("64", &count, err, sizeof(err)), 0);
    assert_int_equal(count, 64);
    assert_int_equal(units_parse_count("0", &count, err, sizeof(err)), 0);
    assert_int_equal(count, 0);
    assert_int_equal(units_parse_count("64k", &count, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"64k\" is not a count"));
    assert_int_equal(units_parse_count("1.5", &count, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"1.5\""));
    assert_int_equal(units_parse_count("", &count, err, sizeof(err)), -1);
    assert_int_equal(units_parse_count("99999999999999999999", &count, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too large"));
}

static void test_cpus(void **state)
{
    uint32_t millicores = 0;
    (void)state;
    assert_int_equal(units_parse_cpus("0.5", &millicores, err, sizeof(err)), 0);
    assert_int_equal(millicores, 500);
    assert_int_equal(units_parse_cpus("2", &millicores, err, sizeof(err)), 0);
    assert_int_equal(millicores, 2000);
    assert_int_equal(units_parse_cpus("1.25", &millicores, err, sizeof(err)), 0);
    assert_int_equal(millicores, 1250);
    assert_int_equal(units_parse_cpus("0.001", &millicores, err, sizeof(err)), 0);
    assert_int_equal(millicores, 1);
    assert_int_equal(units_parse_cpus("0.0001", &millicores, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"0.0001\""));
    assert_non_null(strstr(err, "too many decimals"));
    assert_int_equal(units_parse_cpus("4294968", &millicores, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(units_parse_cpus("half", &millicores, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"half\" is not a CPU count"));
}

static void test_format_size(void **state)
{
    char buf[32];
    (void)state;
    units_format_size(0, buf, sizeof(buf));
    assert_string_equal(buf, "0 B");
    units_format_size(1023, buf, sizeof(buf));
    assert_string_equal(buf, "1023 B");
    units_format_size(1536, buf, sizeof(buf));
    assert_string_equal(buf, "1.5 KiB");
    units_format_size(64ull << 20, buf, sizeof(buf));
    assert_string_equal(buf, "64.0 MiB");
    units_format_size(3ull << 30, buf, sizeof(buf));
    assert_string_equal(buf, "3.0 GiB");
}

static void test_format_duration(void **state)
{
    char buf[32];
    (void)state;
    units_format_duration_us(850, buf, sizeof(buf));
    assert_string_equal(buf, "850us");
    units_format_duration_us(12300, buf, sizeof(buf));
    assert_string_equal(buf, "12.3ms");
    units_format_duration_us(1250000, buf, sizeof(buf));
    assert_string_equal(buf, "1.250s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_plain_and_suffixes),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_size_garbage),
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_cpus),
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_format_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
