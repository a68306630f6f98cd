/* A client's side of signed messages (SCHEMA.md section 14): its Ed25519
 * key in a PEM file (PKCS#8, as `brig keygen` writes and `openssl genpkey
 * -algorithm ed25519` too), and the three headers of each message it
 * produces. */
#ifndef BRIG_PRODUCER_SIGN_H
#define BRIG_PRODUCER_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "schema/signature.h"

/* Reads an Ed25519 private key. The file must not be readable by group or
 * others: a key anyone may read is anyone's. */
int sign_load_key(const char *path, uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen);

/* A fresh key, from the system's random source. */
int sign_new_key(uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen);

/* The key as PEM (PKCS#8) into fd; the caller made the file. */
int sign_write_key(int fd, const uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen);

/* The headers of one message, NUL-terminated texts. */
struct sign_headers {
    char tenant[BRIG_TENANT_MAX + 1];
    char ts[24];
    char sig[BRIG_SIG_TEXT_LEN + 1];
};

/* Signs the message (key NULL: a null Kafka key) for topic, at now_ms. */
int sign_message(const uint8_t seed[BRIG_ED25519_KEY_BYTES], const char *tenant, const char *topic,
                 const void *key, size_t key_len, const void *value, size_t len, int64_t now_ms,
                 struct sign_headers *out, char *err, size_t errlen);

#endif
