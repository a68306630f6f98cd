/* The operator's secrets (brig-worker --secrets FILE): named values that
 * never enter a jail. A job names the secrets it uses (the job field
 * "secrets"); its environment holds a placeholder for each, and the egress
 * proxy puts the value in the one place the operator bound it to, on the way
 * out (egress_secrets.h).
 *
 * The file is JSON, owned by the worker's user and readable by nobody else
 * (mode 0600 or stricter), as is every value_file it names:
 *
 *   {"secrets": {
 *     "OPENAI_API_KEY": {
 *       "value_file": "/etc/brig/openai.key",
 *       "bindings": [{"host": "api.openai.com", "header": "Authorization",
 *                     "template": "Bearer ${OPENAI_API_KEY}"}]},
 *     "GH_TOKEN": {
 *       "value_env": "GH_TOKEN",
 *       "bindings": [{"host": "api.github.com:443", "basic_auth": "x-access-token"}]},
 *     "INLINE": {"value": "s3cr3t", "tenant": "*",
 *                "bindings": [{"host": "localhost:8443", "header": "X-Api-Key",
 *                              "template": "${INLINE}"}]}}}
 *
 * A name is an environment variable's name (the job's placeholder variable).
 * The value is given once: inline ("value"), in a file ("value_file", one
 * trailing newline dropped) or in the worker's environment ("value_env": the
 * variable is then wiped from the worker's environment, so that nothing the
 * worker starts later inherits it). A value is printable ASCII (it travels in
 * an HTTP header), at most SECRET_VALUE_MAX bytes.
 *
 * A binding names a host (a DNS name, lowercase, no suffix pattern, no
 * address: the worker's CA names it) with an optional port (443 when none),
 * and where the value goes: "header" with a "template" in which ${NAME}, the
 * secret's own name, stands for the value, or "basic_auth" with a user name
 * (header Authorization: Basic base64(user:value)). Nothing else: no URL, no
 * body, no other header.
 *
 * "tenant" scopes a secret to tenants (brig-worker --tenants, worker/tenants.h):
 * a tenant's name, or a list of names, whose signed jobs alone may name the
 * secret; "*" or no tenant field makes it every job's, unsigned jobs'
 * included. To a job of any other tenant, or an unsigned one, a bound secret
 * is a name the worker does not have: nothing tells it whose the secret is.
 * Unknown fields are refused, naming them. */
#ifndef BRIG_WORKER_SECRETS_H
#define BRIG_WORKER_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRETS_FILE_MAX (1u << 20)
#define SECRETS_MAX 256
#define SECRET_BINDINGS_MAX 16
#define SECRET_VALUE_MAX 4096
#define SECRET_TEMPLATE_MAX 1024
#define SECRET_HEADER_MAX 64
#define SECRET_DEFAULT_PORT 443
#define SECRET_TENANTS_MAX 64

struct secret_binding {
    char *host; /* a DNS name, lowercase */
    uint16_t port;
    char *header;     /* where the value goes */
    char *template;   /* with ${NAME}; NULL with basic_user */
    char *basic_user; /* Authorization: Basic base64(basic_user:value); NULL with template */
};

struct secret {
    char *name;
    char *value; /* NUL-terminated, printable ASCII */
    struct secret_binding *bindings;
    size_t n_bindings;
    char **tenants; /* whose signed jobs may name it; NULL: every job's */
    size_t n_tenants;
    bool *tenant_gone; /* per tenant: gone from the tenants file (secret_mark_tenant) */
};

struct secret_store {
    struct secret *secrets;
    size_t count;
};

/* Reads FILE: its owner and mode first (and those of every value_file), then
 * its content. -1 with err naming the file, and the secret and field at
 * fault. */
int secret_store_load(const char *path, struct secret_store **out, char *err, size_t errlen);

/* The same from text already read; origin names it in errors. */
int secret_store_parse(const char *text, size_t len, const char *origin, struct secret_store **out,
                       char *err, size_t errlen);

/* Wipes the values and frees the store. NULL is a no-op. */
void secret_store_free(struct secret_store *store);

/* The secret called name, or NULL. */
const struct secret *secret_find(const struct secret_store *store, const char *name);

/* Whether every tenant a secret of store is bound to is one known(ctx, name)
 * says the worker has (known NULL: a worker without tenants, which has none).
 * -1 with err naming the first secret and tenant that is not. */
int secret_store_check_tenants(const struct secret_store *store,
                               bool (*known)(const void *ctx, const char *name), const void *ctx,
                               char *err, size_t errlen);

/* Whether a job of tenant (NULL or "": an unsigned job) may name s: a
 * tenant marked gone may not. Any thread. */
bool secret_serves(const struct secret *s, const char *tenant);

/* Marks s->tenants[k] gone from the tenants file (a reload removed it) or
 * back; returns whether that changed. One thread at a time; secret_serves
 * may run meanwhile. */
bool secret_mark_tenant(struct secret *s, size_t k, bool gone);

/* The header value binding b of secret s sends: its template with the value
 * in place of ${NAME}, or "Basic " and base64(user:value). malloc'd; the
 * caller wipes it (explicit_bzero) and frees it. NULL when out of memory. */
char *secret_render(const struct secret *s, const struct secret_binding *b);

/* Whether a file holding a secret may be trusted: a regular file, owned by
 * the worker's user, that nobody else may read or write. -1 with err naming
 * path and what is wrong with it. */
int secret_file_check(int fd, const char *path, char *err, size_t errlen);

#endif
