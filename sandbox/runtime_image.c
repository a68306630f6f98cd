/* Runtimes on root images (runtime.h, "image"): each image opened once at
 * start, and a runtime refused there when its image lacks a program it
 * starts, rather than every job failing with exit 127 later. */
#include <stdio.h>
#include <string.h>

#include "sandbox/runtime.h"

/* The first word of each command, unless it is made in the workspace (a
 * compiled program) or a scratch directory. */
static int check_program(const struct runtime *runtime, char *const *argv, const char *what,
                         char *err, size_t errlen)
{
    char why[512];
    if (argv == NULL || strncmp(argv[0], "/work/", 6) == 0 || strncmp(argv[0], "/tmp/", 5) == 0)
        return 0;
    if (jail_image_find_program(runtime->image, argv[0], why, sizeof(why)) == 0)
        return 0;
    snprintf(err, errlen, "runtime %s: its %s command cannot start on the image %s: %s",
             runtime->name, what, runtime->image_path, why);
    return -1;
}

int runtime_open_image(struct runtime *runtime, struct jail_context *ctx, const char *builder,
                       const char *images_dir, image_note_fn note, void *note_ctx, char *err,
                       size_t errlen)
{
    char why[1024];
    if (runtime->image_path == NULL || runtime->image != NULL)
        return 0;
    if (jail_image_open(ctx, builder, runtime->image_path, images_dir, &runtime->image_limits, note,
                        note_ctx, &runtime->image, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "runtime %s: image %s: %s", runtime->name, runtime->image_path, why);
        return -1;
    }
    if (check_program(runtime, runtime->compile, "compile", err, errlen) != 0 ||
        check_program(runtime, runtime->run, "run", err, errlen) != 0 ||
        check_program(runtime, runtime->version, "version", err, errlen) != 0) {
        jail_image_free(runtime->image);
        runtime->image = NULL;
        return -1;
    }
    return 0;
}

const char *runtime_policy_hash(struct jail_context *ctx, const struct runtime *runtime)
{
    return runtime != NULL && runtime->image != NULL ? jail_image_policy_hash(runtime->image)
                                                     : jail_policy_hash(ctx);
}
