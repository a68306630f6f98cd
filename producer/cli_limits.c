#include "producer/cli_limits.h"

#include <stdint.h>

#include "producer/cli_options.h"
#include "common/units.h"
#include "common/common.h"

#define LIMIT(field) offsetof(struct brig_limits, field)

/* In the order of the help. */
const struct cli_limit_flag cli_limit_flags[] = {
    /* CLI_LIMIT_FLAG_COUNT of them */
    {"wall-time", "T", "wall-clock time", CLI_LIMIT_DURATION, LIMIT(wall_ms), BRIG_WALL_MS_MIN,
     BRIG_WALL_MS_MAX, BRIG_WALL_MS_DEFAULT},
    {"cpu-time", "T", "CPU time of all its processes", CLI_LIMIT_DURATION, LIMIT(cpu_ms),
     BRIG_CPU_MS_MIN, BRIG_CPU_MS_MAX, BRIG_CPU_MS_DEFAULT},
    {"mem", "SIZE", "memory of all its processes, no swap", CLI_LIMIT_SIZE, LIMIT(memory_bytes),
     BRIG_MEMORY_BYTES_MIN, BRIG_MEMORY_BYTES_MAX, BRIG_MEMORY_BYTES_DEFAULT},
    {"pids", "N", "processes and threads at once", CLI_LIMIT_COUNT, LIMIT(pids), BRIG_PIDS_MIN,
     BRIG_PIDS_MAX, BRIG_PIDS_DEFAULT},
    {"cpus", "CORES", "CPU share in cores", CLI_LIMIT_CPUS, LIMIT(cpu_millis), BRIG_CPU_MILLIS_MIN,
     BRIG_CPU_MILLIS_MAX, BRIG_CPU_MILLIS_DEFAULT},
    {"output-limit", "SIZE", "stdout and stderr together, then stopped", CLI_LIMIT_SIZE,
     LIMIT(output_bytes), BRIG_OUTPUT_BYTES_MIN, BRIG_OUTPUT_BYTES_MAX, BRIG_OUTPUT_BYTES_DEFAULT},
    {"fsize", "SIZE", "the largest file it may write", CLI_LIMIT_SIZE, LIMIT(fsize_bytes),
     BRIG_FSIZE_BYTES_MIN, BRIG_FSIZE_BYTES_MAX, BRIG_FSIZE_BYTES_DEFAULT},
    {"disk", "SIZE", "size of /work", CLI_LIMIT_SIZE, LIMIT(disk_bytes), BRIG_DISK_BYTES_MIN,
     BRIG_DISK_BYTES_MAX, BRIG_DISK_BYTES_DEFAULT},
    {"tmp", "SIZE", "size of /tmp", CLI_LIMIT_SIZE, LIMIT(tmp_bytes), BRIG_TMP_BYTES_MIN,
     BRIG_TMP_BYTES_MAX, BRIG_TMP_BYTES_DEFAULT},
    {"collect-limit", "SIZE", "the collected files in all", CLI_LIMIT_SIZE, LIMIT(collect_bytes),
     BRIG_COLLECT_BYTES_MIN, BRIG_COLLECT_BYTES_MAX, BRIG_COLLECT_BYTES_DEFAULT},
};

/* value exactly, as it could be typed back to the flag: "16M", "600s",
 * "250ms", "0.01". */
static void format_value(enum cli_limit_unit unit, unsigned long long value, char *buf, size_t len)
{
    static const struct {
        char suffix;
        unsigned shift;
    } sizes[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};
    switch (unit) {
    case CLI_LIMIT_SIZE:
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
            if (value && value % (1ull << sizes[i].shift) == 0) {
                snprintf(buf, len, "%llu%c", value >> sizes[i].shift, sizes[i].suffix);
                return;
            }
        }
        snprintf(buf, len, "%llu", value);
        return;
    case CLI_LIMIT_DURATION:
        if (value % 1000 == 0)
            snprintf(buf, len, "%llus", value / 1000);
        else
            snprintf(buf, len, "%llums", value);
        return;
    case CLI_LIMIT_CPUS: {
        int n = snprintf(buf, len, "%llu.%03llu", value / 1000, value % 1000);
        /* "0.010" -> "0.01", "2.000" -> "2" */
        while (n > 0 && (size_t)n < len && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && (size_t)n < len && buf[n - 1] == '.')
            buf[n - 1] = '\0';
        return;
    }
    case CLI_LIMIT_COUNT:
        snprintf(buf, len, "%llu", value);
        return;
    }
}

int cli_limit_parse(const struct cli_limit_flag *flag, const char *value,
                    struct brig_limits *limits, char *err, size_t errlen)
{
    char why[256], bound[32];
    uint64_t n = 0;
    uint32_t millicores = 0;
    int rc;
    switch (flag->unit) {
    case CLI_LIMIT_SIZE:
        rc = units_parse_size(value, &n, why, sizeof why);
        break;
    case CLI_LIMIT_DURATION:
        rc = cli_parse_duration_ms(value, &n, why, sizeof why);
        break;
    case CLI_LIMIT_CPUS:
        rc = units_parse_cpus(value, &millicores, why, sizeof why);
        n = millicores;
        break;
    default:
        rc = units_parse_count(value, &n, why, sizeof why);
        break;
    }
    if (rc < 0) {
        snprintf(err, errlen, "--%s: %s", flag->name, why);
        return -1;
    }
    if (n < flag->min || n > flag->max) {
        format_value(flag->unit, n < flag->min ? flag->min : flag->max, bound, sizeof bound);
        snprintf(err, errlen, "--%s: %s is %s the %s of %s", flag->name, value,
                 n < flag->min ? "under" : "over", n < flag->min ? "minimum" : "maximum", bound);
        return -1;
    }
    *(uint64_t *)((char *)limits + flag->offset) = n;
    return 0;
}

void cli_limits_help(FILE *out)
{
    for (size_t i = 0; i < CLI_LIMIT_FLAG_COUNT; i++) {
        const struct cli_limit_flag *f = &cli_limit_flags[i];
        char min[32], max[32], fallback[32];
        format_value(f->unit, f->min, min, sizeof min);
        format_value(f->unit, f->max, max, sizeof max);
        format_value(f->unit, f->fallback, fallback, sizeof fallback);
        /* The descriptions start in column 26, as in the rest of the help. */
        int n = fprintf(out, "      --%s %s", f->name, f->value);
        if (n >= 25)
            n = fprintf(out, "\n") - 1;
        fprintf(out, "%*s%s [%s; %s to %s]\n", 25 - n, "", f->what, fallback, min, max);
    }
}
