/* brig-worker's settings: command-line flags, with BRIG_* environment
 * variables as the fallback and built-in defaults last. */
#ifndef BRIG_WORKER_CONFIG_H
#define BRIG_WORKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/properties.h"
#include "sandbox/sandbox.h"
#include "worker/log.h"

struct worker_config {
    char *brokers;        /* NULL: start the embedded broker */
    bool embedded_broker; /* brokers is the embedded broker's address */
    char *group;          /* consumer group id */
    char *topic_prefix;   /* topics <prefix>.jobs .results .logs .dlq */
    unsigned concurrency;
    char *audit_db; /* NULL: the first free audit-N.db in data_dir */
    char *data_dir; /* where audit stores live by default */
    char *state_dir;
    char *worker_id;
    char *runtimes;          /* runtime table; NULL: the default search */
    char *images_dir;        /* where brig-image keeps runtimes' root images unpacked */
    char *egress_allow;      /* the operator's egress allow-list; NULL: no job gets network */
    char *secrets;           /* the operator's secrets file; NULL: none */
    char *egress_ca_file;    /* more CAs for the hosts secrets are bound to; NULL: none */
    struct jail_bind *binds; /* --ro-bind, in every jail; src and dst are one allocation */
    size_t n_binds;
    char **job_env; /* --job-env NAME=VALUE, in every job's environment; NULL-terminated */
    uint64_t drain_timeout_ms;
    uint64_t revoke_timeout_ms;
    int partitions; /* of the embedded broker's topics */
    char *sessions_dir;
    uint64_t session_quota_bytes;
    uint64_t session_ttl_ms; /* 0 = sessions never expire */
    /* Sessions' live interpreters (interp.h). */
    unsigned max_interpreters;
    uint64_t interpreter_lifetime_ms;
    uint64_t interrupt_grace_ms;
    /* Kafka client properties: --kafka-config's, then -X's; applied last */
    struct property_list properties;
    char *metrics_addr;           /* HOST:PORT of /metrics /healthz /readyz; NULL: none */
    char *tenants;                /* the tenants file (worker/tenants.h); NULL: no tenants */
    uint64_t signature_window_ms; /* how far a signed ts may be from the worker's clock */
    enum log_format log_format;
    enum log_level log_level;
};

/* Fills config from argv and the environment. Returns 0, 1 when --help was
 * printed, or -1 with a message naming the option in err. */
int worker_config_parse(int argc, char **argv, struct worker_config *config, char *err,
                        size_t errlen);
void worker_config_free(struct worker_config *config);

/* The topic <prefix>.<suffix> in buf. */
const char *worker_topic(const struct worker_config *config, const char *suffix, char *buf,
                         size_t len);

#endif
