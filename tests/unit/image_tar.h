/* Test helper: tarballs built in memory with libarchive's writer, entry by
 * entry, hostile ones included, and OCI layouts and docker save tarballs
 * made of them. Every function fails the test on error. */
#ifndef BRIG_TESTS_UNIT_IMAGE_TAR_H
#define BRIG_TESTS_UNIT_IMAGE_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tar;

/* A new tarball; gzip compresses it. */
struct tar *tar_new(bool gzip);
void tar_file(struct tar *t, const char *path, mode_t mode, const char *data);
/* A file of size zero bytes, written a block at a time. */
void tar_zeros(struct tar *t, const char *path, size_t size);
void tar_dir(struct tar *t, const char *path, mode_t mode);
void tar_symlink(struct tar *t, const char *path, const char *target);
void tar_hardlink(struct tar *t, const char *path, const char *target);
/* A device node or FIFO (type: AE_IFCHR, AE_IFBLK, AE_IFIFO); tar has no
 * sockets. */
void tar_special(struct tar *t, const char *path, mode_t type);
/* The bytes, owned by t until tar_free. */
const char *tar_bytes(struct tar *t, size_t *len);
void tar_free(struct tar *t);

struct layer {
    const char *data;
    size_t len;
    bool gzip;
};

/* An OCI layout at dir with these layers, bottom first. With wrong_digest
 * >= 0, that layer's blob is named (and the manifest names it) by the
 * digest of other bytes. */
void oci_write(const char *dir, const struct layer *layers, size_t n, int wrong_digest);
/* The same, packed in one tarball at path. */
void oci_write_tar(const char *path, const struct layer *layers, size_t n);
/* A docker save tarball at path (layers must not be gzipped). */
void docker_write(const char *path, const struct layer *layers, size_t n);

#endif
