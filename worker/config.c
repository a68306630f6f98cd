#include "worker/config.h"

#include "brig_version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/image.h"
#include "sandbox/session.h"
#include "common/units.h"
#include "sandbox/session.h"
#include "schema/bounds.h"
#include "worker/state_file.h"

static const char usage[] =
    "usage: brig-worker [OPTIONS]\n"
    "\n"
    "Runs jobs from Kafka in jails: consumes <prefix>.jobs as one consumer group,\n"
    "publishes results to <prefix>.results (or the job's reply topic), live output\n"
    "to <prefix>.logs and invalid messages to <prefix>.dlq.\n"
    "\n"
    "Each option falls back to the environment variable named after it.\n"
    "  --brokers LIST        bootstrap servers (BRIG_BROKERS); none: start an embedded\n"
    "                        in-memory broker and publish its address in the state dir\n"
    "  --group ID            consumer group (BRIG_GROUP; default brig-workers)\n"
    "  --topic-prefix P      topic prefix (BRIG_TOPIC_PREFIX; default brig)\n"
    "  --concurrency N       jail slots (BRIG_CONCURRENCY; default: number of CPUs)\n"
    "  --audit-db PATH       audit store (BRIG_AUDIT_DB; default: the first free\n"
    "                        audit-N.db in the data dir)\n"
    "  --data-dir DIR        (BRIG_DATA_DIR; default /var/lib/brig)\n"
    "  --state-dir DIR       (BRIG_STATE_DIR; default /run/brig)\n"
    "  --worker-id ID        (BRIG_WORKER_ID; default host name and pid)\n"
    "  --runtimes FILE       runtime table (BRIG_RUNTIMES)\n"
    "  --images-dir DIR      where the runtimes' root images are unpacked, once\n"
    "                        (BRIG_IMAGES_DIR; default /var/cache/brig/images)\n"
    "  --ro-bind SRC[:DST]   bind host path SRC read-only into every jail at DST\n"
    "                        (default: SRC): a wheelhouse, an npm cache; repeatable\n"
    "                        (BRIG_RO_BINDS: comma-separated)\n"
    "  --job-env NAME=VALUE  put NAME=VALUE in every job's environment (a job's own\n"
    "                        env still wins), e.g. PIP_FIND_LINKS=/opt/wheels;\n"
    "                        repeatable\n"
    "  --egress-allow RULES  what jobs may reach through the egress proxy, at most:\n"
    "                        comma-separated host, *.suffix, address, each with an\n"
    "                        optional :port (BRIG_EGRESS_ALLOW; default none: a job\n"
    "                        that asks for network is rejected)\n"
    "  --secrets FILE        the operator's secrets (JSON, mode 0600): jobs name them\n"
    "                        and see placeholders; the egress proxy puts the values\n"
    "                        in on the way out to the hosts they are bound to\n"
    "                        (BRIG_SECRETS)\n"
    "  --egress-ca-file FILE more CAs (PEM) the proxy trusts for the hosts secrets\n"
    "                        are bound to, beside the system's (BRIG_EGRESS_CA_FILE)\n"
    "  --drain-timeout T     on SIGTERM, how long in-flight jobs may finish (default 30s)\n"
    "  --revoke-timeout T    on a rebalance, how long a revoked partition's jobs may\n"
    "                        finish before they are stopped (default 10s)\n"
    "  --partitions N        partitions of the topics the worker creates (default: 4\n"
    "                        on the embedded broker, 12 on a cluster)\n"
    "  --sessions-dir DIR    session workspaces, shared by the workers of this host\n"
    "                        (BRIG_SESSIONS_DIR; default <state dir>/sessions)\n"
    "  --session-quota SIZE  size of a new session's workspace (default 256M)\n"
    "  --session-ttl T       idle time after which a session is removed (default 1h;\n"
    "                        0 = never)\n"
    "  --tenants FILE        who may send jobs, with their keys and caps (BRIG_TENANTS;\n"
    "                        default none: jobs are not signed); SIGHUP reads it again\n"
    "  --signature-window T  how far a signed job's time may be from this worker's\n"
    "                        clock, either way (default 5m)\n"
    "  --max-interpreters N  sessions' live interpreters at most; past it the least\n"
    "                        recently used idle one ends (default 32)\n"
    "  --interpreter-lifetime T\n"
    "                        the longest a session's interpreter lives (default 1h)\n"
    "  --interrupt-grace T   from a cell's interrupt (limit, cancel) to its\n"
    "                        interpreter's kill (default 2s)\n"
    "  --kafka-config FILE   librdkafka properties, one KEY=VALUE a line (security,\n"
    "                        tuning) for every Kafka client (BRIG_KAFKA_CONFIG)\n"
    "  -X KEY=VALUE          one more property, after the file's; repeatable\n"
    "  --metrics-addr HOST:PORT\n"
    "                        serve /metrics (Prometheus), /healthz and /readyz there\n"
    "                        (BRIG_METRICS_ADDR; default: not served)\n"
    "  --log-format F        text or json, one line per event on stderr\n"
    "                        (BRIG_LOG_FORMAT; default text)\n"
    "  --log-level L         debug, info, warn or error (BRIG_LOG_LEVEL; default info)\n"
    "  --version             print brig-worker's version and exit\n"
    "  --help\n";

