/* brig audit sync: a fleet store from <prefix>.audit, so that brig audit and
 * brig replay work on a host that ran none of the jobs. Each run reads the
 * topic from where the last one stopped (the positions are in the store,
 * committed with the records they cover) up to its end as it was at the
 * start; a record already applied changes nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "producer/audit_dbs.h"
#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/kafka_setup.h"
#include "worker/audit_fleet.h"

#define POLL_MS 200
/* Records applied per transaction. */
#define COMMIT_EVERY 500
/* Refusals shown one by one; past it, only counted. */
#define REFUSALS_SHOWN 10

static const char sync_help[] =
    "usage: brig audit sync [--out DB] [--timeout T] [--brokers LIST] [--topic-prefix P]\n"
    "                       [--kafka-config FILE] [-X KEY=VALUE]...\n"
    "\n"
    "Builds, or brings up to date, an audit store with the records every worker\n"
    "published to <prefix>.audit, so that brig audit ls / show and brig replay\n"
    "work on any host. Each run reads on from where the last one stopped, up to\n"
    "the topic's end; a record already applied changes nothing.\n"
    "\n"
    "  --out DB        the store (default: fleet.db in $BRIG_DATA_DIR, else\n"
    "                  /var/lib/brig, where brig audit and brig replay look)\n"
    "  --timeout T     how long the cluster may stay silent (default 30s)\n"
    "  --brokers LIST, --topic-prefix P, --kafka-config FILE, -X KEY=VALUE\n"
    "                  as for brig run\n"
    "\n"
    "Exit status: 0 synced, 1 some records could not be applied (they are named),\n"
    "125 the store or the cluster failed, 2 usage.\n";

enum { OPT_OUT = 1200, OPT_TIMEOUT };

struct sync_options {
    struct cli_common common;
    const char *out;
    int64_t timeout_ms;
};

struct counts {
    uint64_t read, applied, duplicates, waiting, refused;
};

/* A partition being read: to its end as it was at the start. */
struct part {
    int32_t id;
    int64_t end;
    bool done;
};

static int parse(int argc, char **argv, struct sync_options *o, char *err, size_t errlen)
{
    static const struct option options[] = {
        CLI_COMMON_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int id;
    o->timeout_ms = 30000;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (id == 'h')
            return 1;
        if (id == OPT_OUT) {
            o->out = optarg;
        } else if (id == OPT_TIMEOUT) {
            if (cli_parse_timeout(optarg, &o->timeout_ms, err, errlen) < 0)
                return -1;
        } else if (!cli_common_option(id, optarg, &o->common)) {
            cli_option_error(id, argv, err, errlen);
            return -1;
        }
    }
    if (optind != argc) {
        snprintf(err, errlen, "sync takes no operand");
        return -1;
    }
    return 0;
}

/* --out, else fleet.db in the data directory, which is made when missing. */
static int store_path(const struct sync_options *o, char *path, size_t len)
{
    if (o->out) {
        snprintf(path, len, "%s", o->out);
        return 0;
    }
    const char *dir = audit_data_dir();
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        cli_error("audit", "creating the data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, len, "%s/%s", dir, AUDIT_FLEET_DB);
    return 0;
}

/* Assigns each partition at the store's position, those with records past
 * it only; *parts gets them. */
static int assign(rd_kafka_t *consumer, struct fleet_store *fs, const char *topic,
                  const struct kafka_params *params, struct part **parts, size_t *n, char *err,
                  size_t errlen)
{
    rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_t *mine = rd_kafka_topic_partition_list_new(16);
    int rc = -1;
    *n = 0;
    if (kafka_partitions(consumer, topic, params, all, err, errlen) < 0)
        goto out;
    if (!(*parts = calloc((size_t)all->cnt, sizeof **parts))) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        goto out;
    }
    for (int i = 0; i < all->cnt; i++) {
        int32_t id = all->elems[i].partition;
        int64_t next, low, high;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(consumer, topic, id, &low, &high, params->timeout_ms);
        if (e) {
            snprintf(err, errlen, "reading the offsets of %s [%" PRId32 "]: %s", topic, id,
                     rd_kafka_err2str(e));
            goto out;
        }
        if (fleet_position(fs, topic, id, &next, err, errlen) < 0)
            goto out;
        if (next >= 0 && next < low)
            cli_error("audit",
                      "warning: records %" PRId64 "..%" PRId64 " of %s [%" PRId32
                      "] were deleted before this store read them (the topic's retention.ms "
                      "should be -1)",
                      next, low - 1, topic, id);
        int64_t start = next > low ? next : low;
        if (start >= high)
            continue;
        rd_kafka_topic_partition_list_add(mine, topic, id)->offset = start;
        (*parts)[(*n)++] = (struct part){.id = id, .end = high};
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(consumer, mine);
    if (e) {
        snprintf(err, errlen, "assigning the partitions of %s: %s", topic, rd_kafka_err2str(e));
        goto out;
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(all);
    rd_kafka_topic_partition_list_destroy(mine);
    return rc;
}

static bool all_done(const struct part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!parts[i].done)
            return false;
    return true;
}

static void note_position(struct part *parts, size_t n, int32_t id, int64_t next)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i].id == id && next >= parts[i].end)
            parts[i].done = true;
}

