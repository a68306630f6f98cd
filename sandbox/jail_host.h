/* The jail's host side: what the process that runs jails keeps and does,
 * shared by its files:
 *
 *   context.c    the per-process jail_context
 *   user.c       host uid blocks and the jail's uid/gid maps
 *   mnt.c        the plans of the filesystem the jail sees
 *   limits.c     default limits, their checks and the rlimits
 *   privs.c      the job's environment and where execve looks
 *   netns_pool.c network namespaces made ahead
 *   server.c     jail servers (brig-zygote) that clone inits
 *   supervise.c  the host side of a running jail
 *   workspace.c  /work
 *   reclaim.c    what dead processes left
 *   jail.c       jail_run: the steps in order
 *
 * The context prepares what is the same for every jail, jail_run what is
 * particular to one; the child side (jail_child.h) only uses it. */
#ifndef BRIG_SANDBOX_JAIL_HOST_H
#define BRIG_SANDBOX_JAIL_HOST_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "sandbox/jail_child.h"
#include "sandbox/owner.h"
#include "sandbox/reclaim.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_policy.h"

/* ---- host uids (user.c) ---- */

/* The host uids of one context: whole chunks of a range that nothing else on
 * a host uses, each chunk held with a lock file so that two processes never
 * share one. */
struct uid_pool {
    uint32_t *chunks; /* chunk numbers held */
    int *lock_fds;
    size_t n_chunks;
    size_t size; /* uids in the pool */
    unsigned char *in_use;
    size_t next;   /* where the search for a free uid starts */
    uid_t *guests; /* uids of others (sessions') that jails may run as for a while */
    size_t n_guests;
    size_t guests_capacity;
    pthread_mutex_t lock;
};

/* lock_dir holds a lock file per chunk of the host's jail uid range. */
int uid_pool_claim(struct uid_pool *pool, const char *lock_dir, unsigned max_jails, char *err,
                   size_t errlen);
void uid_pool_release(struct uid_pool *pool);
/* Returns 0 and a host uid nothing else of this host uses, or -1 when all are taken. */
int uid_pool_get(struct uid_pool *pool, uid_t *out);
void uid_pool_put(struct uid_pool *pool, uid_t uid);
/* Whether jails of this pool may run as uid: one of its own, or a guest. */
bool uid_pool_owns(struct uid_pool *pool, uid_t uid);
/* A uid the pool never hands out but whose holder (a session workspace)
 * runs jails through this context until it removes it again. */
int uid_pool_add_guest(struct uid_pool *pool, uid_t uid);
void uid_pool_remove_guest(struct uid_pool *pool, uid_t uid);

/* Maps JAIL_INSIDE_ID to host_uid (and gid) in pid's user namespace. */
int user_write_id_maps(pid_t pid, uid_t host_uid, char *err, size_t errlen);

/* ---- the filesystem's plans (mnt.c) ---- */

/* The part of the filesystem that is the same for every jail of a context. */
int mnt_plan_base(struct mnt_plan *plan, const char *root, char *err, size_t errlen);
/* /tmp, /dev/shm, /work and the spec's binds; work_source NULL = a fresh tmpfs. */
int mnt_plan_job(struct mnt_plan *plan, const char *root, const struct jail_limits *limits,
                 const char *work_source, const struct jail_bind *binds, size_t n_binds, char *err,
                 size_t errlen);
/* A line per operation, for the policy hash. */
char *mnt_plan_describe(const struct mnt_plan *plan);
/* Whether path is absolute and names where it seems to: no ".", ".." or
 * empty components, which could point outside the new root; not "/". */
bool mnt_path_ok(const char *path);

/* ---- the operator's binds (mnt_binds.c) ---- */

/* Appends config.binds (jail_binds_check'ed) to the base plan, read-only. */
int mnt_plan_binds(struct mnt_plan *plan, const char *root, const struct jail_bind *binds,
                   size_t n_binds, char *err, size_t errlen);

/* ---- root images (image.c) ---- */

/* The base plan of jails on an image, in place of the context's. */
const struct mnt_plan *jail_image_plan(const struct jail_image *image);
/* The context whose jails it was planned for. */
const struct jail_context *jail_image_context(const struct jail_image *image);