static char *option_or_env(const char *value, const char *env, const char *fallback)
{
    const char *v = value ? value : getenv(env);
    if (!v || !*v)
        v = fallback;
    return v ? strdup(v) : NULL;
}

/* SRC or SRC:DST; the paths themselves are the jail's to check. */
static int add_bind(struct worker_config *config, const char *text, char *err, size_t errlen)
{
    struct jail_bind *grown = realloc(config->binds, (config->n_binds + 1) * sizeof(*grown));
    char *src = grown ? strdup(text) : NULL;
    if (!src) {
        if (grown)
            config->binds = grown;
        snprintf(err, errlen, "--ro-bind %s: out of memory", text);
        return -1;
    }
    config->binds = grown;
    char *dst = strchr(src, ':');
    if (dst)
        *dst++ = '\0';
    grown[config->n_binds++] = (struct jail_bind){.src = src, .dst = dst};
    return 0;
}

/* BRIG_RO_BINDS, when no --ro-bind was given. */
static int add_binds_from_env(struct worker_config *config, char *err, size_t errlen)
{
    const char *list = getenv("BRIG_RO_BINDS");
    char *copy = list && *list ? strdup(list) : NULL;
    int rc = 0;
    if (list && *list && !copy) {
        snprintf(err, errlen, "BRIG_RO_BINDS: out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && rc == 0;
         item = strtok_r(NULL, ",", &save))
        rc = add_bind(config, item, err, errlen);
    free(copy);
    return rc;
}

static int add_job_env(struct worker_config *config, const char *text, char *err, size_t errlen)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text) {
        snprintf(err, errlen, "--job-env %s: expected NAME=VALUE", text);
        return -1;
    }
    size_t n = strv_len((const char *const *)config->job_env);
    char **grown = realloc(config->job_env, (n + 2) * sizeof(*grown));
    if (grown)
        config->job_env = grown;
    if (!grown || !(grown[n] = strdup(text))) {
        snprintf(err, errlen, "--job-env %s: out of memory", text);
        return -1;
    }
    grown[n + 1] = NULL;
    return 0;
}

