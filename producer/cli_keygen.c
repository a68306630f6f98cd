/* brig keygen: a tenant's Ed25519 key (SCHEMA.md section 14). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "producer/cli_common.h"
#include "producer/commands.h"
#include "producer/sign.h"

static const char keygen_help[] =
    "usage: brig keygen [--out FILE]\n"
    "       brig keygen --public FILE\n"
    "\n"
    "Makes an Ed25519 key to sign jobs with, as a tenant of workers started with\n"
    "--tenants. The private key (PEM, PKCS#8) goes to FILE, made with mode 0600\n"
    "(an existing file is never overwritten), or without --out to stdout; the\n"
    "public key line, \"ed25519:...\", for the tenant's \"keys\" in the workers'\n"
    "tenants file, goes to stdout (to stderr when the private key does).\n"
    "\n"
    "  --out FILE     where the private key goes\n"
    "  --public FILE  print the public key line of an existing private key\n"
    "\n"
    "Then: brig run --tenant NAME --key FILE ... (or BRIG_TENANT and BRIG_KEY).\n";

static int print_public(const uint8_t seed[BRIG_ED25519_KEY_BYTES], FILE *out)
{
    uint8_t pub[BRIG_ED25519_KEY_BYTES];
    char text[BRIG_PUBLIC_KEY_TEXT_SIZE], err[512];
    if (brig_public_key_of(seed, pub, err, sizeof err) < 0) {
        cli_error("keygen", "%s", err);
        return CLI_EXIT_SETUP;
    }
    brig_public_key_format(pub, text);
    fprintf(out, "%s\n", text);
    return fflush(out) == 0 ? 0 : CLI_EXIT_SETUP;
}

static int show_public(const char *path)
{
    uint8_t seed[BRIG_ED25519_KEY_BYTES];
    char err[512];
    if (sign_load_key(path, seed, err, sizeof err) < 0) {
        cli_error("keygen", "%s", err);
        return CLI_EXIT_SETUP;
    }
    int rc = print_public(seed, stdout);
    OPENSSL_cleanse(seed, sizeof seed);
    return rc;
}

static int make_key(const char *out)
{
    uint8_t seed[BRIG_ED25519_KEY_BYTES];
    char err[512];
    int rc = CLI_EXIT_SETUP;
    int fd =
        out ? open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : STDOUT_FILENO;
    if (fd < 0) {
        cli_error("keygen", "creating %s: %s%s", out, strerror(errno),
                  errno == EEXIST ? " (a key is never overwritten)" : "");
        return CLI_EXIT_SETUP;
    }
    if (sign_new_key(seed, err, sizeof err) < 0 || sign_write_key(fd, seed, err, sizeof err) < 0) {
        cli_error("keygen", "%s", err);
        if (out)
            unlink(out);
    } else {
        rc = print_public(seed, out ? stdout : stderr);
    }
    if (out && close(fd) != 0 && rc == 0) {
        cli_error("keygen", "writing %s: %s", out, strerror(errno));
        rc = CLI_EXIT_SETUP;
    }
    OPENSSL_cleanse(seed, sizeof seed);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"public", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *out = NULL, *public_of = NULL;
    char err[256];
    int id;
    optind = 0;
    opterr = 0;
    while ((id = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (id == 'h') {
            fputs(keygen_help, stdout);
            return 0;
        }
        if (id == 'o') {
            out = optarg;
        } else if (id == 'p') {
            public_of = optarg;
        } else {
            cli_option_error(id, argv, err, sizeof err);
            return cli_usage_error("keygen", err);
        }
    }
    if (optind < argc)
        return cli_usage_error("keygen", "keygen takes no operands");
    if (out && public_of)
        return cli_usage_error("keygen", "--out makes a key, --public reads one: not both");
    return public_of ? show_public(public_of) : make_key(out);
}
