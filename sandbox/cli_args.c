#include "sandbox/cli_args.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "schema/status.h"
#include "schema/text.h"
#include "common/common.h"

enum option_id {
    OPT_MEM,
    OPT_CPU_TIME,
    OPT_WALL_TIME,
    OPT_PIDS,
    OPT_OUTPUT_LIMIT,
    OPT_FSIZE,
    OPT_NOFILE,
    OPT_STACK,
    OPT_DISK,
    OPT_TMP,
    OPT_CPUS,
    OPT_RO_BIND,
    OPT_BIND,
    OPT_WORKDIR,
    OPT_ENV,
    OPT_STDIN,
    OPT_JSON,
    OPT_RUNTIMES,
    OPT_LANG,
    OPT_CODE,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION,
};

struct option_def {
    const char *name;
    const char *value; /* what the value is, for messages; NULL for a flag */
    enum option_id id;
};

static const struct option_def options[] = {
    {"mem", "SIZE", OPT_MEM},
    {"cpu-time", "TIME", OPT_CPU_TIME},
    {"wall-time", "TIME", OPT_WALL_TIME},
    {"pids", "N", OPT_PIDS},
    {"output-limit", "SIZE", OPT_OUTPUT_LIMIT},
    {"fsize", "SIZE", OPT_FSIZE},
    {"nofile", "N", OPT_NOFILE},
    {"stack", "SIZE", OPT_STACK},
    {"disk", "SIZE", OPT_DISK},
    {"tmp", "SIZE", OPT_TMP},
    {"cpus", "CORES", OPT_CPUS},
    {"ro-bind", "SRC[:DST]", OPT_RO_BIND},
    {"bind", "SRC[:DST]", OPT_BIND},
    {"workdir", "DIR", OPT_WORKDIR},
    {"env", "K=V", OPT_ENV},
    {"stdin", "FILE", OPT_STDIN},
    {"json", "FILE", OPT_JSON},
    {"runtimes", "FILE", OPT_RUNTIMES},
    {"lang", "LANG", OPT_LANG},
    {"code", "FILE", OPT_CODE},
    {"quiet", NULL, OPT_QUIET},
    {"help", NULL, OPT_HELP},
    {"version", NULL, OPT_VERSION},
};

static void print_limits_help(FILE *out, const struct jail_limits *defaults)
{
    char wall[32], cpu[32], memory[32], output[32], fsize[32], stack[32], disk[32], tmp[32];

    units_format_duration_us(defaults->wall_ms * 1000, wall, sizeof(wall));
    units_format_duration_us(defaults->cpu_ms * 1000, cpu, sizeof(cpu));
    units_format_size(defaults->memory_bytes, memory, sizeof(memory));
    units_format_size(defaults->output_bytes, output, sizeof(output));
    units_format_size(defaults->fsize_bytes, fsize, sizeof(fsize));
    units_format_size(defaults->stack_bytes, stack, sizeof(stack));
    units_format_size(defaults->disk_bytes, disk, sizeof(disk));
    units_format_size(defaults->tmp_bytes, tmp, sizeof(tmp));
    fprintf(out,
            "Limits, [default]:\n"
            "  --mem SIZE           memory of the whole process tree, no swap [%s]\n"
            "  --cpu-time TIME      CPU time of the whole process tree [%s]\n"
            "  --wall-time TIME     wall-clock time [%s]\n"
            "  --pids N             processes and threads [%" PRIu64 "]\n"
            "  --output-limit SIZE  stdout and stderr together; past it the job is\n"
            "                       stopped [%s]\n"
            "  --fsize SIZE         the largest file the program may write [%s]\n"
            "  --nofile N           open file descriptors [%" PRIu64 "]\n"
            "  --stack SIZE         stack size [%s]\n"
            "  --disk SIZE          size of the fresh tmpfs at /work [%s]\n"
            "  --tmp SIZE           size of the tmpfs at /tmp [%s]\n"
            "  --cpus CORES         CPU quota in cores, e.g. 0.5; 0 for none [%g]\n"
            "  SIZE is bytes with an optional K, M, G or T suffix (powers of 1024);\n"
            "  TIME is seconds (2, 1.5s) or whole milliseconds (250ms). Every limit\n"
            "  but --cpus must be greater than 0.\n"
            "\n",
            memory, cpu, wall, defaults->pids, output, fsize, defaults->nofile, stack, disk, tmp,
            defaults->cpu_millis / 1000.0);
}