static int take(struct fleet_store *fs, const rd_kafka_message_t *m, struct counts *c, char *err,
                size_t errlen)
{
    char why[512];
    int outcome = fleet_add(fs, rd_kafka_topic_name(m->rkt), m->partition, m->offset, m->payload,
                            m->len, why, sizeof why, err, errlen);
    if (outcome < 0)
        return -1;
    c->read++;
    if (outcome == FLEET_APPLIED)
        c->applied++;
    else if (outcome == FLEET_DUPLICATE)
        c->duplicates++;
    else if (outcome == FLEET_REFUSED && c->refused++ < REFUSALS_SHOWN)
        cli_error("audit", "record at %s [%" PRId32 "] offset %" PRId64 " not applied: %s",
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset, why);
    if (c->read % COMMIT_EVERY == 0)
        return fleet_commit(fs, err, errlen);
    return 0;
}

/* Reads every assigned partition to its end. */
static int read_topic(rd_kafka_t *consumer, struct fleet_store *fs, struct part *parts, size_t n,
                      int64_t timeout_ms, struct counts *c, char *err, size_t errlen)
{
    int64_t quiet_since = monotonic_ms();
    while (!all_done(parts, n)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, POLL_MS);
        if (!m) {
            if (timeout_ms >= 0 && monotonic_ms() - quiet_since > timeout_ms) {
                snprintf(err, errlen, "no record arrived for %" PRId64 " ms before the end",
                         timeout_ms);
                return -1;
            }
            continue;
        }
        quiet_since = monotonic_ms();
        int rc = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            note_position(parts, n, m->partition, m->offset);
        } else if (m->err) {
            snprintf(err, errlen, "reading %s: %s", rd_kafka_topic_name(m->rkt),
                     rd_kafka_message_errstr(m));
            rc = -1;
        } else {
            rc = take(fs, m, c, err, errlen);
            note_position(parts, n, m->partition, m->offset + 1);
        }
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return -1;
    }
    return fleet_commit(fs, err, errlen);
}

static int sync_store(const struct sync_options *o, struct fleet_store *fs, const char *topic,
                      struct counts *c, char *err, size_t errlen)
{
    struct brig_client_config config = {0};
    struct property_list props = {0};
    struct kafka_diag diag;
    struct part *parts = NULL;
    char brokers[1024];
    uint64_t applied_later;
    size_t n;
    int rc = -1;
    if (cli_client_config("audit", &o->common, &config, brokers, sizeof brokers) < 0)
        return CLI_EXIT_SETUP;
    kafka_diag_init(&diag);
    const struct kafka_params params = {
        .brokers = brokers,
        .client_id = "brig-audit-sync",
        .timeout_ms = o->timeout_ms > 0 ? (unsigned)o->timeout_ms : 30000,
        .diag = &diag,
        .properties = &props,
    };
    rd_kafka_t *consumer = kafka_load_properties(&config, &props, err, errlen) == 0
                               ? kafka_consumer_create(&params, true, err, errlen)
                               : NULL;
    if (consumer && kafka_check_reachable(consumer, &params, err, errlen) == 0 &&
        assign(consumer, fs, topic, &params, &parts, &n, err, errlen) == 0 &&
        read_topic(consumer, fs, parts, n, o->timeout_ms, c, err, errlen) == 0 &&
        fleet_apply_waiting(fs, &applied_later, &c->waiting, err, errlen) == 0) {
        c->applied += applied_later;
        rc = 0;
    }
    free(parts);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    kafka_diag_destroy(&diag);
    properties_free(&props);
    return rc;
}

int cmd_audit_sync(int argc, char **argv)
{
    struct sync_options o = {0};
    struct fleet_store *fs = NULL;
    struct counts c = {0};
    char err[1024], path[4096], topic[BRIG_TOPIC_MAX + 2];
    int parsed = parse(argc, argv, &o, err, sizeof err);
    if (parsed != 0) {
        cli_common_free(&o.common);
        return parsed > 0 ? (fputs(sync_help, stdout), 0) : cli_usage_error("audit", err);
    }
    cli_common_defaults(&o.common);
    const char *prefix = o.common.topic_prefix ? o.common.topic_prefix : "brig";
    int rc = CLI_EXIT_SETUP;
    if (snprintf(topic, sizeof topic, "%s.audit", prefix) > BRIG_TOPIC_MAX) {
        cli_error("audit", "--topic-prefix: the audit topic's name would be over %d bytes",
                  BRIG_TOPIC_MAX);
        goto out;
    }
    if (store_path(&o, path, sizeof path) < 0)
        goto out;
    if (fleet_open(path, &fs, err, sizeof err) < 0) {
        cli_error("audit", "%s", err);
        goto out;
    }
    int synced = sync_store(&o, fs, topic, &c, err, sizeof err);
    if (synced != 0) {
        if (synced < 0)
            cli_error("audit", "%s (what was read before is kept)", err);
        rc = CLI_EXIT_SETUP;
        goto out;
    }
    printf("synced %" PRIu64 " record(s) of %s into %s: %" PRIu64 " applied, %" PRIu64
           " already there, %" PRIu64 " waiting for records not on the topic yet, %" PRIu64
           " refused\n",
           c.read, topic, path, c.applied, c.duplicates, c.waiting, c.refused);
    rc = c.refused > 0 ? 1 : 0;
out:
    if (fleet_close(fs, err, sizeof err) < 0) {
        cli_error("audit", "%s", err);
        rc = CLI_EXIT_SETUP;
    }
    cli_common_free(&o.common);
    return rc;
}
