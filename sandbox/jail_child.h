/* The jail's child side: what the cloned init and the job use, and what
 * brig-zygote, which clones inits for a worker, needs to know of them. The
 * host side (jail_host.h) prepares all of it before the clone.
 *
 *   init.c       pid 1 of the jail and the job it starts
 *   mnt.c        the filesystem the jail sees (its plans, built on the host)
 *   net.c        loopback in the empty network namespace
 *   user.c, limits.c, privs.c   their child-side steps
 *
 * Everything here runs after a fork of a multi-threaded process, so it is
 * restricted to async-signal-safe calls on data prepared beforehand. */
#ifndef BRIG_SANDBOX_JAIL_CHILD_H
#define BRIG_SANDBOX_JAIL_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "sandbox/seccomp_policy.h"

/* The job's uid and gid inside the jail. */
#define JAIL_INSIDE_ID 1000
/* The job's PATH unless it sets one. */
#define JAIL_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define JAIL_HOSTNAME "brig"

/* The clone flags of every jail's init. */
#define JAIL_CLONE_FLAGS                                                                           \
    (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

/* A setup step that failed in the child: what it was doing and errno. */
struct jail_fail {
    const char *step;
    int err;
};

/* Records a failure and returns -1, for "return fail_at(fail, label, errno);". */
int fail_at(struct jail_fail *fail, const char *step, int err);

/* Drops the supplementary groups it inherited and becomes JAIL_INSIDE_ID (user.c). */
int user_become_jail_user(struct jail_fail *fail);

/* ---- the filesystem (mnt.c) ---- */

enum mnt_kind {
    MNT_TMPFS,    /* a tmpfs with options */
    MNT_BIND,     /* a host file or directory */
    MNT_DEVICE,   /* a host device node, which must keep working */
    MNT_SYMLINK,  /* a symbolic link to source */
    MNT_FILE,     /* a small file with source as its contents */
    MNT_DIR,      /* an empty directory */
    MNT_PROC,     /* procfs for the jail's pid namespace */
    MNT_READONLY, /* an existing path made read-only through a bind of itself */
    MNT_REMOUNT,  /* a mount of the plan's own, given flags in place */
    MNT_MASK,     /* an existing file hidden under /dev/null */
};

struct mnt_op {
    enum mnt_kind kind;
    char *source;        /* host path, link target, tmpfs options or file contents */
    char *dest;          /* the path inside the jail */
    char *target;        /* dest under the new root, before pivot_root */
    char *label;         /* the step's name in error messages */
    unsigned long flags; /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC */
    bool optional;       /* skipped when its source or path is missing */
};

struct mnt_plan {
    struct mnt_op *ops;
    size_t count;
    size_t capacity;
};

/* Appends an operation; its target is dest under root. -1 when out of memory. */
int mnt_plan_add(struct mnt_plan *plan, const char *root, enum mnt_kind kind, const char *source,
                 const char *dest, unsigned long flags, bool optional, const char *label);
void mnt_plan_free(struct mnt_plan *plan);

/* Builds the new root at root from both plans, pivots into it and makes it
 * read-only. */
int mnt_enter_new_root(const char *root, const struct mnt_plan *base, const struct mnt_plan *job,
                       struct jail_fail *fail);

int net_loopback_up(struct jail_fail *fail);

/* ---- limits (limits.c) ---- */

struct jail_rlimit {
    int resource;
    struct rlimit value;
    const char *label;
};
#define JAIL_RLIMITS 5
int limits_apply_rlimits(const struct jail_rlimit rlimits[JAIL_RLIMITS], struct jail_fail *fail);

/* ---- privileges (privs.c) ---- */

/* No_new_privs and every capability gone, for good. */
int privs_drop(int cap_last_cap, struct jail_fail *fail);
/* Back to default signal dispositions, nothing blocked. */
void privs_reset_signals(void);

/* ---- the jailed child (init.c) ---- */

/* Child descriptors once it has arranged them. A live jail's program
 * (sandbox/live.h) also keeps its channel: it reads the caller's messages
 * from CHILD_CHANNEL_IN_FD and writes its own to CHILD_CHANNEL_OUT_FD. */
enum {
    CHILD_GO_FD = 3,
    CHILD_REPORT_FD = 4,
    CHILD_CHANNEL_IN_FD = 5,
    CHILD_CHANNEL_OUT_FD = 6,
};

/* Everything the child needs, prepared before the clone. */
struct jail_child {
    const char *root;
    const struct mnt_plan *base;
    const struct mnt_plan *job;
    bool own_base; /* base is not the server's (an image's): it goes with a spawn */
    int stdio[3];  /* the ends the child reads stdin from and writes output to */
    int go_fd;     /* read end: a byte once the ids are mapped, another once in the cgroup */
    int report_fd; /* write end of the report pipe */
    /* A live jail (sandbox/live.h): its program also holds a channel, the
     * two ends below, and init passes a SIGINT it receives on to it, which
     * is how the host interrupts the program (a signal from outside the pid
     * namespace reaches the namespace's init only through a handler). */
    bool live;
    int channel_in, channel_out;
    char *const *argv;
    char *const *envp;
    char *const *exec_candidates;
    struct jail_rlimit rlimits[JAIL_RLIMITS];
    int cap_last_cap;
    const struct seccomp_policy *seccomp;
    bool net_ready; /* cloned into a pool's namespace: loopback is up already */
    /* What the job does once it is jailed and its filter loaded; NULL =
     * jail_exec_job. A warm interpreter runs the job in its own copy. */
    void (*start)(const struct jail_child *child);
};

enum jail_report_kind { REPORT_READY = 1, REPORT_SETUP_FAILED = 2, REPORT_JOB_ENDED = 3 };

/* What init tells the supervisor; one write, smaller than PIPE_BUF. */
struct jail_report {
    int32_t kind;
    int32_t err;         /* REPORT_SETUP_FAILED: errno */
    int32_t wait_status; /* REPORT_JOB_ENDED: the job's wait status */
    int32_t refused_nr;  /* the syscall seccomp refused the job, or -1 */
    int32_t sigsys_sent; /* the job's last signal was a SIGSYS sent to it, not seccomp's */
    char step[192];      /* REPORT_SETUP_FAILED: the step */
};

/* Runs in the cloned child, as pid 1 of the jail; never returns. */
_Noreturn void jail_init_main(const struct jail_child *child);
/* The job's last step: execve of argv through exec_candidates, or exit 127
 * or 126 with a line on stderr, like a shell. */
_Noreturn void jail_exec_job(const struct jail_child *child);

#endif