void cli_print_help(FILE *out, const struct jail_limits *defaults)
{
    fputs("usage: brig-jail [OPTIONS] [--] PROGRAM [ARGS...]\n"
          "       brig-jail [OPTIONS] --lang LANG --code FILE [--] [ARGS...]\n"
          "\n"
          "Runs one program in brig's jail (user, pid, mount, network, ipc, uts and\n"
          "cgroup namespaces, a cgroup with limits, rlimits and a seccomp filter),\n"
          "passes its stdout and stderr through as they come, and reports what\n"
          "became of it. Options end at \"--\" or at the first argument that is not\n"
          "an option; a value follows its option as the next argument or after '='.\n"
          "\n",
          out);
    print_limits_help(out, defaults);
    fputs("Filesystem and environment:\n"
          "  --ro-bind SRC[:DST]  bind host path SRC read-only at DST (default: SRC);\n"
          "                       both absolute; repeatable\n"
          "  --bind SRC[:DST]     the same, writable\n"
          "  --workdir DIR        bind host directory DIR writable at /work instead of a\n"
          "                       fresh tmpfs (not with --lang or --disk)\n"
          "  --env K=V            add K=V to the environment, which otherwise holds only\n"
          "                       PATH, HOME=/work, LANG=C.UTF-8, MPLBACKEND=Agg and\n"
          "                       MPLCONFIGDIR and XDG_CACHE_HOME in /tmp (PATH, HOME,\n"
          "                       LANG and BRIG_* are refused); repeatable\n"
          "  --stdin FILE         the program's stdin (\"-\": brig-jail's); default: empty\n"
          "\n"
          "Source code:\n"
          "  --lang LANG          run FILE's code with runtime LANG (a name or alias in the\n"
          "                       runtime table), compiling it first if the runtime does\n"
          "  --code FILE          the source code (\"-\": read from stdin)\n"
          "  --runtimes FILE      the runtime table; default: $BRIG_RUNTIMES when set, else\n"
          "                       the first that exists of <exe dir>/../share/brig/\n"
          "                       runtimes.json (installed) and sandbox/runtimes.json in\n"
          "                       the source tree brig-jail was built from; a runtime\n"
          "                       with a root image is unpacked by brig-image into\n"
          "                       $BRIG_IMAGES_DIR (default /var/cache/brig/images)\n"
          "\n"
          "Reporting:\n"
          "  --json FILE          write the outcome as JSON to FILE: status, exit_code,\n"
          "                       signal, wall_us, cpu_us, peak_memory_bytes, stdout and\n"
          "                       stderr (as text, invalid UTF-8 replaced by U+FFFD) with\n"
          "                       their byte counts and truncated flags, syscall, message,\n"
          "                       runtime {name, version} (--lang), policy_hash,\n"
          "                       cgroup_version and limits; \"-\" is stdout, and the\n"
          "                       program's stdout is then in the record only\n"
          "  -q, --quiet          no summary line on stderr at the end\n"
          "  -h, --help           this help\n"
          "  --version            brig-jail's version\n"
          "\n"
          "Exit status:\n"
          "  N        the program exited with status N (for --lang: ok or failed)\n"
          "  128+N    the program was killed by signal N\n"
          "  2        usage error: a bad option or value\n"
          "  119      compile_error: the runtime's compile step failed; its\n"
          "           diagnostics are printed on stderr\n"
          "  120      cpu_timeout: the CPU-time limit was reached\n"
          "  121      oom: the memory limit was reached\n"
          "  122      output_limit: the output limit was reached\n"
          "  123      seccomp: the program made a forbidden system call\n"
          "  124      timeout: the wall-time limit was reached\n"
          "  125      setup_error: the jail could not be set up (or brig failed)\n",
          out);
}

static const struct option_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

static int usage_error(char *err, size_t errlen, const char *option, const char *problem)
{
    snprintf(err, errlen, "--%s: %s", option, problem);
    return -1;
}

static int parse_size_option(const char *option, const char *value, uint64_t *out, char *err,
                             size_t errlen)
{
    char problem[192];

    if (units_parse_size(value, out, problem, sizeof(problem)) != 0)
        return usage_error(err, errlen, option, problem);
    if (*out == 0)
        return usage_error(err, errlen, option, "must be greater than 0");
    return 0;
}

static int parse_time_option(const char *option, const char *value, uint64_t *out, char *err,
                             size_t errlen)
{
    char problem[192];

    if (units_parse_duration_ms(value, out, problem, sizeof(problem)) != 0)
        return usage_error(err, errlen, option, problem);
    if (*out == 0)
        return usage_error(err, errlen, option, "must be at least 1ms");
    return 0;
}

static int parse_count_option(const char *option, const char *value, uint64_t *out, char *err,
                              size_t errlen)
{
    char problem[192];

    if (units_parse_count(value, out, problem, sizeof(problem)) != 0)
        return usage_error(err, errlen, option, problem);
    if (*out == 0)
        return usage_error(err, errlen, option, "must be greater than 0");
    return 0;
}

