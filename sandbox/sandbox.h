/* The jail: runs one program in fresh namespaces, cgroups, rlimits and a
 * seccomp filter, and reports what became of it.
 *
 * A jail_context is made once per process (it detects cgroups, compiles the
 * seccomp filter and claims a block of host uids); jail_run() may then be
 * called from several threads at once, one jail per call. */
#ifndef BRIG_SANDBOX_H
#define BRIG_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/status.h"

/* 0 means "no limit" only where noted; jail_limits_default() fills sane values. */
struct jail_limits {
    uint64_t wall_ms;      /* wall clock, enforced by the supervisor */
    uint64_t cpu_ms;       /* CPU time of the whole tree (cgroup accounting) */
    uint64_t memory_bytes; /* cgroup memory, swap not allowed */
    uint64_t pids;         /* processes and threads in the tree */
    uint64_t output_bytes; /* stdout + stderr together; past it the job is stopped */
    uint64_t fsize_bytes;  /* RLIMIT_FSIZE: largest file the job may write */
    uint64_t nofile;       /* RLIMIT_NOFILE */
    uint64_t stack_bytes;  /* RLIMIT_STACK */
    uint64_t tmp_bytes;    /* size of the tmpfs at /tmp */
    uint64_t disk_bytes;   /* size of the tmpfs at /work when the jail makes it */
    uint32_t cpu_millis;   /* CPU quota in thousandths of a core; 0 = no quota */
};

void jail_limits_default(struct jail_limits *limits);

/* Every job's PATH, unless its environment says otherwise. */
#define JAIL_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct jail_bind {
    const char *src; /* host path */
    const char *dst; /* path inside the jail; NULL = same as src */
    bool writable;
};

enum jail_stream { JAIL_STDOUT = 1, JAIL_STDERR = 2 };

/* Called from jail_run()'s thread as output arrives, before it is capped:
 * live logs and pass-through. */
typedef void (*jail_output_fn)(void *ctx, enum jail_stream stream, const char *data, size_t len);

struct jail_context;
struct jail_image;

/* A job's /work: a size-limited tmpfs mounted on the host under the state
 * directory, owned (through the tmpfs uid=/gid= options, never a chown) by a
 * host uid claimed for the workspace's lifetime, that no other live workspace
 * uses and that owns nothing else. Jails that share a workspace (a compile
 * step, then a run) run as its uid. Freeing it unmounts it, so nothing the job
 * left behind is ever walked or deleted by path. */
struct jail_workspace;

int jail_workspace_new(struct jail_context *ctx, uint64_t disk_bytes, struct jail_workspace **out,
                       char *err, size_t errlen);
/* Frees ws (NULL is fine). -1 with a sentence when its tmpfs could not be
 * unmounted (its uid then stays taken) or, for a session's, when its last
 * use could not be recorded; ws is freed all the same. */
int jail_workspace_close(struct jail_workspace *ws, char *err, size_t errlen);
/* jail_workspace_close, for callers that have no use for what failed. */
void jail_workspace_free(struct jail_workspace *ws);

/* An O_PATH descriptor of the workspace root, for host-side openat() work. */
int jail_workspace_dirfd(const struct jail_workspace *ws);

/* Writes a file at relpath (parents created as needed), refusing every
 * symlink on the way (O_NOFOLLOW at each step) and any path that is absolute
 * or has a ".." component. The file is owned by the workspace uid. */
int jail_workspace_write_file(struct jail_workspace *ws, const char *relpath, const void *data,
                              size_t len, unsigned mode, char *err, size_t errlen);

/* A jail server: a brig-zygote process that clones jails' inits on this
 * process's behalf. This process sends it the mount plans, the seccomp
 * program and the rlimits, writes the id maps, owns the cgroup and
 * supervises; the server only clones. There are two kinds:
 *
 * - the spawner (config.spawner_path, --cold), a small single-threaded
 *   process that clones every cold jail of a context (see there);
 * - a warm server: a pre-initialised Python (with the modules it was told to
 *   preload) that never runs job code. A jail_run given one (spec.warm) has
 *   it clone the jail's init: init and the job are then copies of the
 *   initialised interpreter, and the job runs its script in its copy instead
 *   of exec'ing python3, so it starts without paying for the interpreter's
 *   start-up or its imports. A job whose argv the server cannot run as
 *   `python3 FILE ARGS...` or `python3 -c CODE ARGS...` is exec'd as usual.
 *
 * If a server dies, later jails are cloned by this process (cold) until
 * jail_server_restart() brings up another. */
struct jail_server;

/* Starts a warm server: server_path (brig-zygote) with the modules to
 * preload (NULL-terminated, may be empty), and waits until it has imported
 * them. Call it from a thread that lives as long as the server should: the
 * server dies with it. */
int jail_server_start_warm(struct jail_context *ctx, const char *server_path,
                           const char *const *preload, struct jail_server **out, char *err,
                           size_t errlen);
void jail_server_free(struct jail_server *server);
/* "Python 3.11.2" as a warm server reports its interpreter; "cold" for the
 * spawner. */
const char *jail_server_version(const struct jail_server *server);
/* Whether the server still clones jails (it has not died). */
bool jail_server_alive(struct jail_server *server);
/* After the server died: starts another with the same arguments, from the
 * calling thread (which it dies with, as for jail_server_start_warm). Refuses
 * one whose interpreter's version differs from the first's, so that what the
 * audit store says ran stays true. 0 also when the server is alive. */