/* ---- network namespaces made ahead (netns_pool.c) ---- */

struct netns_pool;
/* Starts a thread that keeps size namespaces, loopback up, ready. */
int netns_pool_start(size_t size, struct netns_pool **out, char *err, size_t errlen);
void netns_pool_stop(struct netns_pool *pool);
/* A namespace's descriptor for one jail (the caller closes it), or -1 when
 * none is ready: the jail then makes its own. */
int netns_pool_take(struct netns_pool *pool);

/* ---- limits (limits.c) ---- */

int limits_check(const struct jail_limits *limits, char *err, size_t errlen);
void limits_to_rlimits(const struct jail_limits *limits, struct jail_rlimit out[JAIL_RLIMITS]);

/* ---- the job's environment (privs.c) ---- */

/* The job's environment: the defaults (PATH, HOME, LANG, MPLBACKEND,
 * MPLCONFIGDIR, XDG_CACHE_HOME), then base (the context's), then env, where an entry
 * replaces an earlier one of the same name. NULL-terminated; the entries are
 * the callers' strings. */
char **privs_build_env(const char *const *base, const char *const *env, char *err, size_t errlen);
/* Where execve looks for argv0: argv0 itself when it has a '/', else each
 * directory of the PATH in envp. NULL-terminated, one allocation. */
char **privs_exec_candidates(const char *argv0, char *const *envp, char *err, size_t errlen);

/* ---- jail servers (server.c, warm_wire.c; the server is sandbox/zygote) ---- */

/* Starts brig-zygote with args (module names, or --cold for a server that
 * clones cold jails only) and shakes hands with it. */
int server_start(struct jail_context *ctx, const char *server_path, const char *const *args,
                 struct jail_server **out, char *err, size_t errlen);

enum server_spawn_result {
    SERVER_SPAWNED, /* *pid and *pidfd are init's */
    SERVER_REFUSED, /* the server refused this jail: msg says why */
    SERVER_GONE,    /* the server is dead: the caller clones init itself */
};

/* Asks the server to clone init for child (its descriptors go along); the
 * server's process is init's parent. */
enum server_spawn_result server_spawn(struct jail_server *server, const struct jail_child *child,
                                      int netns_fd, pid_t *pid, int *pidfd, unsigned *generation,
                                      char *msg, size_t len);
/* Init is dead: its parent may reap it now, and not before, so that its pid
 * names it for as long as jail_run uses it. generation is server_spawn's: a
 * server started since then did not clone it and is not told. */
void server_release(struct jail_server *server, pid_t pid, unsigned generation);

/* ---- the context (context.c) ---- */

struct jail_context {
    char *state_dir;
    char *root_dir; /* where each jail mounts its new root, in its own mount namespace */
    char *ws_dir;   /* host mount points of the workspaces */
    struct cgroup_backend *cgroups;
    struct seccomp_policy *seccomp;
    struct uid_pool uids;
    struct mnt_plan base_plan;
    char **env; /* config.env, NULL-terminated */
    unsigned ncpus;
    int cap_last_cap;
    struct owner owner;          /* this process: named in its cgroups and workspace mounts */
    struct jail_server *spawner; /* clones cold jails, when config.spawner_path was set */
    struct netns_pool *netns;    /* when config.netns_pool was set */
    pthread_mutex_t policy_hash_lock;
    char policy_hash[65]; /* "" until jail_policy_hash */
};

/* 0 when jails, as unprivileged host uids, can search every ancestor of dir;
 * else -1 and a sentence that names dir as what ("state directory"). */
int jail_check_reachable(const char *what, const char *dir, char *err, size_t errlen);

/* ---- workspaces (workspace.c) ---- */

/* The host path of the workspace, what jail_run binds at /work. */
const char *workspace_path(const struct jail_workspace *ws);
uid_t workspace_uid(const struct jail_workspace *ws);
/* Unmounts workspaces a crashed earlier owner of these uids left behind. */
void workspace_sweep_stale(struct jail_context *ctx);

/* The source of a workspace's tmpfs: this prefix and its maker's owner_format. */
#define WORKSPACE_SOURCE_PREFIX "brig-workspace:"