static int parse_cpus_option(const char *option, const char *value, uint32_t *out, char *err,
                             size_t errlen)
{
    char problem[192];

    if (units_parse_cpus(value, out, problem, sizeof(problem)) != 0)
        return usage_error(err, errlen, option, problem);
    return 0;
}

static int add_bind(struct cli_options *opts, const char *option, const char *value, bool writable,
                    char *err, size_t errlen)
{
    struct jail_bind *binds = realloc(opts->binds, (opts->n_binds + 1) * sizeof(*binds));
    char *src, *dst;
    char problem[160];

    if (binds == NULL)
        return usage_error(err, errlen, option, "out of memory");
    opts->binds = binds;
    src = strdup(value);
    if (src == NULL)
        return usage_error(err, errlen, option, "out of memory");
    dst = strchr(src, ':');
    if (dst != NULL)
        *dst++ = '\0';
    binds[opts->n_binds++] = (struct jail_bind){.src = src, .dst = dst, .writable = writable};
    if (src[0] != '/') {
        snprintf(problem, sizeof(problem), "\"%s\": the source must be an absolute path", value);
        return usage_error(err, errlen, option, problem);
    }
    if (dst != NULL && dst[0] != '/') {
        snprintf(problem, sizeof(problem), "\"%s\": the destination must be an absolute path",
                 value);
        return usage_error(err, errlen, option, problem);
    }
    return 0;
}

static int add_env(struct cli_options *opts, const char *option, const char *value, char *err,
                   size_t errlen)
{
    size_t key_len = strcspn(value, "=");
    char **env;
    char why[128], problem[256];

    if (value[key_len] != '=' || key_len == 0) {
        snprintf(problem, sizeof(problem), "\"%s\" is not K=V", value);
        return usage_error(err, errlen, option, problem);
    }
    if (!check_env_name(value, key_len, why, sizeof(why))) {
        snprintf(problem, sizeof(problem), "\"%.*s\": %s", (int)key_len, value, why);
        return usage_error(err, errlen, option, problem);
    }
    env = realloc(opts->env, (opts->n_env + 2) * sizeof(*env));
    if (env == NULL)
        return usage_error(err, errlen, option, "out of memory");
    opts->env = env;
    env[opts->n_env] = (char *)value;
    env[++opts->n_env] = NULL;
    return 0;
}

static int apply_option(struct cli_options *opts, const struct option_def *def, const char *value,
                        char *err, size_t errlen)
{
    struct jail_limits *limits = &opts->limits;
    const char *name = def->name;

    switch (def->id) {
    case OPT_MEM:
        return parse_size_option(name, value, &limits->memory_bytes, err, errlen);
    case OPT_CPU_TIME:
        return parse_time_option(name, value, &limits->cpu_ms, err, errlen);
    case OPT_WALL_TIME:
        return parse_time_option(name, value, &limits->wall_ms, err, errlen);
    case OPT_PIDS:
        return parse_count_option(name, value, &limits->pids, err, errlen);
    case OPT_OUTPUT_LIMIT:
        return parse_size_option(name, value, &limits->output_bytes, err, errlen);
    case OPT_FSIZE:
        return parse_size_option(name, value, &limits->fsize_bytes, err, errlen);
    case OPT_NOFILE:
        return parse_count_option(name, value, &limits->nofile, err, errlen);
    case OPT_STACK:
        return parse_size_option(name, value, &limits->stack_bytes, err, errlen);
    case OPT_DISK:
        return parse_size_option(name, value, &limits->disk_bytes, err, errlen);
    case OPT_TMP:
        return parse_size_option(name, value, &limits->tmp_bytes, err, errlen);
    case OPT_CPUS:
        return parse_cpus_option(name, value, &limits->cpu_millis, err, errlen);
    case OPT_RO_BIND:
        return add_bind(opts, name, value, false, err, errlen);
    case OPT_BIND:
        return add_bind(opts, name, value, true, err, errlen);
    case OPT_ENV:
        return add_env(opts, name, value, err, errlen);
    case OPT_WORKDIR:
        opts->workdir = value;
        break;
    case OPT_STDIN:
        opts->stdin_path = value;
        break;
    case OPT_JSON:
        opts->json_path = value;
        break;
    case OPT_RUNTIMES:
        opts->runtimes_path = value;
        break;
    case OPT_LANG:
        opts->lang = value;
        break;
    case OPT_CODE:
        opts->code_path = value;
        break;
    case OPT_QUIET:
        opts->quiet = true;
        break;
    case OPT_HELP:
        opts->help = true;
        break;
    case OPT_VERSION:
        opts->version = true;
        break;
    }
    return 0;
}

