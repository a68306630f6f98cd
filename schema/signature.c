#include "schema/signature.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "schema/error.h"
#include "schema/text.h"

static const char domain[] = "brig-sig-v1"; /* its NUL is part of the input */

bool brig_tenant_name_ok(const char *name, size_t len, char *why, size_t whylen)
{
    if (len == 0 || len > BRIG_TENANT_MAX) {
        snprintf(why, whylen, "%s: a tenant name is 1 to %d bytes", len ? "too long" : "empty",
                 BRIG_TENANT_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && (c == '_' || c == '-'));
        if (!ok) {
            char shown[8];
            describe_byte((unsigned char)c, shown, sizeof shown);
            snprintf(why, whylen,
                     "invalid character %s at byte %zu: a tenant name is [a-z0-9_-], starting "
                     "with a letter or digit",
                     shown, i);
            return false;
        }
    }
    return true;
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    /* Cannot fail for SHA-256 over memory but for a broken libcrypto. */
    if (EVP_Digest(data ? data : "", len, out, NULL, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

size_t brig_signing_input(const struct brig_signed *m, uint8_t buf[BRIG_SIGNING_INPUT_MAX])
{
    size_t topic_len = m->topic ? strlen(m->topic) : 0;
    size_t tenant_len = m->tenant ? strlen(m->tenant) : 0;
    if (topic_len == 0 || topic_len > BRIG_TOPIC_MAX || tenant_len == 0 ||
        tenant_len > BRIG_TENANT_MAX)
        return 0;
    uint8_t *p = buf;
    memcpy(p, domain, sizeof domain);
    p += sizeof domain;
    *p++ = (uint8_t)topic_len;
    memcpy(p, m->topic, topic_len);
    p += topic_len;
    *p++ = (uint8_t)tenant_len;
    memcpy(p, m->tenant, tenant_len);
    p += tenant_len;
    for (int shift = 56; shift >= 0; shift -= 8)
        *p++ = (uint8_t)(m->ts_ms >> shift);
    *p++ = m->key != NULL;
    sha256(m->key, m->key ? m->key_len : 0, p);
    p += 32;
    sha256(m->value, m->value_len, p);
    p += 32;
    return (size_t)(p - buf);
}

static void crypto_error(char *err, size_t errlen, const char *what)
{
    unsigned long code = ERR_get_error();
    char text[256] = "unknown error";
    if (code)
        ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, text);
}

int brig_sign(const uint8_t seed[BRIG_ED25519_KEY_BYTES], const struct brig_signed *m,
              char sig[BRIG_SIG_TEXT_LEN + 1], char *err, size_t errlen)
{
    uint8_t input[BRIG_SIGNING_INPUT_MAX], raw[BRIG_ED25519_SIG_BYTES];
    size_t input_len = brig_signing_input(m, input), raw_len = sizeof raw;
    if (input_len == 0) {
        snprintf(err, errlen, "signing: the topic and the tenant must be 1 to %d and %d bytes",
                 BRIG_TOPIC_MAX, BRIG_TENANT_MAX);
        return -1;
    }
    EVP_PKEY *key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, BRIG_ED25519_KEY_BYTES);
    EVP_MD_CTX *ctx = key ? EVP_MD_CTX_new() : NULL;
    int rc = -1;
    if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(ctx, raw, &raw_len, input, input_len) != 1)
        crypto_error(err, errlen, "signing with Ed25519");
    else if (EVP_EncodeBlock((unsigned char *)sig, raw, (int)raw_len) == BRIG_SIG_TEXT_LEN)
        rc = 0;
    else
        snprintf(err, errlen, "signing with Ed25519: a signature of %zu bytes", raw_len);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return rc;
}

bool brig_signature_verify(const uint8_t public_key[BRIG_ED25519_KEY_BYTES],
                           const struct brig_signed *m, const uint8_t sig[BRIG_ED25519_SIG_BYTES])
{
    uint8_t input[BRIG_SIGNING_INPUT_MAX];
    size_t input_len = brig_signing_input(m, input);
    if (input_len == 0)
        return false;
    EVP_PKEY *key =
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, public_key, BRIG_ED25519_KEY_BYTES);
    EVP_MD_CTX *ctx = key ? EVP_MD_CTX_new() : NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, BRIG_ED25519_SIG_BYTES, input, input_len) == 1;
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/* Strict base64 of exactly out_len bytes: the canonical text only (padding
 * as it must be, no whitespace, unused bits zero), so that one value has one
 * spelling. */