/* jail_reclaim's mounts: those of dead processes strictly under state_dir,
 * as the file mountinfo lists them. Adds to out; -1 when something failed. */
int reclaim_mounts(const char *mountinfo, const char *state_dir, struct jail_reclaimed *out,
                   char *err, size_t errlen);

/* Mounts a workspace tmpfs of disk_bytes (nosuid, nodev, root dir 0700)
 * owned by uid on the directory path, in place of whatever was mounted there. */
int workspace_mount(const char *path, const char *source, uid_t uid, uint64_t disk_bytes, char *err,
                    size_t errlen);
/* Unmounts every tmpfs stacked on path (MNT_DETACH: a jail may still hold it). */
int workspace_unmount(const char *path);
/* A workspace over a tmpfs someone else keeps mounted at path (a session's),
 * owned by uid: jails of ctx may run as uid while it lives, writing a file
 * replaces a file or symlink an earlier job left at its path, and closing it
 * closes dirfd and calls release(release_arg, err, errlen) instead of
 * unmounting. Takes dirfd only on success. */
int workspace_adopt(struct jail_context *ctx, uid_t uid, const char *path, int dirfd,
                    int (*release)(void *arg, char *err, size_t errlen), void *release_arg,
                    struct jail_workspace **out, char *err, size_t errlen);

/* ---- supervision (supervise.c) ---- */

struct jail_supervisor {
    /* in */
    const struct jail_context *ctx;
    const struct jail_spec *spec;
    struct jail_cgroup *cgroup;
    int pidfd; /* of init */
    int stdin_fd, stdout_fd, stderr_fd, report_fd;
    uint64_t started_ns;
    /* out */
    struct jail_report report;
    bool have_report;
    brig_status kill_reason; /* BRIG_STATUS_OK while the jail stopped nobody */
    uint64_t ended_ns;       /* when the job's end was reported, or init was gone */
};

/* Feeds stdin, captures output into out, enforces the wall, CPU and output
 * limits, and returns once init is gone and the output is drained. */
int supervise(struct jail_supervisor *sup, struct jail_outcome *out, char *err, size_t errlen);

/* ---- one jail's run (jail.c): jail_run's steps, which live jails (live.c)
 * share ---- */

struct jail_run {
    struct jail_context *ctx;
    const struct jail_spec *spec;
    bool live; /* with a channel, outliving the call that starts it */
    uid_t uid;
    bool uid_from_pool;
    struct mnt_plan job_plan;
    char **envp;
    char **exec_candidates;
    struct jail_child child;
    int stdin_pipe[2], stdout_pipe[2], stderr_pipe[2], go_pipe[2], report_pipe[2];
    int channel_in[2], channel_out[2]; /* live: toward the program, and from it */
    struct jail_cgroup *cgroup;
    pid_t init_pid;
    struct jail_server *server; /* what clones init: the spec's warm one, the context's
                                 spawner, or NULL (this thread) */
    bool init_is_remote;        /* the server's child, which that process reaps */
    unsigned server_generation;
    int pidfd;
    uint64_t started_ns; /* when the job was let go */
};

void jail_run_init(struct jail_run *run, struct jail_context *ctx, const struct jail_spec *spec,
                   bool live);
/* Builds the jail and lets its program start; -1 with msg, init killed. */
int jail_run_start(struct jail_run *run, char *msg, size_t len);
/* SIGKILLs init and waits until it is gone. */
void jail_run_kill(struct jail_run *run);
/* After supervision (sup's report, kill reason and times): kills what is
 * left, reads the cgroup's accounting, removes it and fills out's status. */
void jail_run_finish(struct jail_run *run, const struct jail_supervisor *sup, int supervised,
                     const char *msg, struct jail_outcome *out);
/* Frees what the run holds, on every path. */
void jail_run_release(struct jail_run *run);

/* jail_run writes to pipes whose reader may be gone: it blocks SIGPIPE in
 * its thread (a worker must not die of a job closing its stdin), and takes
 * the signal an EPIPE raised off the thread's queue. */
void block_sigpipe(sigset_t *saved);
void consume_sigpipe(void);

#endif
