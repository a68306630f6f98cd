/* What a worker and its warm interpreter say to each other, over a
 * SOCK_SEQPACKET socket pair, one msgpack array per message:
 *
 *   worker -> server   ["hello", root, cap_last_cap, base plan, seccomp filters]    once
 *   server -> worker   ["ready", interpreter version]  or  ["error", text]
 *   worker -> server   ["spawn", job plan, argv, envp, exec candidates, rlimits,
 *                       base plan or nil, live]
 *                      with the child's five descriptors (SCM_RIGHTS), then
 *                      a live jail's two channel ends, then a ready network
 *                      namespace to clone init into, if any; a base plan
 *                      replaces the hello's for this jail (a root image's)
 *   server -> worker   ["spawned", pid] with a pidfd of init  or  ["error", text]
 *   worker -> server   ["reap", pid]
 *
 * The worker sends everything the jail enforces (mount plans, the compiled
 * seccomp program, rlimits): the server decides nothing about isolation, so
 * a warm jail is the cold one by construction. */
#ifndef BRIG_SANDBOX_WARM_WIRE_H
#define BRIG_SANDBOX_WARM_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/jail_child.h"

/* Descriptors that travel with a spawn: stdin, stdout, stderr, go, report,
 * a live jail's channel, and optionally a ready network namespace to clone
 * init into. */
#define WARM_SPAWN_FDS 5
#define WARM_SPAWN_CHANNEL_FDS 2
#define WARM_SPAWN_FDS_MAX 8
/* Largest message: a job's environment and arguments at their bounds fit. */
#define WARM_MESSAGE_MAX (4u << 20)

/* What the server keeps from the hello. */
struct warm_setup {
    char *root;
    int cap_last_cap;
    struct mnt_plan base;
    struct seccomp_policy *seccomp;
};

/* One spawn's particulars, owned by the server until init is cloned. */
struct warm_job {
    struct mnt_plan plan;
    struct mnt_plan base; /* when has_base: in place of the hello's */
    bool has_base;
    bool live;                         /* with a channel (jail_child.live) */
    char **argv, **envp, **candidates; /* NULL-terminated */
    struct jail_rlimit rlimits[JAIL_RLIMITS];
    char *labels[JAIL_RLIMITS];
};

void warm_pack_hello(msgpack_packer *pk, const char *root, int cap_last_cap,
                     const struct mnt_plan *base, const struct seccomp_policy *seccomp);
void warm_pack_spawn(msgpack_packer *pk, const struct jail_child *child);
/* ["<word>", int] or ["<word>", "text"]. */
void warm_pack_word_int(msgpack_packer *pk, const char *word, long long value);
void warm_pack_word_text(msgpack_packer *pk, const char *word, const char *text);

/* The message's first element, or NULL when it is not an array led by a string. */
const char *warm_message_word(const msgpack_object *msg, char *buf, size_t len);
int warm_unpack_hello(const msgpack_object *msg, struct warm_setup *out, char *err, size_t errlen);
void warm_setup_free(struct warm_setup *setup);
int warm_unpack_spawn(const msgpack_object *msg, const char *root, struct warm_job *out, char *err,
                      size_t errlen);
void warm_job_free(struct warm_job *job);
/* The second element as an integer or as text; -1 when it is not one. */
int warm_message_int(const msgpack_object *msg, long long *out);
int warm_message_text(const msgpack_object *msg, char *buf, size_t len);

/* One message with fds attached; 0 or -1 with errno. */
int warm_send(int sock, const void *data, size_t len, const int *fds, size_t nfds);
/* One message into buf (WARM_MESSAGE_MAX bytes) and up to maxfds
 * descriptors (close-on-exec); returns its length, 0 at end of file, -1 with
 * errno (EMSGSIZE when it was cut). */
ssize_t warm_recv(int sock, char *buf, size_t cap, int *fds, size_t maxfds, size_t *nfds);

#endif