int jail_server_restart(struct jail_server *server, struct jail_context *ctx, char *err,
                        size_t errlen);

struct jail_spec {
    const char *const *argv; /* NULL-terminated; argv[0] absolute or found in the jail's PATH */
    const char *const *env;  /* NULL-terminated "K=V" list added to the defaults (PATH,
                                HOME=/work, LANG...) and the context's */
    struct jail_workspace *workspace; /* /work; NULL = a fresh one of limits.disk_bytes,
                                         gone with the jail */
    const char *workdir;           /* instead of a workspace: a host directory bound read-write at
                                      /work, as it is (brig-jail --workdir) */
    const struct jail_bind *binds; /* extra binds */
    size_t n_binds;
    const void *stdin_data; /* the program's stdin; NULL = empty */
    size_t stdin_len;
    struct jail_limits limits;
    jail_output_fn on_output; /* optional */
    void *output_ctx;
    /* Optional (> 0): when this descriptor becomes readable the job is
     * stopped, and the outcome is BRIG_STATUS_INTERNAL_ERROR with cancelled
     * set. The worker uses one eventfd for all its jails to stop them when its
     * drain time is up. */
    int cancel_fd;
    /* Optional: called by jail_run once the jail's network namespace exists
     * and before the job starts, with a descriptor of that namespace (do not
     * keep it past the call); non-zero fails the jail with a setup error. The
     * egress proxy uses it to open its listening socket inside the jail's
     * namespace. */
    int (*on_network)(void *ctx, int netns_fd);
    void *network_ctx;
    struct jail_server *warm; /* optional: start the job from this warm server */
    /* Optional: a root image (sandbox/image.h) of this context, mounted in
     * place of the host's /usr and /etc; not with warm. */
    const struct jail_image *image;
};

struct jail_capture {
    char *data; /* NUL-terminated for convenience; len excludes the NUL */
    size_t len;
    bool truncated;
};

struct jail_outcome {
    brig_status status;
    int exit_code; /* when the program exited */
    int signal;    /* when it was killed by a signal */
    uint64_t wall_us;
    uint64_t cpu_us;
    uint64_t peak_memory_bytes;
    struct jail_capture out;
    struct jail_capture err;
    bool cancelled;    /* stopped through spec->cancel_fd */
    char syscall[32];  /* for BRIG_STATUS_SECCOMP: the refused call's name, "" if unknown */
    char message[256]; /* for setup errors: the step that failed and the errno text */
};

void jail_outcome_free(struct jail_outcome *outcome);

struct jail_context_config {
    const char *cgroup_root; /* NULL = /sys/fs/cgroup; tests point it at a fake tree */
    const char *state_dir;   /* NULL = /run/brig: uid-block locks and per-jail mounts */
    unsigned max_jails;      /* concurrent jails this process may run; sizes its uid block */
    /* Optional: brig-zygote, to clone every cold jail from a small
     * single-threaded process instead of from this one. Cloning copies the
     * caller's page tables, and from a multi-threaded process each copy-on-
     * write fault then interrupts every CPU the process runs on; a worker
     * (many threads, librdkafka's buffers) saves both. Same jail, same
     * checks; if the spawner dies, jails are cloned here again. */
    const char *spawner_path;
    /* Optional, with a spawner: network namespaces kept ready (loopback up)
     * for the spawner's jails, made by a thread of the context while jails
     * run. Each serves one jail only. 0 = every jail makes its own. */
    unsigned netns_pool;
    /* Optional: host paths bound read-only into every jail, checked here
     * (rules in mnt_binds.c: err names the path), and "NAME=VALUE" entries
     * every job's environment gets after the defaults and before its own.
     * Both are part of the policy hash, and warm interpreters start with
     * them. */
    const struct jail_bind *binds;
    size_t n_binds;
    const char *const *env;
};

/* Checks binds as config.binds takes them, against the host as it is now:
 * err names the path and what is wrong with it. */
int jail_binds_check(const struct jail_bind *binds, size_t n_binds, char *err, size_t errlen);

/* Returns 0, or -1 with a sentence in err that says what is missing. */
int jail_context_new(const struct jail_context_config *config, struct jail_context **out, char *err,
                     size_t errlen);
void jail_context_free(struct jail_context *ctx);

/* A hex SHA-256 of what the jail enforces (the seccomp program, mounts,
 * the environment's defaults and default limits): recorded with every run
 * so a replay can tell whether the policy changed. */
const char *jail_policy_hash(struct jail_context *ctx);

/* Which cgroup hierarchy is in use: "v1" or "v2". */
const char *jail_cgroup_version(const struct jail_context *ctx);
/* The server that clones the context's cold jails (config.spawner_path), or
 * NULL. */
struct jail_server *jail_context_spawner(struct jail_context *ctx);

/* Runs spec to completion. Always fills out (setup failures become
 * BRIG_STATUS_SETUP_ERROR with a message); returns 0, or -1 when out->status
 * is a setup error or an internal error (the jail's own teardown failed). */
int jail_run(struct jail_context *ctx, const struct jail_spec *spec, struct jail_outcome *out);

#endif