/* The combinations that cannot work, caught before anything runs. */
static int check_combinations(const struct cli_options *opts, bool disk_given, char *err,
                              size_t errlen)
{
    if (opts->lang != NULL && opts->code_path == NULL)
        return usage_error(err, errlen, "lang", "needs --code FILE");
    if (opts->code_path != NULL && opts->lang == NULL)
        return usage_error(err, errlen, "code", "needs --lang LANG");
    if (opts->lang == NULL && opts->program[0] == NULL) {
        snprintf(err, errlen,
                 "missing PROGRAM: give [--] PROGRAM [ARGS...], or --lang LANG --code FILE");
        return -1;
    }
    if (opts->lang != NULL && opts->workdir != NULL)
        return usage_error(err, errlen, "workdir",
                           "cannot be used with --lang, whose code goes into a fresh /work");
    if (opts->workdir != NULL && disk_given)
        return usage_error(err, errlen, "disk",
                           "sizes the fresh /work tmpfs, which --workdir replaces");
    if (opts->workdir != NULL && opts->workdir[0] != '/')
        return usage_error(err, errlen, "workdir", "must be an absolute path");
    if (opts->code_path != NULL && opts->stdin_path != NULL && strcmp(opts->code_path, "-") == 0 &&
        strcmp(opts->stdin_path, "-") == 0)
        return usage_error(err, errlen, "stdin", "cannot be \"-\" when --code reads stdin too");
    return 0;
}

int cli_parse(int argc, char **argv, const struct jail_limits *defaults, struct cli_options *opts,
              char *err, size_t errlen)
{
    static char *no_program[] = {NULL};
    bool disk_given = false;
    int i;

    memset(opts, 0, sizeof(*opts));
    opts->limits = *defaults;
    opts->program = no_program;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct option_def *def;
        const char *name, *value;
        size_t name_len;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0) {
            opts->help = true;
            continue;
        }
        if (strcmp(arg, "-q") == 0) {
            opts->quiet = true;
            continue;
        }
        if (arg[0] != '-')
            break;
        if (arg[1] != '-') {
            snprintf(err, errlen, "%s: unknown option (see --help)", arg);
            return -1;
        }
        name = arg + 2;
        name_len = strcspn(name, "=");
        def = find_option(name, name_len);
        if (def == NULL) {
            snprintf(err, errlen, "--%.*s: unknown option (see --help)", (int)name_len, name);
            return -1;
        }
        value = name[name_len] == '=' ? name + name_len + 1 : NULL;
        if (def->value == NULL && value != NULL)
            return usage_error(err, errlen, def->name, "takes no value");
        if (def->value != NULL && value == NULL) {
            if (i + 1 >= argc) {
                char problem[64];
                snprintf(problem, sizeof(problem), "missing its value, %s", def->value);
                return usage_error(err, errlen, def->name, problem);
            }
            value = argv[++i];
        }
        if (def->id == OPT_DISK)
            disk_given = true;
        if (apply_option(opts, def, value, err, errlen) != 0)
            return -1;
    }
    if (i < argc)
        opts->program = argv + i;
    if (opts->help || opts->version)
        return 0;
    return check_combinations(opts, disk_given, err, errlen);
}

void cli_options_free(struct cli_options *opts)
{
    for (size_t i = 0; i < opts->n_binds; i++)
        free((char *)opts->binds[i].src);
    free(opts->binds);
    free(opts->env);
    opts->binds = NULL;
    opts->n_binds = 0;
    opts->env = NULL;
    opts->n_env = 0;
}

int cli_exit_status(const struct jail_outcome *outcome)
{
    switch (outcome->status) {
    case BRIG_STATUS_OK:
    case BRIG_STATUS_FAILED:
        return outcome->exit_code & 0xff;
    case BRIG_STATUS_SIGNALED:
        return 128 + outcome->signal;
    case BRIG_STATUS_TIMEOUT:
        return CLI_EXIT_TIMEOUT;
    case BRIG_STATUS_CPU_TIMEOUT:
        return CLI_EXIT_CPU_TIMEOUT;
    case BRIG_STATUS_OOM:
        return CLI_EXIT_OOM;
    case BRIG_STATUS_OUTPUT_LIMIT:
        return CLI_EXIT_OUTPUT_LIMIT;
    case BRIG_STATUS_SECCOMP:
        return CLI_EXIT_SECCOMP;
    case BRIG_STATUS_COMPILE_ERROR:
        return CLI_EXIT_COMPILE_ERROR;
    default:
        return CLI_EXIT_SETUP;
    }
}
