/* A job's secrets as the egress proxy handles them: the placeholders in its
 * environment, finding them in what the job sends, and the one place a
 * secret's value replaces them.
 *
 * Each job that names a secret gets, for each, a placeholder
 * "brig-secret:NAME:<32 random hex digits>", new for every job. Every byte a
 * job sends out through the proxy is searched for its placeholders, without
 * regard to case: the request heads of plain HTTP and of CONNECT, the bytes of
 * plain HTTP bodies and of tunnels, and, on a connection the proxy
 * intercepts, every request head and body. One place only is not a refusal:
 * in a request on an intercepted connection to a host:port a binding of the
 * secret names, a header of the binding's name (any case) whose value holds
 * the placeholder, alone of all placeholders (for a basic_auth binding, also
 * inside "Basic <base64>"), is replaced whole by the binding's rendering with
 * the value. Anywhere else, the request is refused and the refusal names the
 * secret (never its value).
 *
 * A placeholder is not a secret; finding it elsewhere is a tripwire for a job
 * trying to send a secret where it does not belong, not what keeps the value
 * safe: the value never enters the jail. Inside a TLS tunnel the proxy does
 * not intercept, it sees only ciphertext. */
#ifndef BRIG_WORKER_EGRESS_SECRETS_H
#define BRIG_WORKER_EGRESS_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/bounds.h"
#include "worker/proxy_http.h"
#include "worker/secrets.h"

#define PLACEHOLDER_PREFIX "brig-secret:"
#define PLACEHOLDER_NONCE_HEX 32
#define PLACEHOLDER_MAX                                                                            \
    (sizeof(PLACEHOLDER_PREFIX) - 1 + BRIG_ENV_NAME_MAX + 1 + PLACEHOLDER_NONCE_HEX)

struct job_secret {
    const struct secret *secret; /* the store's */
    char placeholder[PLACEHOLDER_MAX + 1];
    size_t len;
};

struct job_secrets {
    struct job_secret *list;
    size_t count;
    size_t longest; /* of the placeholders */
};

/* Placeholders for the secrets of store named in names (each once). -1 with
 * err for a name store does not have, or when randomness fails. */
int job_secrets_make(const struct secret_store *store, const char *const *names, size_t n,
                     struct job_secrets *out, char *err, size_t errlen);
void job_secrets_free(struct job_secrets *js);

/* The first of js's placeholders found in data[0..len), or NULL. */
const struct job_secret *job_secrets_find(const struct job_secrets *js, const char *data,
                                          size_t len);

/* Searching a stream that arrives in pieces: a placeholder split between two
 * pieces is found. Zero it to start. */
struct secret_scan {
    char tail[PLACEHOLDER_MAX];
    size_t tail_len;
};

/* The first placeholder that data (the stream's next piece) completes, or
 * NULL. */
const struct job_secret *secret_scan_feed(struct secret_scan *scan, const struct job_secrets *js,
                                          const char *data, size_t len);

enum secret_head_verdict {
    SECRET_HEAD_PASS,      /* no placeholder: the head goes as it is */
    SECRET_HEAD_REWRITTEN, /* out holds the head with the values put in */
    SECRET_HEAD_REFUSED,   /* a placeholder where it may not go */
    SECRET_HEAD_UNWRITTEN, /* the rewritten head did not fit in out, or no memory */
};

#define SECRET_HEAD_USES_MAX 8

struct secret_head_outcome {
    const struct job_secret *refused; /* REFUSED: whose placeholder */
    char reason[768]; /* REFUSED, UNWRITTEN: the sentence for the job (and the audit) */
    /* REWRITTEN: the secrets put in, and the header of each */
    const struct job_secret *used[SECRET_HEAD_USES_MAX];
    const char *used_header[SECRET_HEAD_USES_MAX];
    size_t n_used;
};

/* Decides the request head buf (parsed into req) that goes to host:port.
 * intercepted: the request is inside a TLS connection the proxy intercepts,
 * the only kind in which a value is put in; otherwise (plain HTTP, a CONNECT
 * head) any placeholder is refused. A REWRITTEN head is written to out, of
 * its length *out_len; out then holds values: wipe it when done. */
enum secret_head_verdict secret_head_filter(const struct job_secrets *js, const char *buf,
                                            const struct proxy_request *req, const char *host,
                                            uint16_t port, bool intercepted, char *out,
                                            size_t outlen, size_t *out_len,
                                            struct secret_head_outcome *outcome);

/* "secret K: ..." for a placeholder found in what (a body, a tunnel) of a
 * request to host:port. */
void secret_refusal(const struct job_secret *js, const char *what, const char *host, uint16_t port,
                    char *out, size_t outlen);

#endif