static bool base64_decode(const void *text, size_t len, uint8_t *out, size_t out_len)
{
    size_t want = 4 * ((out_len + 2) / 3);
    uint8_t decoded[66];
    char copy[92], again[92];
    if (len != want || want >= sizeof copy)
        return false;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (strspn(copy, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") < len ||
        EVP_DecodeBlock(decoded, (const unsigned char *)copy, (int)len) != (int)(want / 4 * 3))
        return false;
    EVP_EncodeBlock((unsigned char *)again, decoded, (int)out_len);
    if (strcmp(again, copy) != 0)
        return false;
    memcpy(out, decoded, out_len);
    return true;
}

static int header_missing(struct brig_error *why, const char *header)
{
    return error_set(why, header, "missing: a signed message has %s, %s and %s", BRIG_HEADER_TENANT,
                     BRIG_HEADER_TS, BRIG_HEADER_SIG);
}

/* Unix ms in decimal: 1 to BRIG_TIME_MS_MAX, no sign, no leading zero. */
static bool parse_ts(const char *text, size_t len, uint64_t *out)
{
    if (len == 0 || len > 15 || text[0] == '0')
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    if (value > BRIG_TIME_MS_MAX)
        return false;
    *out = value;
    return true;
}

/* Reads the headers strictly: all three or none, each well formed. */
static int parse_headers(const struct brig_signature_headers *h, struct brig_signature *out,
                         struct brig_error *why)
{
    if (!h->tenant && !h->ts && !h->sig)
        return error_set(why, "", "unsigned: the message has no %s, %s and %s headers",
                         BRIG_HEADER_TENANT, BRIG_HEADER_TS, BRIG_HEADER_SIG);
    if (!h->tenant)
        return header_missing(why, BRIG_HEADER_TENANT);
    if (!h->ts)
        return header_missing(why, BRIG_HEADER_TS);
    if (!h->sig)
        return header_missing(why, BRIG_HEADER_SIG);
    char reason[160];
    if (!brig_tenant_name_ok(h->tenant, h->tenant_len, reason, sizeof reason))
        return error_set(why, BRIG_HEADER_TENANT, "invalid header: %s", reason);
    memcpy(out->tenant, h->tenant, h->tenant_len);
    out->tenant[h->tenant_len] = '\0';
    if (!parse_ts(h->ts, h->ts_len, &out->ts_ms))
        return error_set(why, BRIG_HEADER_TS,
                         "invalid header: Unix milliseconds in decimal, 1 to %llu, are expected",
                         (unsigned long long)BRIG_TIME_MS_MAX);
    if (!base64_decode(h->sig, h->sig_len, out->sig, sizeof out->sig))
        return error_set(why, BRIG_HEADER_SIG,
                         "invalid header: %d bytes of standard base64 (an Ed25519 signature) "
                         "are expected",
                         BRIG_SIG_TEXT_LEN);
    return 0;
}

int brig_signature_check(const struct brig_signature_headers *headers, struct brig_signed *m,
                         uint64_t now_ms, uint64_t window_ms, brig_tenant_keys_fn keys_of,
                         void *ctx, struct brig_signature *out, struct brig_error *why)
{
    if (parse_headers(headers, out, why) < 0)
        return -1;
    const uint8_t(*keys)[BRIG_ED25519_KEY_BYTES] = NULL;
    size_t n_keys = keys_of(ctx, out->tenant, &keys);
    if (n_keys == 0)
        return error_set(why, BRIG_HEADER_TENANT, "unknown tenant \"%s\"", out->tenant);
    m->tenant = out->tenant;
    m->ts_ms = out->ts_ms;
    bool verified = false;
    for (size_t i = 0; i < n_keys && !verified; i++)
        verified = brig_signature_verify(keys[i], m, out->sig);
    if (!verified)
        return error_set(why, BRIG_HEADER_SIG,
                         "bad signature: not the signature of this message by tenant %s's "
                         "key%s",
                         out->tenant, n_keys > 1 ? "s" : "");
    uint64_t skew = now_ms > out->ts_ms ? now_ms - out->ts_ms : out->ts_ms - now_ms;
    if (skew > window_ms)
        return error_set(why, BRIG_HEADER_TS,
                         "stale: signed %llu s %s it was received, and a signature holds for "
                         "%llu s",
                         (unsigned long long)(skew / 1000),
                         now_ms > out->ts_ms ? "before" : "after",
                         (unsigned long long)(window_ms / 1000));
    return 0;
}

int brig_public_key_parse(const char *text, uint8_t out[BRIG_ED25519_KEY_BYTES], char *why,
                          size_t whylen)
{
    size_t prefix = strlen(BRIG_PUBLIC_KEY_PREFIX);
    if (strncmp(text, BRIG_PUBLIC_KEY_PREFIX, prefix) != 0 ||
        !base64_decode(text + prefix, strlen(text + prefix), out, BRIG_ED25519_KEY_BYTES)) {
        snprintf(why, whylen,
                 "not a public key: \"%s\" and the base64 of 32 bytes (as brig keygen prints) "
                 "are expected",
                 BRIG_PUBLIC_KEY_PREFIX);
        return -1;
    }
    return 0;
}

void brig_public_key_format(const uint8_t key[BRIG_ED25519_KEY_BYTES],
                            char out[BRIG_PUBLIC_KEY_TEXT_SIZE])
{
    size_t prefix = strlen(BRIG_PUBLIC_KEY_PREFIX);
    memcpy(out, BRIG_PUBLIC_KEY_PREFIX, prefix);
    EVP_EncodeBlock((unsigned char *)out + prefix, key, BRIG_ED25519_KEY_BYTES);
}

int brig_public_key_of(const uint8_t seed[BRIG_ED25519_KEY_BYTES],
                       uint8_t out[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen)
{
    EVP_PKEY *key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, BRIG_ED25519_KEY_BYTES);
    size_t len = BRIG_ED25519_KEY_BYTES;
    int rc = key && EVP_PKEY_get_raw_public_key(key, out, &len) == 1 ? 0 : -1;
    if (rc < 0)
        crypto_error(err, errlen, "deriving an Ed25519 public key");
    EVP_PKEY_free(key);
    return rc;
}
