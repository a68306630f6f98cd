/* Signed messages (SCHEMA.md section 14): who sent a job or a control
 * message, and proof that its bytes are the ones that tenant signed.
 *
 * The signature travels in three Kafka headers beside the message, so that the
 * message itself, and every v1 reader of it, stays as it is:
 *
 *   brig-tenant  the tenant's name: 1-32 bytes of [a-z0-9_-], starting with
 *                [a-z0-9] (it becomes part of topic and directory names)
 *   brig-ts      when it was signed: Unix ms in decimal, no leading zero
 *   brig-sig     Ed25519 (RFC 8032, pure) over the signing input below, in
 *                standard base64 with padding: exactly 88 bytes
 *
 * The signing input is a fixed layout, so that no two messages share one:
 *
 *   "brig-sig-v1" 0x00
 *   u8 len(topic)  topic     the topic the message is produced to
 *   u8 len(tenant) tenant
 *   u64 ts_ms                big-endian
 *   u8 key present (0 or 1)  a null Kafka key is 0, any other key (even empty) 1
 *   SHA-256(key)             of the key's bytes (of nothing for a null key)
 *   SHA-256(value)           of the message value, byte for byte
 *
 * Public keys are written "ed25519:" and the standard base64 of the 32 raw
 * bytes (44 bytes with padding), as `brig keygen` prints them.
 *
 * Library code: every failure is a brig_error (field: the header at fault,
 * reason: a sentence with the SCHEMA.md keyword) or an err sentence. */
#ifndef BRIG_SCHEMA_SIGNATURE_H
#define BRIG_SCHEMA_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

#define BRIG_TENANT_MAX 32
#define BRIG_HEADER_TENANT "brig-tenant"
#define BRIG_HEADER_TS "brig-ts"
#define BRIG_HEADER_SIG "brig-sig"
#define BRIG_SIG_TEXT_LEN 88 /* base64 of 64 bytes */
#define BRIG_ED25519_KEY_BYTES 32
#define BRIG_ED25519_SIG_BYTES 64
#define BRIG_PUBLIC_KEY_PREFIX "ed25519:"
/* "ed25519:" and 44 bytes of base64, and its NUL. */
#define BRIG_PUBLIC_KEY_TEXT_SIZE (sizeof(BRIG_PUBLIC_KEY_PREFIX) - 1 + 44 + 1)
/* The longest signing input: prefix, topic, tenant, ts, key flag, two hashes. */
#define BRIG_SIGNING_INPUT_MAX (12 + 1 + BRIG_TOPIC_MAX + 1 + BRIG_TENANT_MAX + 8 + 1 + 32 + 32)

/* A tenant name as above; false with a reason ("invalid character ..."). */
bool brig_tenant_name_ok(const char *name, size_t len, char *why, size_t whylen);

/* What a signature covers. key NULL is a null Kafka key. */
struct brig_signed {
    const char *topic;
    const char *tenant;
    uint64_t ts_ms;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
};

/* The signing input of m into buf; returns its length, or 0 when the topic
 * or tenant is empty or too long. */
size_t brig_signing_input(const struct brig_signed *m, uint8_t buf[BRIG_SIGNING_INPUT_MAX]);

/* Signs m with the Ed25519 private key whose 32-byte seed is given; sig gets
 * the brig-sig header's text and its NUL. */
int brig_sign(const uint8_t seed[BRIG_ED25519_KEY_BYTES], const struct brig_signed *m,
              char sig[BRIG_SIG_TEXT_LEN + 1], char *err, size_t errlen);

/* Whether sig is the signature of m under the public key. */
bool brig_signature_verify(const uint8_t public_key[BRIG_ED25519_KEY_BYTES],
                           const struct brig_signed *m, const uint8_t sig[BRIG_ED25519_SIG_BYTES]);

/* The three headers' values as they came (NULL: absent). */
struct brig_signature_headers {
    const void *tenant, *ts, *sig;
    size_t tenant_len, ts_len, sig_len;
};

/* The headers, read. */
struct brig_signature {
    char tenant[BRIG_TENANT_MAX + 1];
    uint64_t ts_ms;
    uint8_t sig[BRIG_ED25519_SIG_BYTES];
};

/* The public keys of a tenant (several while one is being replaced): how
 * many there are, 0 for a tenant it does not know. */
typedef size_t (*brig_tenant_keys_fn)(void *ctx, const char *tenant,
                                      const uint8_t (**keys)[BRIG_ED25519_KEY_BYTES]);

/* What a worker checks, in this order (the first failure is reported, its
 * field the header at fault): all three headers there ("unsigned" when none
 * is, "missing" when some are), each well formed ("invalid header"), the
 * tenant known ("unknown tenant"), the signature that of m under one of its
 * keys ("bad signature"), and ts_ms within window_ms of now_ms either way
 * ("stale"). m->tenant and m->ts_ms are taken from the headers. Returns 0
 * with out filled, or -1 with why. */
int brig_signature_check(const struct brig_signature_headers *headers, struct brig_signed *m,
                         uint64_t now_ms, uint64_t window_ms, brig_tenant_keys_fn keys_of,
                         void *ctx, struct brig_signature *out, struct brig_error *why);

/* "ed25519:<base64>" into 32 raw bytes; -1 with a reason in why. */
int brig_public_key_parse(const char *text, uint8_t out[BRIG_ED25519_KEY_BYTES], char *why,
                          size_t whylen);
/* The text form of a public key. */
void brig_public_key_format(const uint8_t key[BRIG_ED25519_KEY_BYTES],
                            char out[BRIG_PUBLIC_KEY_TEXT_SIZE]);

/* The public key of a private key's seed. */
int brig_public_key_of(const uint8_t seed[BRIG_ED25519_KEY_BYTES],
                       uint8_t out[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen);

#endif
