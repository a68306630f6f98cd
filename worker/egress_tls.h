/* TLS for the egress proxy's interception of the hosts secrets are bound to.
 *
 * A worker with secrets makes its own certificate authority when it starts:
 * an EC P-256 key that lives in the worker's memory only, and a self-signed
 * certificate whose critical nameConstraints permit the secret-bound host
 * names and nothing else: their subdomains are excluded (unless another bound
 * name lies under one), every IPv4 and IPv6 address is excluded. So even a
 * certificate this CA signed for any other name would fail verification in
 * the jail. Leaf certificates (one per bound host, with the name as their
 * only subjectAltName) are minted on first use and kept.
 *
 * The jails of jobs that hold secrets trust it through a bundle, the system's
 * CAs followed by this CA, bound read-only at EGRESS_TLS_BUNDLE_JAIL_PATH,
 * which SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and
 * NODE_EXTRA_CA_CERTS name.
 *
 * Toward the real host the proxy is a TLS client that verifies the server's
 * certificate and name against the system's CAs, plus a file of the
 * operator's (--egress-ca-file: private CAs, tests). Both sides speak
 * HTTP/1.1 only (ALPN), TLS 1.2 or later, no renegotiation.
 *
 * Everything here runs on the proxy thread, except egress_tls_new and
 * egress_tls_free. */
#ifndef BRIG_WORKER_EGRESS_TLS_H
#define BRIG_WORKER_EGRESS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define EGRESS_TLS_BUNDLE_JAIL_PATH "/etc/ssl/brig/ca-bundle.pem"

struct egress_ca;

/* A CA for hosts[0..n) (lowercase DNS names). -1 with err. */
int egress_ca_new(const char *const *hosts, size_t n, struct egress_ca **out, char *err,
                  size_t errlen);
void egress_ca_free(struct egress_ca *ca);

/* The CA's certificate (owned by ca). */
X509 *egress_ca_cert(const struct egress_ca *ca);

/* The leaf for host, minted the first time and kept by ca; its key is
 * egress_ca_leaf_key. NULL with err. The proxy asks only for bound hosts: the
 * CA's constraints make a leaf for any other name worthless anyway. */
X509 *egress_ca_leaf(struct egress_ca *ca, const char *host, char *err, size_t errlen);
EVP_PKEY *egress_ca_leaf_key(const struct egress_ca *ca);

struct egress_tls;

/* The CA for hosts, the bundle written in bundle_dir (a file of its own,
 * mode 0644, removed by egress_tls_free), and the two sides' contexts;
 * upstream_ca_file (NULL = none) adds to the system's CAs for verifying real
 * hosts. -1 with err. */
int egress_tls_new(const char *const *hosts, size_t n, const char *bundle_dir,
                   const char *upstream_ca_file, struct egress_tls **out, char *err, size_t errlen);
void egress_tls_free(struct egress_tls *tls);

/* The host path of the bundle, for the jails' bind. */
const char *egress_tls_bundle_path(const struct egress_tls *tls);

/* The proxy's server side of an intercepted connection on fd, presenting
 * host's leaf. NULL with err. */
SSL *egress_tls_accept(struct egress_tls *tls, int fd, const char *host, char *err, size_t errlen);

/* The proxy's client side toward host on fd, verifying its certificate and
 * name. NULL with err. */
SSL *egress_tls_connect(struct egress_tls *tls, int fd, const char *host, char *err, size_t errlen);

/* The latest OpenSSL error of this thread as a sentence ("" when none), and
 * the queue emptied; for a failed handshake, the verification result first. */
void egress_tls_error(SSL *ssl, char *out, size_t outlen);

#endif
