/* Between the parts of image unpacking (image.h says what it does):
 *
 *   image_unpack.c   the writer: one layer's entries into the tree, checked
 *   image_source.c   the formats: a directory tree, an OCI layout (directory
 *                    or tarball), a docker save tarball; layers verified
 *   image_oci.c      their JSON: index, manifests, docker's manifest.json
 *   image_digest.c   the tree's digest, the source's cache key
 *   image_build.c    the cache and the sandboxed child (brig-image)
 *   image.c          a worker's side: the plan, the policy hash */
#ifndef BRIG_SANDBOX_IMAGE_INTERNAL_H
#define BRIG_SANDBOX_IMAGE_INTERNAL_H

#include <archive.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/image.h"

/* JSON documents of an image (index, manifest, config) are small. */
#define IMAGE_JSON_MAX_BYTES (4u << 20)
/* Docker refuses more than 127 layers. */
#define IMAGE_MAX_LAYERS 128
/* Notes past this many are counted, not told. */
#define IMAGE_MAX_NOTES 20

/* ---- the writer (image_unpack.c) ---- */

struct unpacker;

/* Writes into the directory root_fd (which it does not own). */
int unpacker_new(int root_fd, const struct image_limits *limits, image_note_fn note, void *note_ctx,
                 struct unpacker **out, char *err, size_t errlen);
enum image_layer_kind {
    IMAGE_LAYER_TAR,  /* a layer's tar: .wh. entries are OCI whiteouts */
    IMAGE_LAYER_DISK, /* a directory tree (archive_read_disk): descended, .wh. is a name */
};

/* Applies the archive's entries, the next layer, over what is there. label
 * names the layer in messages. */
int unpacker_apply(struct unpacker *u, struct archive *layer, const char *label,
                   enum image_layer_kind kind, char *err, size_t errlen);
/* Tells the notes past IMAGE_MAX_NOTES that were only counted, and frees. */
void unpacker_free(struct unpacker *u);

/* Removes name in dirfd and, for a directory, everything below it, never
 * following a link. 0 also when there is nothing; -1 with errno. */
int remove_tree_at(int dirfd, const char *name);

/* "./a//b/" as "a/b": NULL when in is acceptable, else why not (absolute,
 * a ".." component, too long). "" is the root itself. */
const char *image_path_normalise(const char *in, char *out, size_t len);

/* A name for messages: control and non-ASCII bytes as '?', at most 200 bytes. */
void image_printable(const char *in, char *out, size_t len);

/* ---- the formats (image_source.c) ---- */

/* Unpacks every layer of the image at path (a directory or a tarball) into
 * u; messages name the image shown (where path is a bind of it). */
int image_unpack_source(const char *path, const char *shown, struct unpacker *u, char *err,
                        size_t errlen);

/* ---- their JSON (image_oci.c) ---- */

/* A layer to unpack: where it is, and the SHA-256 its bytes must have. */
struct image_layer {
    char *path;      /* relative to the layout's root */
    char sha256[65]; /* lowercase hex */
    int64_t size;    /* -1 when the manifest does not say */
};

struct image_layers {
    struct image_layer items[IMAGE_MAX_LAYERS];
    size_t count;
};

void image_layers_free(struct image_layers *layers);

/* Reads a small file of the image whole; the callbacks of image_source.c. */
struct image_files {
    void *ctx;
    /* NUL-terminated contents; -1 with err when missing or too large. */
    int (*read)(void *ctx, const char *path, char **data, size_t *len, char *err, size_t errlen);
};

/* The layers of an OCI layout: index.json, the manifest for this machine,
 * each blob's digest. Blobs the index and manifest name are checked against
 * their digests as they are read. */
int image_oci_layers(const struct image_files *files, struct image_layers *out, char *err,
                     size_t errlen);
/* The layers of a docker save tarball: manifest.json (one image), its
 * config's rootfs.diff_ids as the layers' digests. */
int image_docker_layers(const struct image_files *files, struct image_layers *out, char *err,
                        size_t errlen);

/* Hex SHA-256 of len bytes into hex (65 bytes). */
void image_sha256_hex(const void *data, size_t len, char hex[65]);

/* What a child says on fd until it closes it: the first max bytes,
 * NUL-terminated, the rest read and dropped so that the child never blocks.
 * NULL when out of memory (all of it still read). */
char *image_read_all(int fd, size_t max);

/* ---- digests (image_digest.c) ---- */

/* "sha256:<hex>" of the tree below root_fd. */
int image_tree_digest(int root_fd, char digest[IMAGE_DIGEST_SIZE], char *err, size_t errlen);
/* The cache's name for source unpacked under limits: hex SHA-256 of the
 * path, what stat says of it (of each entry, for a directory), the limits
 * and the unpacker's version. */
int image_source_key(const char *source, const struct image_limits *limits, char key[65], char *err,
                     size_t errlen);

#endif
