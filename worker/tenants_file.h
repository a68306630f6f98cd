/* The tenants file (brig-worker --tenants FILE): who may send jobs, with
 * which keys, under which caps. JSON, read with jansson:
 *
 *   {"tenants": [
 *     {"name": "acme",                              required: [a-z0-9_-], 1-32 bytes
 *      "keys": ["ed25519:...", ...],                required: 1-8 public keys (rotation)
 *      "limits": {"memory_bytes": "512M", ...},     the highest limits of SCHEMA.md 5.1
 *      "concurrent_jobs": 4,                        jobs running at once, per worker
 *      "cpu_seconds_per_hour": 3600,                CPU in a sliding hour, per worker
 *      "runtimes": ["python", "bash", "argv"],      what it may run ("argv": argv jobs)
 *      "images": ["host", "/srv/images/py.tar"],    what its jobs may run on
 *      "egress": ["pypi.org:443"]}                  network, within the worker's own
 *   ]}
 *
 * Every cap is optional: an absent one bounds nothing beyond the worker's own
 * settings. An unknown field, a runtime the worker does not have, a limit
 * outside the schema's bounds or a name twice is an error naming it, so that
 * a misspelt cap never goes unnoticed. Limits take a number in the field's
 * own unit, or a string: a size for *_bytes ("512M"), a duration for *_ms
 * ("30s"), cores for cpu_millis ("0.5"). */
#ifndef BRIG_WORKER_TENANTS_FILE_H
#define BRIG_WORKER_TENANTS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"
#include "schema/signature.h"
#include "worker/egress_policy.h"

#define TENANT_KEYS_MAX 8
#define TENANTS_MAX 4096
/* The runtimes entry that allows jobs with argv instead of a runtime, and
 * the images entry for the host's own /usr and /etc. */
#define TENANT_ARGV "argv"
#define TENANT_HOST_IMAGE "host"

struct tenant_caps {
    struct brig_limits limits; /* 0: no cap on that limit */
    unsigned concurrent_jobs;  /* 0: none */
    uint64_t cpu_us_per_hour;  /* 0: none */
    char **runtimes;           /* canonical names, NULL-terminated; NULL: any */
    char **images;             /* "host", paths, "sha256:..." digests; NULL: any */
    bool egress_set;           /* egress bounds the job's network further */
    struct egress_rules egress;
};

struct tenant {
    char name[BRIG_TENANT_MAX + 1];
    uint8_t keys[TENANT_KEYS_MAX][BRIG_ED25519_KEY_BYTES];
    size_t n_keys;
    struct tenant_caps caps;
};

struct tenant_table {
    struct tenant *tenants; /* sorted by name */
    size_t count;
};

/* A runtime's canonical name, NULL when the worker has no such runtime
 * (aliases are resolved, so that a cap names what the result records). */
typedef const char *(*tenant_runtime_fn)(void *ctx, const char *name);

/* Reads path. Errors name the file, the tenant and the field. */
int tenant_table_load(const char *path, tenant_runtime_fn runtime_of, void *ctx,
                      struct tenant_table **out, char *err, size_t errlen);
void tenant_table_free(struct tenant_table *table);

/* The tenant of that name, NULL when there is none. */
const struct tenant *tenant_find(const struct tenant_table *table, const char *name);

#endif
