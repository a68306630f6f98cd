/* The egress proxy's certificate authority and its leaf certificates
 * (egress_tls.h). */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/egress_tls.h"

#define CA_DAYS 365
/* Clocks of the jail and of the host may disagree a little. */
#define BACKDATE_SECONDS 3600

struct leaf {
    char *host;
    X509 *cert;
};

struct egress_ca {
    EVP_PKEY *key; /* the CA's; never leaves this process */
    X509 *cert;
    EVP_PKEY *leaf_key; /* every leaf's */
    struct leaf *leaves;
    size_t n_leaves;
};

static void openssl_error(const char *what, char *err, size_t errlen)
{
    char detail[256] = "no detail";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, detail);
}

/* A fresh certificate: version 3, a random serial, valid from an hour ago
 * until not_after (NULL: CA_DAYS from now), subject CN=common_name, its
 * public key key. */
static X509 *new_cert(const char *common_name, EVP_PKEY *key, const ASN1_TIME *not_after)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    bool ok = x && serial && X509_set_version(x, 2) &&
              BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) &&
              (not_after ? X509_set1_notAfter(x, not_after)
                         : X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL) != NULL) &&
              X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
                                         (const unsigned char *)"brig", -1, -1, 0) &&
              X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                         (const unsigned char *)common_name, -1, -1, 0) &&
              X509_set_pubkey(x, key);
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static bool add_subtree(STACK_OF(GENERAL_SUBTREE) * *list, int type, const void *data, size_t len)
{
    if (!*list && !(*list = sk_GENERAL_SUBTREE_new_null()))
        return false;
    GENERAL_SUBTREE *tree = GENERAL_SUBTREE_new();
    ASN1_STRING *value = type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
    if (!tree || !value || !ASN1_STRING_set(value, data, (int)len)) {
        GENERAL_SUBTREE_free(tree);
        ASN1_STRING_free(value);
        return false;
    }
    GENERAL_NAME_set0_value(tree->base, type, value);
    if (!sk_GENERAL_SUBTREE_push(*list, tree)) {
        GENERAL_SUBTREE_free(tree);
        return false;
    }
    return true;
}

static bool under(const char *name, const char *parent)
{
    size_t n = strlen(name), p = strlen(parent);
    return n > p + 1 && name[n - p - 1] == '.' && strcmp(name + n - p, parent) == 0;
}

/* Permitted: each host (RFC 5280 lets that cover its subdomains too).
 * Excluded: each host's subdomains, unless a bound host lies there, and every
 * IPv4 and IPv6 address (a network and mask of zeros). */
static bool add_name_constraints(X509 *x, const char *const *hosts, size_t n)
{
    static const unsigned char any_v4[8], any_v6[32];
    NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();
    bool ok = nc != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        ok = add_subtree(&nc->permittedSubtrees, GEN_DNS, hosts[i], strlen(hosts[i]));
        bool holds_another = false;
        for (size_t k = 0; k < n; k++)
            holds_another |= under(hosts[k], hosts[i]);
        if (ok && !holds_another) {
            char dot_host[300];
            snprintf(dot_host, sizeof(dot_host), ".%s", hosts[i]);
            ok = add_subtree(&nc->excludedSubtrees, GEN_DNS, dot_host, strlen(dot_host));
        }
    }
    ok = ok && add_subtree(&nc->excludedSubtrees, GEN_IPADD, any_v4, sizeof(any_v4)) &&
         add_subtree(&nc->excludedSubtrees, GEN_IPADD, any_v6, sizeof(any_v6)) &&
         X509_add1_ext_i2d(x, NID_name_constraints, nc, 1, X509V3_ADD_DEFAULT) == 1;
    NAME_CONSTRAINTS_free(nc);
    return ok;
}

int egress_ca_new(const char *const *hosts, size_t n, struct egress_ca **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    struct egress_ca *ca = calloc(1, sizeof(*ca));
    if (!ca) {
        snprintf(err, errlen, "allocating the egress CA: out of memory");
        return -1;
    }
    unsigned char id[8];
    char name[64];
    if (!(ca->key = EVP_EC_gen("P-256")) || !(ca->leaf_key = EVP_EC_gen("P-256")) ||
        RAND_bytes(id, sizeof(id)) != 1) {
        openssl_error("making the egress CA's keys", err, errlen);
        goto fail;
    }
    snprintf(name, sizeof(name), "brig egress CA %02x%02x%02x%02x%02x%02x%02x%02x", id[0], id[1],
             id[2], id[3], id[4], id[5], id[6], id[7]);
    ca->cert = new_cert(name, ca->key, NULL);
    if (!ca->cert || !X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert)) ||
        !add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
        !add_name_constraints(ca->cert, hosts, n) || !X509_sign(ca->cert, ca->key, EVP_sha256())) {
        openssl_error("making the egress CA's certificate", err, errlen);
        goto fail;
    }
    *out = ca;
    return 0;
fail:
    egress_ca_free(ca);
    return -1;
}

void egress_ca_free(struct egress_ca *ca)
{
    if (!ca)
        return;
    for (size_t i = 0; i < ca->n_leaves; i++) {
        free(ca->leaves[i].host);
        X509_free(ca->leaves[i].cert);
    }
    free(ca->leaves);
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    EVP_PKEY_free(ca->leaf_key);
    free(ca);
}

X509 *egress_ca_cert(const struct egress_ca *ca)
{
    return ca->cert;
}

EVP_PKEY *egress_ca_leaf_key(const struct egress_ca *ca)
{
    return ca->leaf_key;
}

static X509 *mint(struct egress_ca *ca, const char *host)
{
    char san[300];
    snprintf(san, sizeof(san), "DNS:%s", host);
    X509 *x = new_cert(host, ca->leaf_key, X509_get0_notAfter(ca->cert));
    if (!x || !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
        !add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") ||
        !add_ext(x, ca->cert, NID_subject_alt_name, san) ||
        !add_ext(x, ca->cert, NID_authority_key_identifier, "keyid:always") ||
        !X509_sign(x, ca->key, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

X509 *egress_ca_leaf(struct egress_ca *ca, const char *host, char *err, size_t errlen)
{
    for (size_t i = 0; i < ca->n_leaves; i++) {
        if (strcmp(ca->leaves[i].host, host) == 0)
            return ca->leaves[i].cert;
    }
    struct leaf *grown = realloc(ca->leaves, (ca->n_leaves + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(err, errlen, "minting a certificate for %s: out of memory", host);
        return NULL;
    }
    ca->leaves = grown;
    struct leaf *leaf = &ca->leaves[ca->n_leaves];
    char what[320];
    snprintf(what, sizeof(what), "minting a certificate for %s", host);
    if (!(leaf->host = strdup(host)) || !(leaf->cert = mint(ca, host))) {
        free(leaf->host);
        openssl_error(what, err, errlen);
        return NULL;
    }
    ca->n_leaves++;
    return leaf->cert;
}
