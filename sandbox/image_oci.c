/* The JSON of an image: which layers, in which order, with which digests.
 *
 * OCI layout (image-spec's image-layout.md): index.json lists manifests by
 * descriptor (mediaType, digest, size, platform); the manifest for this
 * machine (the only one, or the one for linux and this architecture; an
 * index inside is followed once more) lists the layers, bottom first, each
 * a blob at blobs/sha256/<hex> whose SHA-256 is its digest. Every blob read
 * here is checked against its descriptor before it is believed.
 *
 * docker save (the format before Docker 25, which writes an OCI layout):
 * manifest.json is [{"Config": ..., "Layers": [...]}]; the config's
 * rootfs.diff_ids are the SHA-256s of the layers' tars, in order, and a
 * config named after its own digest is checked against it. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "sandbox/image_internal.h"

#define DIGEST_PREFIX "sha256:"
#define MAX_INDEX_DEPTH 2

void image_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    hex[0] = '\0';
    if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32)
        return;
    for (unsigned i = 0; i < digest_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

void image_layers_free(struct image_layers *layers)
{
    for (size_t i = 0; i < layers->count; i++)
        free(layers->items[i].path);
    layers->count = 0;
}

static bool is_hex64(const char *text)
{
    if (strlen(text) != 64)
        return false;
    for (const char *c = text; *c != '\0'; c++) {
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    }
    return true;
}

/* "sha256:<64 lowercase hex>" into hex; other algorithms are refused. */
static int parse_digest(const json_t *value, const char *what, char hex[65], char *err,
                        size_t errlen)
{
    const char *text = json_string_value(value);
    size_t prefix = strlen(DIGEST_PREFIX);
    if (text == NULL || strncmp(text, DIGEST_PREFIX, prefix) != 0 || !is_hex64(text + prefix)) {
        snprintf(err, errlen, "%s: digest must be \"sha256:\" and 64 lowercase hex digits", what);
        return -1;
    }
    memcpy(hex, text + prefix, 65);
    return 0;
}

static int parse_json(const char *path, const char *data, size_t len, json_t **out, char *err,
                      size_t errlen)
{
    json_error_t error;
    *out = json_loadb(data, len, JSON_REJECT_DUPLICATES, &error);
    if (*out == NULL) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, error.line, error.column, error.text);
        return -1;
    }
    return 0;
}

static int read_json(const struct image_files *files, const char *path, json_t **out, char *err,
                     size_t errlen)
{
    char *data;
    size_t len;
    if (files->read(files->ctx, path, &data, &len, err, errlen) != 0)
        return -1;
    int rc = parse_json(path, data, len, out, err, errlen);
    free(data);
    return rc;
}

/* The blob a descriptor names, checked against its digest and size. */
static int read_blob_json(const struct image_files *files, const json_t *descriptor,
                          const char *what, json_t **out, char *err, size_t errlen)
{
    char hex[65], actual[65], path[96];
    if (parse_digest(json_object_get(descriptor, "digest"), what, hex, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
    char *data;
    size_t len;
    if (files->read(files->ctx, path, &data, &len, err, errlen) != 0)
        return -1;
    image_sha256_hex(data, len, actual);
    const json_t *size = json_object_get(descriptor, "size");
    int rc = -1;
    if (strcmp(actual, hex) != 0)
        snprintf(err, errlen, "%s: %s has SHA-256 %s, not the %s its descriptor says", what, path,
                 actual, hex);
    else if (size != NULL &&
             (!json_is_integer(size) || json_integer_value(size) != (json_int_t)len))
        snprintf(err, errlen, "%s: %s is %zu bytes, not the size its descriptor says", what, path,
                 len);
    else
        rc = parse_json(path, data, len, out, err, errlen);
    free(data);
    return rc;
}

/* GOARCH's name for this machine, as OCI platforms spell architectures. */
static void host_architecture(char *buf, size_t len)
{
    static const char *const names[][2] = {
        {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"i686", "386"}, {"armv7l", "arm"}};
    struct utsname u;
    if (uname(&u) != 0) {
        snprintf(buf, len, "unknown");
        return;
    }
    snprintf(buf, len, "%.31s", u.machine);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(u.machine, names[i][0]) == 0)
            snprintf(buf, len, "%s", names[i][1]);
    }
}

static bool is_index(const json_t *descriptor)
{
    const char *type = json_string_value(json_object_get(descriptor, "mediaType"));
    return type != NULL && (strcmp(type, "application/vnd.oci.image.index.v1+json") == 0 ||
                            strcmp(type, "application/vnd.docker.distribution.manifest.list.v2+"
                                         "json") == 0);
}

/* The one manifest of an index, or the one for linux on this machine. */
static const json_t *choose_manifest(const json_t *index, const char *what, char *err,
                                     size_t errlen)
{
    const json_t *manifests = json_object_get(index, "manifests");
    size_t count = json_array_size(manifests);
    if (!json_is_array(manifests) || count == 0) {
        snprintf(err, errlen, "%s: \"manifests\" must be a non-empty array", what);
        return NULL;
    }
    if (count == 1)
        return json_array_get(manifests, 0);
    char arch[32];
    host_architecture(arch, sizeof(arch));
    const json_t *chosen = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *platform = json_object_get(json_array_get(manifests, i), "platform");
        const char *os = json_string_value(json_object_get(platform, "os"));
        const char *cpu = json_string_value(json_object_get(platform, "architecture"));
        if (os != NULL && cpu != NULL && strcmp(os, "linux") == 0 && strcmp(cpu, arch) == 0) {
            chosen = json_array_get(manifests, i);
            matches++;
        }
    }
    if (matches != 1) {
        snprintf(err, errlen, "%s: %zu manifests, and %s for linux/%s (give an image of one)", what,
                 count, matches == 0 ? "none" : "several", arch);
        return NULL;
    }
    return chosen;
}

