/* The egress proxy's certificate authority (worker/egress_tls.h): what its
 * leaves are, that its name constraints make a leaf for any other name fail
 * verification (as a jail's TLS client would verify it), the jails' bundle,
 * and handshakes between the proxy's two sides. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "worker/egress_tls.h"

static const char *const hosts[] = {"api.test", "localhost", "example.com", "api.example.com"};
#define N_HOSTS (sizeof(hosts) / sizeof(hosts[0]))

/* Bundles are files of their own, removed when freed. */
static const char dir[] = "/tmp";

/* What a TLS client that trusts ca says of leaf for name. */
static int verify(X509 *ca, X509 *leaf, const char *name)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_non_null(store);
    assert_non_null(ctx);
    assert_int_equal(X509_STORE_add_cert(store, ca), 1);
    assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), name, 0);
    X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(ctx);
    int result = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return result;
}

static X509 *leaf_for(struct egress_ca *ca, const char *host)
{
    char err[256];
    X509 *leaf = egress_ca_leaf(ca, host, err, sizeof(err));
    if (!leaf)
        fail_msg("egress_ca_leaf(%s): %s", host, err);
    return leaf;
}

static void test_leaves_verify_for_their_host(void **state)
{
    (void)state;
    struct egress_ca *ca;
    char err[256];
    assert_int_equal(egress_ca_new(hosts, N_HOSTS, &ca, err, sizeof(err)), 0);
    X509 *root = egress_ca_cert(ca);
    X509 *leaf = leaf_for(ca, "api.test");
    assert_int_equal(verify(root, leaf, "api.test"), X509_V_OK);
    assert_int_equal(verify(root, leaf, "other.test"), X509_V_ERR_HOSTNAME_MISMATCH);
    assert_ptr_equal(leaf_for(ca, "api.test"), leaf); /* kept, not minted again */
    assert_int_equal(verify(root, leaf_for(ca, "localhost"), "localhost"), X509_V_OK);
    assert_int_equal(verify(root, leaf_for(ca, "api.example.com"), "api.example.com"), X509_V_OK);

    /* The leaf: not a CA, a server's, its host its only name. */
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
    assert_non_null(bc);
    assert_false(bc->ca);
    BASIC_CONSTRAINTS_free(bc);
    assert_true(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER);
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    assert_int_equal(sk_GENERAL_NAME_num(names), 1);
    GENERAL_NAME *name = sk_GENERAL_NAME_value(names, 0);
    assert_int_equal(name->type, GEN_DNS);
    assert_string_equal((const char *)ASN1_STRING_get0_data(name->d.dNSName), "api.test");
    GENERAL_NAMES_free(names);
    egress_ca_free(ca);
}

/* A leaf of the CA for a name it does not permit, as if the proxy had been
 * made to mint one: a client refuses it for that very reason. */
static void test_the_ca_vouches_for_nothing_else(void **state)
{
    (void)state;
    struct egress_ca *ca;
    char err[256];
    assert_int_equal(egress_ca_new(hosts, N_HOSTS, &ca, err, sizeof(err)), 0);
    X509 *root = egress_ca_cert(ca);
    assert_int_equal(verify(root, leaf_for(ca, "evil.test"), "evil.test"),
                     X509_V_ERR_PERMITTED_VIOLATION);
    assert_int_equal(verify(root, leaf_for(ca, "pypi.org"), "pypi.org"),
                     X509_V_ERR_PERMITTED_VIOLATION);
    assert_int_equal(verify(root, leaf_for(ca, "test"), "test"), X509_V_ERR_PERMITTED_VIOLATION);
    assert_int_equal(verify(root, leaf_for(ca, "xapi.test"), "xapi.test"),
                     X509_V_ERR_PERMITTED_VIOLATION);
    /* RFC 5280 would let "api.test" cover its subdomains: they are excluded. */
    assert_int_equal(verify(root, leaf_for(ca, "sub.api.test"), "sub.api.test"),
                     X509_V_ERR_EXCLUDED_VIOLATION);
    assert_int_equal(verify(root, leaf_for(ca, "x.localhost"), "x.localhost"),
                     X509_V_ERR_EXCLUDED_VIOLATION);
    assert_int_equal(verify(root, leaf_for(ca, "x.api.example.com"), "x.api.example.com"),
                     X509_V_ERR_EXCLUDED_VIOLATION);

    /* Critical, and every address excluded (a leaf with an IP name is never
     * minted, so the constraint itself is what is checked). */
    int critical = 0;
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(root, NID_name_constraints, &critical, NULL);
    assert_non_null(nc);
    assert_int_equal(critical, 1);
    assert_int_equal(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), (int)N_HOSTS);
    int v4 = 0, v6 = 0;
    for (int i = 0; i < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); i++) {
        GENERAL_NAME *base = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i)->base;
        if (base->type != GEN_IPADD)
            continue;
        const unsigned char *bytes = ASN1_STRING_get0_data(base->d.iPAddress);
        int len = ASN1_STRING_length(base->d.iPAddress);
        unsigned char zeros[32] = {0};
        assert_memory_equal(bytes, zeros, (size_t)len);
        v4 += len == 8;
        v6 += len == 32;
    }
    assert_int_equal(v4, 1);
    assert_int_equal(v6, 1);
    NAME_CONSTRAINTS_free(nc);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(root, NID_basic_constraints, &critical, NULL);
    assert_true(bc->ca);
    assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
    BASIC_CONSTRAINTS_free(bc);
    egress_ca_free(ca);
}

