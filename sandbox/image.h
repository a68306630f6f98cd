/* Root images: a runtime may run on a root filesystem of its own instead of
 * the host's /usr and /etc (E2B calls them templates).
 *
 * An image is given as a directory tree (debootstrap's, say), an OCI image
 * layout (a directory, or a tarball of one) or a `docker save` tarball.
 * brig-image unpacks it once into <images dir>/<key>/rootfs, where key
 * names the source (its path and what stat says of it, every entry's for a
 * directory) and the limits it was unpacked under, and computes its digest:
 * a SHA-256 over a canonical walk of the unpacked tree (each path, type,
 * mode, link target and file content, in byte order of the paths), so that
 * the same tree has the same digest whatever format it came in. A worker
 * runs brig-image for each image at start; a second start, or another
 * worker, finds the unpacked tree and its digest in the cache.
 *
 * An image is hostile input and the unpacking runs as root: brig-image
 * unpacks in a child in a user namespace of its own (root mapped to root
 * only, so no device node can be made) chrooted into the build directory,
 * with the source bound read-only beside the tree, and every entry is
 * written relative to the tree's root one component at a time without
 * following a link (O_NOFOLLOW), so a link in the image may point anywhere
 * as a string but is never written through. Refused, each naming the entry:
 * absolute paths and ".." components, a path whose parent is a link or a
 * file, hardlinks to anything but a regular file already unpacked in the
 * tree, layers whose digest is not the manifest's, truncated or corrupt
 * archives, entries past the limits below, unknown entry types. Skipped,
 * with a note: device nodes, FIFOs and sockets (the jail's /dev is its own).
 * Neutralised: every mode loses its setuid, setgid and sticky bits and
 * group and other write; everything is owned by root. OCI whiteouts
 * (.wh.NAME, .wh..wh..opq) remove what lower layers left, never anything of
 * their own layer. */
#ifndef BRIG_SANDBOX_IMAGE_H
#define BRIG_SANDBOX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* Where brig-image keeps unpacked images, when not told. */
#define IMAGE_DEFAULT_DIR "/var/cache/brig/images"

/* Bounds on what an image may unpack to; all of them count every layer. */
struct image_limits {
    uint64_t file_bytes;  /* the largest file */
    uint64_t total_bytes; /* all files' bytes together */
    uint64_t entries;     /* entries, whiteouts included */
};

void image_limits_default(struct image_limits *limits);

/* "sha256:" and 64 hex digits. */
#define IMAGE_DIGEST_SIZE 72

/* Called with each skipped entry ("skipped the character device dev/null"). */
typedef void (*image_note_fn)(void *ctx, const char *text);

struct image_built {
    char digest[IMAGE_DIGEST_SIZE];
    char rootfs[4096];
    bool cached; /* it was unpacked before */
};

/* brig-image's work: unpacks source (an absolute path) into images_dir
 * unless it is there already, in a sandboxed child. Several processes may
 * build the same image at once: one unpacks, the others wait for it. */
int image_build(const char *source, const char *images_dir, const struct image_limits *limits,
                image_note_fn note, void *note_ctx, struct image_built *out, char *err,
                size_t errlen);

/* ---- a worker's side ---- */

/* An unpacked image as jails use it (struct jail_spec's image). */
struct jail_image;

/* Has builder (brig-image) unpack source, or find it unpacked, then checks
 * the tree, writes the jail's generated /etc files into it and plans the
 * jails' filesystem on it: the image's top-level entries (read-only binds,
 * or the links they are) in place of the host's /usr, /bin, /sbin, /lib*
 * and /etc, the rest of ctx's plan as it is. */
int jail_image_open(struct jail_context *ctx, const char *builder, const char *source,
                    const char *images_dir, const struct image_limits *limits, image_note_fn note,
                    void *note_ctx, struct jail_image **out, char *err, size_t errlen);
void jail_image_free(struct jail_image *image);

const char *jail_image_source(const struct jail_image *image);
const char *jail_image_digest(const struct jail_image *image);
const char *jail_image_rootfs(const struct jail_image *image);
/* The jail policy hash of ctx's jails on this image: ctx's policy hash, the
 * image's digest and its mount plan, hashed together. */
const char *jail_image_policy_hash(const struct jail_image *image);

/* Whether program (a path, or a name looked up in the jail's default PATH)
 * is an executable regular file in the image, links resolved inside it.
 * -1 with a sentence naming what is missing. */
int jail_image_find_program(const struct jail_image *image, const char *program, char *err,
                            size_t errlen);

#endif
