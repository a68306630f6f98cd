/* The egress proxy's TLS contexts and the jails' CA bundle (egress_tls.h). */
#include "worker/egress_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

struct egress_tls {
    struct egress_ca *ca;
    SSL_CTX *server; /* toward the jail */
    SSL_CTX *client; /* toward real hosts */
    char *bundle_path;
};

static const unsigned char http11[] = "\x08http/1.1";

void egress_tls_error(SSL *ssl, char *out, size_t outlen)
{
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    char detail[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    if (verify != X509_V_OK)
        snprintf(out, outlen, "certificate verification failed: %s",
                 X509_verify_cert_error_string(verify));
    else
        snprintf(out, outlen, "%s", detail[0] ? detail : "the peer closed the connection");
}

static void openssl_error(const char *what, char *err, size_t errlen)
{
    char detail[256];
    egress_tls_error(NULL, detail, sizeof(detail));
    snprintf(err, errlen, "%s: %s", what, detail);
}

/* HTTP/1.1 or nothing: a client that offers only h2 gets no ALPN and speaks
 * HTTP/1.1 by default. */
static int select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                         const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *new_context(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

static int make_contexts(struct egress_tls *tls, const char *upstream_ca_file, char *err,
                         size_t errlen)
{
    if (!(tls->server = new_context(TLS_server_method())) ||
        !(tls->client = new_context(TLS_client_method()))) {
        openssl_error("making the egress proxy's TLS contexts", err, errlen);
        return -1;
    }
    SSL_CTX_set_alpn_select_cb(tls->server, select_http11, NULL);
    SSL_CTX_set_verify(tls->client, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_alpn_protos(tls->client, http11, sizeof(http11) - 1) != 0 ||
        SSL_CTX_set_default_verify_paths(tls->client) != 1) {
        openssl_error("loading the system's certificate authorities", err, errlen);
        return -1;
    }
    if (upstream_ca_file && SSL_CTX_load_verify_file(tls->client, upstream_ca_file) != 1) {
        char what[512];
        snprintf(what, sizeof(what), "loading the CAs of %s (--egress-ca-file)", upstream_ca_file);
        openssl_error(what, err, errlen);
        return -1;
    }
    return 0;
}

/* The system's bundle, as OpenSSL finds it, copied whole; then the CA. */
static int write_bundle(struct egress_tls *tls, const char *dir, char *err, size_t errlen)
{
    const char *system = getenv(X509_get_default_cert_file_env());
    if (!system || !system[0])
        system = X509_get_default_cert_file();
    size_t len = strlen(dir) + sizeof("/brig-ca-XXXXXX.pem");
    if (!(tls->bundle_path = malloc(len))) {
        snprintf(err, errlen, "writing the jails' CA bundle: out of memory");
        return -1;
    }
    snprintf(tls->bundle_path, len, "%s/brig-ca-XXXXXX.pem", dir);
    int fd = mkostemps(tls->bundle_path, 4, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "creating the jails' CA bundle in %s: %s", dir, strerror(errno));
        free(tls->bundle_path);
        tls->bundle_path = NULL;
        return -1;
    }
    FILE *out = fdopen(fd, "w");
    FILE *in = fopen(system, "re");
    bool ok = out != NULL;
    char buf[8192];
    size_t n;
    while (ok && in && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && (!in || !ferror(in)) && fputs("\n# brig egress CA\n", out) >= 0 &&
         PEM_write_X509(out, egress_ca_cert(tls->ca)) == 1 && fchmod(fd, 0644) == 0;
    int saved = errno;
    if (in)
        fclose(in);
    if (out ? fclose(out) != 0 : close(fd) != 0)
        ok = false;
    if (!ok) {
        snprintf(err, errlen, "writing the jails' CA bundle %s: %s", tls->bundle_path,
                 strerror(saved ? saved : EIO));
        return -1;
    }
    return 0;
}

int egress_tls_new(const char *const *hosts, size_t n, const char *bundle_dir,
                   const char *upstream_ca_file, struct egress_tls **out, char *err, size_t errlen)
{
    *out = NULL;
    struct egress_tls *tls = calloc(1, sizeof(*tls));
    if (!tls) {
        snprintf(err, errlen, "allocating the egress proxy's TLS: out of memory");
        return -1;
    }
    if (egress_ca_new(hosts, n, &tls->ca, err, errlen) < 0 ||
        make_contexts(tls, upstream_ca_file, err, errlen) < 0 ||
        write_bundle(tls, bundle_dir, err, errlen) < 0) {
        egress_tls_free(tls);
        return -1;
    }
    *out = tls;
    return 0;
}

void egress_tls_free(struct egress_tls *tls)
{
    if (!tls)
        return;
    if (tls->bundle_path)
        unlink(tls->bundle_path);
    free(tls->bundle_path);
    SSL_CTX_free(tls->server);
    SSL_CTX_free(tls->client);
    egress_ca_free(tls->ca);
    free(tls);
}

const char *egress_tls_bundle_path(const struct egress_tls *tls)
{
    return tls->bundle_path;
}

SSL *egress_tls_accept(struct egress_tls *tls, int fd, const char *host, char *err, size_t errlen)
{
    X509 *leaf = egress_ca_leaf(tls->ca, host, err, errlen);
    if (!leaf)
        return NULL;
    SSL *ssl = SSL_new(tls->server);
    if (!ssl || SSL_use_certificate(ssl, leaf) != 1 ||
        SSL_use_PrivateKey(ssl, egress_ca_leaf_key(tls->ca)) != 1 || SSL_set_fd(ssl, fd) != 1) {
        openssl_error("starting TLS toward the job", err, errlen);
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

SSL *egress_tls_connect(struct egress_tls *tls, int fd, const char *host, char *err, size_t errlen)
{
    SSL *ssl = SSL_new(tls->client);
    if (!ssl || SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1 ||
        SSL_set_fd(ssl, fd) != 1) {
        openssl_error("starting TLS toward the host", err, errlen);
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}
