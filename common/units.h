/* Sizes, durations, counts and CPU fractions as people type them on a command
 * line or in a config file ("64M", "2.5s", "0.5"), and back.
 *
 *   size      digits with an optional binary suffix K, M, G or T (any case):
 *             "4096", "64k", "512M", "1G"
 *   duration  digits with an optional fraction and suffix s or ms; no suffix
 *             means seconds: "2", "1.5s", "250ms"; resolution is 1 ms
 *   count     plain decimal digits: "64"
 *   cpus      a number of cores with up to three decimals: "0.5", "2"
 *
 * Each parser returns 0, or -1 with a sentence in err that quotes the text. */
#ifndef BRIG_COMMON_UNITS_H
#define BRIG_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

int units_parse_size(const char *text, uint64_t *bytes, char *err, size_t errlen);
int units_parse_duration_ms(const char *text, uint64_t *ms, char *err, size_t errlen);
int units_parse_count(const char *text, uint64_t *count, char *err, size_t errlen);
int units_parse_cpus(const char *text, uint32_t *millicores, char *err, size_t errlen);

/* "512 B", "1.5 KiB", "64.0 MiB" */
void units_format_size(uint64_t bytes, char *buf, size_t len);
/* "850us", "12.3ms", "1.250s" */
void units_format_duration_us(uint64_t us, char *buf, size_t len);

#endif
