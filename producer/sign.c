#include "producer/sign.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void crypto_error(char *err, size_t errlen, const char *what)
{
    char text[256] = "unknown error";
    unsigned long code = ERR_get_error();
    if (code)
        ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    snprintf(err, errlen, "%s: %s", what, text);
}

int sign_load_key(const char *path, uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "key %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077)) {
        snprintf(err, errlen, "key %s: readable by others (mode %04o): chmod 600 %s", path,
                 (unsigned)(st.st_mode & 07777), path);
        fclose(f);
        return -1;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    size_t len = BRIG_ED25519_KEY_BYTES;
    int rc = -1;
    char what[4200];
    snprintf(what, sizeof what, "key %s: reading a PEM private key", path);
    if (!key)
        crypto_error(err, errlen, what);
    else if (EVP_PKEY_id(key) != EVP_PKEY_ED25519)
        snprintf(err, errlen, "key %s: not an Ed25519 key (make one with brig keygen)", path);
    else if (EVP_PKEY_get_raw_private_key(key, seed, &len) != 1 || len != BRIG_ED25519_KEY_BYTES)
        crypto_error(err, errlen, what);
    else
        rc = 0;
    EVP_PKEY_free(key);
    return rc;
}

int sign_new_key(uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen)
{
    if (RAND_bytes(seed, BRIG_ED25519_KEY_BYTES) != 1) {
        crypto_error(err, errlen, "drawing a key from the random source");
        return -1;
    }
    return 0;
}

int sign_write_key(int fd, const uint8_t seed[BRIG_ED25519_KEY_BYTES], char *err, size_t errlen)
{
    EVP_PKEY *key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, BRIG_ED25519_KEY_BYTES);
    int copy = key ? dup(fd) : -1;
    FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL;
    int rc = -1;
    if (!key)
        crypto_error(err, errlen, "making the key");
    else if (!f)
        snprintf(err, errlen, "writing the key: %s", strerror(errno));
    else if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1)
        crypto_error(err, errlen, "writing the key as PEM");
    else if (fflush(f) != 0)
        snprintf(err, errlen, "writing the key: %s", strerror(errno));
    else
        rc = 0;
    if (f)
        fclose(f);
    else if (copy >= 0)
        close(copy);
    EVP_PKEY_free(key);
    return rc;
}

int sign_message(const uint8_t seed[BRIG_ED25519_KEY_BYTES], const char *tenant, const char *topic,
                 const void *key, size_t key_len, const void *value, size_t len, int64_t now_ms,
                 struct sign_headers *out, char *err, size_t errlen)
{
    struct brig_signed m = {
        .topic = topic,
        .tenant = tenant,
        .ts_ms = (uint64_t)now_ms,
        .key = key,
        .key_len = key_len,
        .value = value,
        .value_len = len,
    };
    snprintf(out->tenant, sizeof out->tenant, "%s", tenant);
    snprintf(out->ts, sizeof out->ts, "%lld", (long long)now_ms);
    return brig_sign(seed, &m, out->sig, err, errlen);
}
