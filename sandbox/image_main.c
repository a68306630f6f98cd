/* brig-image: unpacks a root image for runtimes (sandbox/image.h), or finds
 * it unpacked, and says where and what it is. brig-worker runs it for each
 * image of its runtime table at start; an operator may run it beforehand to
 * check an image or to unpack it ahead of the workers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brig_version.h"
#include "common/units.h"
#include "sandbox/image.h"

static const char usage[] =
    "usage: brig-image unpack [OPTIONS] IMAGE\n"
    "\n"
    "Unpacks IMAGE (an absolute path: a directory tree, an OCI image layout, or\n"
    "an OCI or docker save tarball) for brig's runtimes, once, and prints\n"
    "  note: ...        each entry skipped (device nodes, FIFOs, sockets)\n"
    "  digest: sha256:  the digest of the unpacked tree\n"
    "  rootfs: PATH     where it is\n"
    "An image that is refused exits 1 with the reason, naming the entry.\n"
    "\n"
    "  --images-dir DIR     where unpacked images are kept (BRIG_IMAGES_DIR,\n"
    "                       default " IMAGE_DEFAULT_DIR ")\n"
    "  --max-file SIZE      largest file (default 4G)\n"
    "  --max-total SIZE     all files together (default 32G)\n"
    "  --max-entries N      entries, all layers together (default 2000000)\n"
    "  --help, --version\n";

static void print_note(void *ctx, const char *text)
{
    (void)ctx;
    printf("note: %s\n", text);
}

static int usage_error(const char *format, const char *what)
{
    fprintf(stderr, "brig-image: ");
    fprintf(stderr, format, what);
    fprintf(stderr, "\nTry 'brig-image --help'.\n");
    return 2;
}

int main(int argc, char **argv)
{
    enum { OPT_DIR = 1, OPT_FILE, OPT_TOTAL, OPT_ENTRIES, OPT_HELP, OPT_VERSION };
    static const struct option options[] = {
        {"images-dir", required_argument, NULL, OPT_DIR},
        {"max-file", required_argument, NULL, OPT_FILE},
        {"max-total", required_argument, NULL, OPT_TOTAL},
        {"max-entries", required_argument, NULL, OPT_ENTRIES},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    struct image_limits limits;
    const char *dir = getenv("BRIG_IMAGES_DIR");
    char err[1024];
    int opt;

    /* Lines reach a reader (brig-worker) in the order they were written. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    image_limits_default(&limits);
    if (dir == NULL || dir[0] == '\0')
        dir = IMAGE_DEFAULT_DIR;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int rc = 0;
        if (opt == OPT_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (opt == OPT_VERSION) {
            printf("brig-image %s\n", BRIG_VERSION);
            return 0;
        }
        if (opt == OPT_DIR)
            dir = optarg;
        else if (opt == OPT_FILE)
            rc = units_parse_size(optarg, &limits.file_bytes, err, sizeof(err));
        else if (opt == OPT_TOTAL)
            rc = units_parse_size(optarg, &limits.total_bytes, err, sizeof(err));
        else if (opt == OPT_ENTRIES)
            rc = units_parse_count(optarg, &limits.entries, err, sizeof(err));
        else
            return usage_error("%s", "unknown option");
        if (rc != 0)
            return usage_error("%s", err);
    }
    if (argc - optind != 2 || strcmp(argv[optind], "unpack") != 0)
        return usage_error("%s", "give the command unpack and one image");
    if (geteuid() != 0) {
        fprintf(stderr, "brig-image: unpacking needs root (the tree is root's, in a user "
                        "namespace of its own)\n");
        return 1;
    }
    struct image_built built;
    if (image_build(argv[optind + 1], dir, &limits, print_note, NULL, &built, err, sizeof(err)) !=
        0) {
        fflush(stdout);
        fprintf(stderr, "brig-image: %s\n", err);
        return 1;
    }
    printf("digest: %s\nrootfs: %s\n", built.digest, built.rootfs);
    return fflush(stdout) == 0 ? 0 : 1;
}