/* The file's text, malloc'd. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_the_bundle(void **state)
{
    (void)state;
    struct egress_tls *tls;
    char err[512];
    assert_int_equal(egress_tls_new(hosts, 1, dir, NULL, &tls, err, sizeof(err)), 0);
    const char *path = egress_tls_bundle_path(tls);
    char *copy = strdup(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    char *text = read_text(path);
    /* The system's CAs first, then the brig CA last. */
    char *system = read_text(X509_get_default_cert_file());
    size_t system_len = strlen(system);
    assert_true(system_len > 0);
    assert_memory_equal(text, system, system_len);
    char *mark = strstr(text, "# brig egress CA\n");
    assert_ptr_equal(mark, text + system_len + 1);
    BIO *bio = BIO_new_mem_buf(mark, -1);
    X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(ca);
    NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
    assert_non_null(nc);
    NAME_CONSTRAINTS_free(nc);
    X509_free(ca);
    BIO_free(bio);
    free(system);
    free(text);
    egress_tls_free(tls);
    assert_int_equal(stat(copy, &st), -1); /* removed */
    free(copy);

    assert_int_equal(egress_tls_new(hosts, 1, "/nonexistent-dir", NULL, &tls, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "creating the jails' CA bundle in /nonexistent-dir"));
    assert_int_equal(egress_tls_new(hosts, 1, dir, "/nonexistent.pem", &tls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "loading the CAs of /nonexistent.pem (--egress-ca-file)"));
}

struct side {
    SSL *ssl;
    int rc;
};

static void *handshake(void *arg)
{
    struct side *side = arg;
    side->rc = SSL_do_handshake(side->ssl);
    if (side->rc != 1)
        shutdown(SSL_get_fd(side->ssl), SHUT_RDWR); /* so the other side stops waiting */
    return NULL;
}

/* The proxy's jail side (of `server`) presenting host's leaf, and its host
 * side (of `client`) connecting to name: 1, or what the client said. */
static int connect_through(struct egress_tls *server, struct egress_tls *client, const char *host,
                           const char *name, char *why, size_t whylen)
{
    int fds[2];
    char err[256];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    struct side s = {egress_tls_accept(server, fds[0], host, err, sizeof(err)), 0};
    struct side c = {egress_tls_connect(client, fds[1], name, err, sizeof(err)), 0};
    assert_non_null(s.ssl);
    assert_non_null(c.ssl);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, handshake, &s), 0);
    handshake(&c);
    pthread_join(thread, NULL);
    why[0] = '\0';
    if (c.rc != 1)
        egress_tls_error(c.ssl, why, whylen);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
    if (c.rc == 1)
        assert_memory_equal(alpn, "http/1.1", alpn_len);
    SSL_free(s.ssl);
    SSL_free(c.ssl);
    close(fds[0]);
    close(fds[1]);
    ERR_clear_error();
    return c.rc;
}

static void test_handshakes(void **state)
{
    (void)state;
    struct egress_tls *jail_side, *trusting, *trusting_nothing;
    char err[512], why[512];
    assert_int_equal(egress_tls_new(hosts, N_HOSTS, dir, NULL, &jail_side, err, sizeof(err)), 0);
    /* A client that trusts jail_side's CA, as --egress-ca-file makes it. */
    assert_int_equal(egress_tls_new(hosts, 1, dir, egress_tls_bundle_path(jail_side), &trusting,
                                    err, sizeof(err)),
                     0);
    assert_int_equal(egress_tls_new(hosts, 1, dir, NULL, &trusting_nothing, err, sizeof(err)), 0);

    assert_int_equal(connect_through(jail_side, trusting, "api.test", "api.test", why, sizeof(why)),
                     1);
    assert_int_not_equal(
        connect_through(jail_side, trusting, "api.test", "localhost", why, sizeof(why)), 1);
    assert_string_equal(why, "certificate verification failed: hostname mismatch");
    assert_int_not_equal(
        connect_through(jail_side, trusting_nothing, "api.test", "api.test", why, sizeof(why)), 1);
    assert_string_equal(why,
                        "certificate verification failed: unable to get local issuer certificate");
    egress_tls_free(trusting_nothing);
    egress_tls_free(trusting);
    egress_tls_free(jail_side);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaves_verify_for_their_host),
        cmocka_unit_test(test_the_ca_vouches_for_nothing_else),
        cmocka_unit_test(test_the_bundle),
        cmocka_unit_test(test_handshakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
