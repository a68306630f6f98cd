/* Runtimes: how to run source code of a language in the jail, read from a
 * JSON table that operators can extend without recompiling.
 *
 *   {"runtimes": [
 *     {"name": "c", "aliases": ["gcc"], "source": "main.c",
 *      "compile": {"argv": ["gcc", "-O2", "-o", "main", "main.c"],
 *                  "limits": {"wall_time": "60s", "cpu_time": "30s",
 *                             "memory": "512M", "pids": 64}},
 *      "run": ["/work/main"],
 *      "version": ["gcc", "--version"]}]}
 *
 * name, source, run and version are required; aliases and compile are
 * optional, and so is compile.limits and each of its four fields (sizes and
 * durations in the syntax of units.h, pids a number). The code is written to
 * /work/<source>; the compile step, when there is one, runs in its own jail on
 * that workspace with the caller's limits raised to at least compile.limits;
 * the program then runs in a fresh jail on the same workspace as run + the
 * caller's arguments. The first line version prints on stdout (cut to
 * BRIG_RUNTIME_VERSION_MAX bytes), run once per runtime in a jail, is cached
 * for the life of the table. Names and aliases follow the wire's rule for
 * runtime names (schema/text.h). Unknown fields are errors, so that a
 * misspelt limit never goes unnoticed.
 *
 * "warm": {"preload": ["numpy", "pandas"]} (optional, Python runtimes only)
 * opts the runtime into warm starts: a server with those modules imported
 * (sandbox.h, struct jail_server) clones each run's jail, so a script that
 * imports them does not pay for it. The version command must name the
 * server's interpreter ("Python 3.11.2"), or the table does not start.
 *
 * "image": "/srv/images/py.tar" (optional) runs the runtime's jails on a root
 * image (sandbox/image.h) instead of the host's /usr and /etc: an absolute
 * path to a directory tree, an OCI layout or a docker save tarball. The
 * object form bounds what it may unpack to (sizes in units.h's syntax):
 *   "image": {"path": "/srv/images/py.tar", "max_file": "1G",
 *             "max_total": "8G", "max_entries": 500000}
 * runtime_open_image unpacks it (once: brig-image caches it), and
 * refuses a runtime whose image lacks the programs its compile, run and
 * version commands start. Not with "warm": the warm server is the host's
 * Python. */
#ifndef BRIG_SANDBOX_RUNTIME_H
#define BRIG_SANDBOX_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/image.h"
#include "sandbox/sandbox.h"
#include "schema/bounds.h"

/* A floor for the compile step's limits; 0 leaves the caller's value. */
struct runtime_limits {
    uint64_t wall_ms;
    uint64_t cpu_ms;
    uint64_t memory_bytes;
    uint64_t pids;
};

struct runtime {
    char *name;
    char **aliases; /* NULL-terminated */
    char *source;   /* a plain file name in /work */
    char **compile; /* NULL-terminated argv, or NULL: no compile step */
    struct runtime_limits compile_limits;
    char **run;     /* NULL-terminated argv; the caller's arguments follow */
    char **version; /* NULL-terminated argv */
    /* "warm": {"preload": ["numpy", ...]}: NULL-terminated modules, or NULL
     * when the runtime always starts cold. */
    char **warm_preload;
    struct jail_server *warm; /* its server, once runtime_table_start_warm ran */
    char *image_path;         /* "image": its path, or NULL for the host's tree */
    struct image_limits image_limits;
    struct jail_image *image; /* once runtime_open_image ran */

    pthread_mutex_t version_lock;
    char *version_text; /* the cached first line, once known */
};

struct runtime_table {
    char *origin; /* the file it came from, for messages */
    struct runtime *runtimes;
    size_t count;
};

/* Errors name the origin, the runtime (index and name) and the field. */
int runtime_table_load(const char *path, struct runtime_table **out, char *err, size_t errlen);
int runtime_table_parse(const char *text, size_t len, const char *origin,
                        struct runtime_table **out, char *err, size_t errlen);
void runtime_table_free(struct runtime_table *table);

/* Starts a warm interpreter (server_path: brig-zygote) for every runtime
 * that asks for one, checking that it is the interpreter the runtime's
 * version command names. On error, err names the runtime. */
int runtime_table_start_warm(struct runtime_table *table, struct jail_context *ctx,
                             const char *server_path, char *err, size_t errlen);

/* Unpacks (or finds unpacked) the runtime's image, when it has one, with
 * builder (brig-image) into images_dir, and checks that the programs the
 * runtime starts are in it. note gets what was skipped. On error, err names
 * the runtime and the image. */
int runtime_open_image(struct runtime *runtime, struct jail_context *ctx, const char *builder,
                       const char *images_dir, image_note_fn note, void *note_ctx, char *err,
                       size_t errlen);
/* The policy hash of the runtime's jails: the image's, or the context's. */
const char *runtime_policy_hash(struct jail_context *ctx, const struct runtime *runtime);

/* By name or alias; NULL when the table has neither. */
struct runtime *runtime_find(const struct runtime_table *table, const char *name);

/* The runtime's version line, running its version command in a jail the
 * first time: a jail with a workspace of its own, so with a host uid of the
 * context's pool besides the caller's (a worker calls it for every runtime at
 * start, when all are free). Safe to call from several threads. */
int runtime_version(struct jail_context *ctx, struct runtime *runtime, char *buf, size_t len,
                    char *err, size_t errlen);

struct runtime_outcome {
    /* The program's run; when the compile step failed, the compiler's run
     * with status BRIG_STATUS_COMPILE_ERROR, its stderr then its stdout in
     * err (out empty) and what became of it in message. */
    struct jail_outcome jail;
    char version[BRIG_RUNTIME_VERSION_MAX + 1];
    /* The compile step's wall-clock time, when the runtime has one and it
     * ran: reported apart from the program's, whose limits do not cover it. */
    bool compiled;
    uint64_t compile_wall_us;
};

/* Runs code with runtime. spec supplies everything but argv: limits, env,
 * binds, stdin and on_output (which only the program's run gets, not the
 * compile step). spec->workspace, when set, is the caller's and stays open
 * afterwards for it to collect files from; when NULL, runtime_run makes one of
 * spec->limits.disk_bytes for the run and frees it. spec->workdir must be
 * NULL: the code goes into a workspace. args is NULL-terminated, or NULL.
 * Always fills out (free out->jail with jail_outcome_free); returns 0, or -1
 * when out->jail.status is a setup or internal error. */
int runtime_run(struct jail_context *ctx, struct runtime *runtime, const char *code,
                size_t code_len, const char *const *args, const struct jail_spec *spec,
                struct runtime_outcome *out);

#endif
