#include "common/units.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

enum number_error { NUMBER_OK, NUMBER_EMPTY, NUMBER_MALFORMED, NUMBER_DECIMALS, NUMBER_OVERFLOW };

/* Parses "digits[.digits]" spanning exactly len bytes as a fixed-point value
 * with `decimals` decimal places: "1.5" with 3 decimals is 1500. */
static enum number_error parse_fixed(const char *text, size_t len, unsigned decimals, uint64_t *out)
{
    uint64_t value = 0;
    size_t i = 0;
    unsigned fraction_digits = 0;
    bool in_fraction = false;

    if (len == 0)
        return NUMBER_EMPTY;
    if (text[0] < '0' || text[0] > '9')
        return NUMBER_MALFORMED;
    for (i = 0; i < len; i++) {
        char c = text[i];
        if (c == '.' && !in_fraction && i + 1 < len) {
            in_fraction = true;
            continue;
        }
        if (c < '0' || c > '9')
            return NUMBER_MALFORMED;
        if (in_fraction && ++fraction_digits > decimals)
            return NUMBER_DECIMALS;
        if (value > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return NUMBER_OVERFLOW;
        value = value * 10 + (uint64_t)(c - '0');
    }
    for (; fraction_digits < decimals; fraction_digits++) {
        if (value > UINT64_MAX / 10)
            return NUMBER_OVERFLOW;
        value *= 10;
    }
    *out = value;
    return NUMBER_OK;
}

/* The numeric prefix of text: digits and dots, the suffix starts after it. */
static size_t number_length(const char *text)
{
    return strspn(text, "0123456789.");
}

static int number_failure(enum number_error error, const char *text, const char *what,
                          const char *syntax, char *err, size_t errlen)
{
    switch (error) {
    case NUMBER_OVERFLOW:
        snprintf(err, errlen, "\"%s\" is too large for a %s", text, what);
        break;
    case NUMBER_DECIMALS:
        snprintf(err, errlen, "\"%s\" is not a %s: too many decimals (%s)", text, what, syntax);
        break;
    default:
        snprintf(err, errlen, "\"%s\" is not a %s (%s)", text, what, syntax);
        break;
    }
    return -1;
}

static bool multiply_checked(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

int units_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen)
{
    static const char syntax[] = "expected digits with an optional K, M, G or T suffix";
    size_t digits = number_length(text);
    const char *suffix = text + digits;
    uint64_t value, multiplier = 1;
    enum number_error error = parse_fixed(text, digits, 0, &value);

    if (error != NUMBER_OK)
        return number_failure(error, text, "size", syntax, err, errlen);
    if (*suffix != '\0') {
        if (suffix[1] != '\0')
            return number_failure(NUMBER_MALFORMED, text, "size", syntax, err, errlen);
        switch (*suffix) {
        case 'T':
        case 't':
            multiplier <<= 10;
            /* fall through */
        case 'G':
        case 'g':
            multiplier <<= 10;
            /* fall through */
        case 'M':
        case 'm':
            multiplier <<= 10;
            /* fall through */
        case 'K':
        case 'k':
            multiplier <<= 10;
            break;
        default:
            return number_failure(NUMBER_MALFORMED, text, "size", syntax, err, errlen);
        }
    }
    if (!multiply_checked(value, multiplier, bytes))
        return number_failure(NUMBER_OVERFLOW, text, "size", syntax, err, errlen);
    return 0;
}

int units_parse_duration_ms(const char *text, uint64_t *ms, char *err, size_t errlen)
{
    static const char syntax[] =
        "expected seconds like 2, 1.5s or 0.25s, or whole milliseconds like 250ms";
    size_t digits = number_length(text);
    const char *suffix = text + digits;
    enum number_error error;

    if (strcmp(suffix, "ms") == 0)
        error = parse_fixed(text, digits, 0, ms);
    else if (strcmp(suffix, "s") == 0 || *suffix == '\0')
        error = parse_fixed(text, digits, 3, ms);
    else
        error = digits == 0 ? NUMBER_EMPTY : NUMBER_MALFORMED;
    if (error != NUMBER_OK)
        return number_failure(error, text, "duration", syntax, err, errlen);
    return 0;
}

int units_parse_count(const char *text, uint64_t *count, char *err, size_t errlen)
{
    enum number_error error = parse_fixed(text, strlen(text), 0, count);

    if (error != NUMBER_OK)
        return number_failure(error, text, "count", "expected plain digits", err, errlen);
    return 0;
}

int units_parse_cpus(const char *text, uint32_t *millicores, char *err, size_t errlen)
{
    static const char syntax[] = "expected a number of cores like 0.5 or 2, at most 3 decimals";
    uint64_t value;
    enum number_error error = parse_fixed(text, strlen(text), 3, &value);

    if (error == NUMBER_OK && value > UINT32_MAX)
        error = NUMBER_OVERFLOW;
    if (error != NUMBER_OK)
        return number_failure(error, text, "CPU count", syntax, err, errlen);
    *millicores = (uint32_t)value;
    return 0;
}

void units_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double value = (double)bytes;
    size_t unit = 0;

    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return;
    }
    value /= 1024;
    while (value >= 1024 && unit + 1 < ARRAY_SIZE(units)) {
        value /= 1024;
        unit++;
    }
    snprintf(buf, len, "%.1f %s", value, units[unit]);
}

void units_format_duration_us(uint64_t us, char *buf, size_t len)
{
    if (us < 1000)
        snprintf(buf, len, "%" PRIu64 "us", us);
    else if (us < 1000000)
        snprintf(buf, len, "%.1fms", (double)us / 1000);
    else
        snprintf(buf, len, "%.3fs", (double)us / 1000000);
}