static int add_layer(struct image_layers *out, const char *path, const char *hex, int64_t size,
                     char *err, size_t errlen)
{
    if (out->count == IMAGE_MAX_LAYERS) {
        snprintf(err, errlen, "the image has more than %d layers", IMAGE_MAX_LAYERS);
        return -1;
    }
    struct image_layer *layer = &out->items[out->count];
    if ((layer->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "listing the layers: out of memory");
        return -1;
    }
    memcpy(layer->sha256, hex, 65);
    layer->size = size;
    out->count++;
    return 0;
}

static int manifest_layers(const json_t *manifest, struct image_layers *out, char *err,
                           size_t errlen)
{
    const json_t *layers = json_object_get(manifest, "layers");
    if (!json_is_array(layers)) {
        snprintf(err, errlen, "the manifest has no \"layers\" array");
        return -1;
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *layer = json_array_get(layers, i);
        const char *type = json_string_value(json_object_get(layer, "mediaType"));
        const json_t *size = json_object_get(layer, "size");
        char what[64], hex[65], path[96];
        snprintf(what, sizeof(what), "the manifest's layers[%zu]", i);
        if (type == NULL || strstr(type, "tar") == NULL) {
            snprintf(err, errlen, "%s: mediaType %s is not a layer's tar", what,
                     type != NULL ? type : "(missing)");
            return -1;
        }
        if (parse_digest(json_object_get(layer, "digest"), what, hex, err, errlen) != 0)
            return -1;
        snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
        if (add_layer(out, path, hex, json_is_integer(size) ? json_integer_value(size) : -1, err,
                      errlen) != 0)
            return -1;
    }
    return 0;
}

int image_oci_layers(const struct image_files *files, struct image_layers *out, char *err,
                     size_t errlen)
{
    json_t *doc = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (read_json(files, "index.json", &doc, err, errlen) != 0)
        return -1;
    /* index.json, then maybe a nested index, then the manifest. */
    for (int depth = 0;; depth++) {
        const json_t *descriptor =
            choose_manifest(doc, depth == 0 ? "index.json" : "the nested index", err, errlen);
        if (descriptor == NULL)
            break;
        bool nested = is_index(descriptor);
        if (nested && depth == MAX_INDEX_DEPTH) {
            snprintf(err, errlen, "index.json: indexes nested more than %d deep", MAX_INDEX_DEPTH);
            break;
        }
        json_t *next;
        if (read_blob_json(files, descriptor, nested ? "the nested index" : "the manifest", &next,
                           err, errlen) != 0)
            break;
        json_decref(doc);
        doc = next;
        if (!nested) {
            rc = manifest_layers(doc, out, err, errlen);
            break;
        }
    }
    json_decref(doc);
    if (rc != 0)
        image_layers_free(out);
    return rc;
}

/* The config's name may be its digest ("<hex>.json", "blobs/sha256/<hex>"). */
static int check_config_name(const char *name, const char *data, size_t len, char *err,
                             size_t errlen)
{
    const char *base = strrchr(name, '/');
    base = base != NULL ? base + 1 : name;
    char claimed[65], actual[65];
    snprintf(claimed, sizeof(claimed), "%.64s", base);
    if (!is_hex64(claimed))
        return 0;
    image_sha256_hex(data, len, actual);
    if (strcmp(claimed, actual) != 0) {
        snprintf(err, errlen, "manifest.json: the config %s has SHA-256 %s", name, actual);
        return -1;
    }
    return 0;
}

int image_docker_layers(const struct image_files *files, struct image_layers *out, char *err,
                        size_t errlen)
{
    json_t *manifest = NULL, *config = NULL;
    char *data = NULL;
    size_t len;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (read_json(files, "manifest.json", &manifest, err, errlen) != 0)
        return -1;
    const json_t *image = json_array_get(manifest, 0);
    const char *config_name = json_string_value(json_object_get(image, "Config"));
    const json_t *layers = json_object_get(image, "Layers");
    if (!json_is_array(manifest) || json_array_size(manifest) != 1 || config_name == NULL ||
        !json_is_array(layers)) {
        snprintf(err, errlen,
                 "manifest.json: must list one image, with \"Config\" and \"Layers\" (save one "
                 "image per tarball)");
        goto out;
    }
    if (files->read(files->ctx, config_name, &data, &len, err, errlen) != 0 ||
        check_config_name(config_name, data, len, err, errlen) != 0 ||
        parse_json(config_name, data, len, &config, err, errlen) != 0)
        goto out;
    const json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (!json_is_array(diff_ids) || json_array_size(diff_ids) != json_array_size(layers)) {
        snprintf(err, errlen,
                 "%s: rootfs.diff_ids must list as many digests as manifest.json has layers (%zu)",
                 config_name, json_array_size(layers));
        goto out;
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *path = json_string_value(json_array_get(layers, i));
        char what[64], hex[65];
        snprintf(what, sizeof(what), "%s: rootfs.diff_ids[%zu]", config_name, i);
        if (path == NULL) {
            snprintf(err, errlen, "manifest.json: Layers[%zu] must be a path", i);
            goto out;
        }
        if (parse_digest(json_array_get(diff_ids, i), what, hex, err, errlen) != 0 ||
            add_layer(out, path, hex, -1, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    free(data);
    json_decref(config);
    json_decref(manifest);
    if (rc != 0)
        image_layers_free(out);
    return rc;
}