static int parse_duration(const char *name, const char *text, uint64_t *ms, char *err,
                          size_t errlen)
{
    char why[256];
    if (units_parse_duration_ms(text, ms, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", name, why);
        return -1;
    }
    return 0;
}

static int parse_count(const char *name, const char *text, uint64_t min, uint64_t max,
                       uint64_t *out, char *err, size_t errlen)
{
    char why[256];
    if (units_parse_count(text, out, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", name, why);
        return -1;
    }
    if (*out < min || *out > max) {
        snprintf(err, errlen, "%s: %s is out of range (%llu to %llu)", name, text,
                 (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    return 0;
}

enum {
    OPT_BROKERS = 256,
    OPT_GROUP,
    OPT_PREFIX,
    OPT_CONCURRENCY,
    OPT_AUDIT_DB,
    OPT_DATA_DIR,
    OPT_STATE_DIR,
    OPT_WORKER_ID,
    OPT_RUNTIMES,
    OPT_IMAGES_DIR,
    OPT_EGRESS_ALLOW,
    OPT_SECRETS,
    OPT_EGRESS_CA_FILE,
    OPT_RO_BIND,
    OPT_JOB_ENV,
    OPT_DRAIN,
    OPT_REVOKE,
    OPT_PARTITIONS,
    OPT_SESSIONS_DIR,
    OPT_SESSION_QUOTA,
    OPT_SESSION_TTL,
    OPT_METRICS_ADDR,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_VERSION,
    OPT_KAFKA_CONFIG,
    OPT_TENANTS,
    OPT_SIGNATURE_WINDOW,
    OPT_MAX_INTERPRETERS,
    OPT_INTERPRETER_LIFETIME,
    OPT_INTERRUPT_GRACE,
};

int worker_config_parse(int argc, char **argv, struct worker_config *config, char *err,
                        size_t errlen)
{
    static const struct option options[] = {
        {"brokers", required_argument, NULL, OPT_BROKERS},
        {"group", required_argument, NULL, OPT_GROUP},
        {"topic-prefix", required_argument, NULL, OPT_PREFIX},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"audit-db", required_argument, NULL, OPT_AUDIT_DB},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"worker-id", required_argument, NULL, OPT_WORKER_ID},
        {"runtimes", required_argument, NULL, OPT_RUNTIMES},
        {"images-dir", required_argument, NULL, OPT_IMAGES_DIR},
        {"egress-allow", required_argument, NULL, OPT_EGRESS_ALLOW},
        {"secrets", required_argument, NULL, OPT_SECRETS},
        {"egress-ca-file", required_argument, NULL, OPT_EGRESS_CA_FILE},
        {"ro-bind", required_argument, NULL, OPT_RO_BIND},
        {"job-env", required_argument, NULL, OPT_JOB_ENV},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"revoke-timeout", required_argument, NULL, OPT_REVOKE},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"sessions-dir", required_argument, NULL, OPT_SESSIONS_DIR},
        {"session-quota", required_argument, NULL, OPT_SESSION_QUOTA},
        {"session-ttl", required_argument, NULL, OPT_SESSION_TTL},
        {"metrics-addr", required_argument, NULL, OPT_METRICS_ADDR},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"kafka-config", required_argument, NULL, OPT_KAFKA_CONFIG},
        {"tenants", required_argument, NULL, OPT_TENANTS},
        {"signature-window", required_argument, NULL, OPT_SIGNATURE_WINDOW},
        {"max-interpreters", required_argument, NULL, OPT_MAX_INTERPRETERS},
        {"interpreter-lifetime", required_argument, NULL, OPT_INTERPRETER_LIFETIME},
        {"interrupt-grace", required_argument, NULL, OPT_INTERRUPT_GRACE},
        {0},
    };
    const char *brokers = NULL, *group = NULL, *prefix = NULL, *concurrency = NULL;
    const char *audit_db = NULL, *data_dir = NULL, *state_dir = NULL, *worker_id = NULL;
    const char *runtimes = NULL, *sessions_dir = NULL, *egress_allow = NULL, *images_dir = NULL;
    const char *metrics_addr = NULL, *log_format = NULL, *log_level = NULL;
    const char *kafka_config = NULL, *secrets = NULL, *egress_ca_file = NULL, *tenants = NULL;
    struct property_list overrides = {0}; /* -X, applied after --kafka-config */
    uint64_t number;
    int opt;

    memset(config, 0, sizeof(*config));
    config->drain_timeout_ms = 30000;
    config->revoke_timeout_ms = 10000;
    config->partitions = 0; /* the default of wherever the topics are made */
    config->session_quota_bytes = 256ull << 20;
    config->session_ttl_ms = 3600ull * 1000;
    config->signature_window_ms = 5 * 60 * 1000;
    config->max_interpreters = 32;
    config->interpreter_lifetime_ms = 3600ull * 1000;
    config->interrupt_grace_ms = 2000;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "X:", options, NULL)) != -1) {
        switch (opt) {
        case OPT_BROKERS:
            brokers = optarg;
            break;
        case OPT_GROUP:
            group = optarg;
            break;
        case OPT_PREFIX:
            prefix = optarg;
            break;
        case OPT_CONCURRENCY:
            concurrency = optarg;
            break;
        case OPT_AUDIT_DB:
            audit_db = optarg;
            break;
        case OPT_DATA_DIR:
            data_dir = optarg;
            break;
        case OPT_STATE_DIR:
            state_dir = optarg;
            break;
        case OPT_WORKER_ID:
            worker_id = optarg;
            break;
        case OPT_RUNTIMES:
            runtimes = optarg;
            break;
        case OPT_IMAGES_DIR:
            images_dir = optarg;
            break;
        case OPT_EGRESS_ALLOW:
            egress_allow = optarg;
            break;
        case OPT_SECRETS:
            secrets = optarg;
            break;
        case OPT_EGRESS_CA_FILE:
            egress_ca_file = optarg;
            break;
        case OPT_RO_BIND:
            if (add_bind(config, optarg, err, errlen) < 0)
                goto fail;
            break;
        case OPT_JOB_ENV:
            if (add_job_env(config, optarg, err, errlen) < 0)
                goto fail;
            break;
        case OPT_DRAIN:
            if (parse_duration("--drain-timeout", optarg, &config->drain_timeout_ms, err, errlen) <
                0)
                goto fail;
            break;
        case OPT_REVOKE:
            if (parse_duration("--revoke-timeout", optarg, &config->revoke_timeout_ms, err,
                               errlen) < 0)
                goto fail;
            break;
        case OPT_PARTITIONS:
            if (parse_count("--partitions", optarg, 1, 1024, &number, err, errlen) < 0)
                goto fail;
            config->partitions = (int)number;
            break;
        case OPT_SESSIONS_DIR:
            sessions_dir = optarg;
            break;
        case OPT_SESSION_QUOTA: {
            char why[256];
            if (units_parse_size(optarg, &config->session_quota_bytes, why, sizeof(why)) < 0) {
                snprintf(err, errlen, "--session-quota: %s", why);
                goto fail;
            }
            break;
        }
        case OPT_SESSION_TTL:
            if (parse_duration("--session-ttl", optarg, &config->session_ttl_ms, err, errlen) < 0)
                goto fail;
            break;
        case OPT_MAX_INTERPRETERS:
            if (parse_count("--max-interpreters", optarg, 1, 4096, &number, err, errlen) < 0)
                goto fail;
            config->max_interpreters = (unsigned)number;
            break;
        case OPT_INTERPRETER_LIFETIME:
            if (parse_duration("--interpreter-lifetime", optarg, &config->interpreter_lifetime_ms,
                               err, errlen) < 0)
                goto fail;
            break;
        case OPT_INTERRUPT_GRACE:
            if (parse_duration("--interrupt-grace", optarg, &config->interrupt_grace_ms, err,
                               errlen) < 0)
                goto fail;
            break;
        case OPT_METRICS_ADDR:
            metrics_addr = optarg;
            break;
        case OPT_LOG_FORMAT:
            log_format = optarg;
            break;
        case OPT_LOG_LEVEL:
            log_level = optarg;
            break;
        case 'X':
            if (properties_add(&overrides, optarg, err, errlen) < 0)
                goto fail;
            break;
        case OPT_KAFKA_CONFIG:
            kafka_config = optarg;
            break;
        case OPT_TENANTS:
            tenants = optarg;
            break;
        case OPT_SIGNATURE_WINDOW:
            if (parse_duration("--signature-window", optarg, &config->signature_window_ms, err,
                               errlen) < 0)
                goto fail;
            break;
        case OPT_HELP:
            fputs(usage, stdout);
            properties_free(&overrides);
            return 1;
        case OPT_VERSION:
            printf("brig-worker %s\n", BRIG_VERSION);
            properties_free(&overrides);
            return 1;
        default:
            snprintf(err, errlen, "unknown or incomplete option %s (see --help)", argv[optind - 1]);
            goto fail;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument %s (see --help)", argv[optind]);
        goto fail;
    }
    if (properties_load(&config->properties, kafka_config, &overrides, err, errlen) < 0)
        goto fail;

    char buf[4096];
    config->brokers = option_or_env(brokers, "BRIG_BROKERS", NULL);
    config->group = option_or_env(group, "BRIG_GROUP", "brig-workers");
    config->topic_prefix = option_or_env(prefix, "BRIG_TOPIC_PREFIX", "brig");
    /* Kafka names: at most 249 of [A-Za-z0-9._-], and ".results" is appended. */
    size_t plen = strlen(config->topic_prefix);
    if (plen == 0 || plen > BRIG_TOPIC_MAX - 8 ||
        strspn(config->topic_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789._-") != plen) {
        snprintf(err, errlen, "--topic-prefix %s: 1 to %d of A-Z a-z 0-9 . _ -",
                 config->topic_prefix, BRIG_TOPIC_MAX - 8);
        return -1;
    }
    config->audit_db = option_or_env(audit_db, "BRIG_AUDIT_DB", NULL);
    config->data_dir = option_or_env(data_dir, "BRIG_DATA_DIR", "/var/lib/brig");
    config->state_dir = state_dir ? strdup(state_dir) : strdup(brig_state_dir(buf, sizeof(buf)));
    config->runtimes = option_or_env(runtimes, "BRIG_RUNTIMES", NULL);
    config->images_dir = option_or_env(images_dir, "BRIG_IMAGES_DIR", IMAGE_DEFAULT_DIR);
    config->egress_allow = option_or_env(egress_allow, "BRIG_EGRESS_ALLOW", NULL);
    config->secrets = option_or_env(secrets, "BRIG_SECRETS", NULL);
    config->egress_ca_file = option_or_env(egress_ca_file, "BRIG_EGRESS_CA_FILE", NULL);
    bool binds_from_env = config->n_binds == 0;
    if (binds_from_env && add_binds_from_env(config, err, errlen) < 0)
        return -1;
    char why[512];
    if (jail_binds_check(config->binds, config->n_binds, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s %s", binds_from_env ? "BRIG_RO_BINDS:" : "--ro-bind", why);
        return -1;
    }
    config->sessions_dir = sessions_dir
                               ? strdup(sessions_dir)
                               : strdup(brig_sessions_dir(config->state_dir, buf, sizeof(buf)));

    config->metrics_addr = option_or_env(metrics_addr, "BRIG_METRICS_ADDR", NULL);
    config->tenants = option_or_env(tenants, "BRIG_TENANTS", NULL);
    log_format = log_format ? log_format : getenv("BRIG_LOG_FORMAT");
    if (log_format && *log_format && log_format_parse(log_format, &config->log_format) < 0) {
        snprintf(err, errlen, "--log-format %s: expected text or json", log_format);
        return -1;
    }
    config->log_level = LOG_LEVEL_INFO;
    log_level = log_level ? log_level : getenv("BRIG_LOG_LEVEL");
    if (log_level && *log_level && log_level_parse(log_level, &config->log_level) < 0) {
        snprintf(err, errlen, "--log-level %s: expected debug, info, warn or error", log_level);
        return -1;
    }

    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(buf, sizeof(buf), "%s-%d", host, (int)getpid());
    config->worker_id = option_or_env(worker_id, "BRIG_WORKER_ID", buf);

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    config->concurrency = cpus > 0 ? (unsigned)cpus : 1;
    concurrency = concurrency ? concurrency : getenv("BRIG_CONCURRENCY");
    if (concurrency && *concurrency) {
        if (parse_count("--concurrency", concurrency, 1, 1024, &number, err, errlen) < 0)
            return -1;
        config->concurrency = (unsigned)number;
    }
    return 0;

fail:
    properties_free(&overrides);
    return -1;
}

void worker_config_free(struct worker_config *config)
{
    free(config->brokers);
    free(config->group);
    free(config->topic_prefix);
    free(config->audit_db);
    free(config->data_dir);
    free(config->state_dir);
    free(config->worker_id);
    free(config->runtimes);
    free(config->images_dir);
    free(config->egress_allow);
    free(config->secrets);
    free(config->egress_ca_file);
    for (size_t i = 0; i < config->n_binds; i++)
        free((char *)config->binds[i].src);
    free(config->binds);
    strv_free(config->job_env);
    free(config->sessions_dir);
    free(config->metrics_addr);
    free(config->tenants);
    properties_free(&config->properties);
    memset(config, 0, sizeof(*config));
}

const char *worker_topic(const struct worker_config *config, const char *suffix, char *buf,
                         size_t len)
{
    snprintf(buf, len, "%s.%s", config->topic_prefix, suffix);
    return buf;
}
