/* Sessions: workspaces that persist between jobs, like a notebook. The jobs of
 * one session run with the same /work, as the same host uid, so the files
 * and packages one job leaves in /work are there for the next.
 *
 * A session is a size-limited tmpfs mounted on the host at
 * <root>/<id>.work, owned (through its mount options) by a host uid that
 * belongs to the session for its whole life. Beside it, in the root-owned
 * root directory the jobs never see:
 *
 *   <root>/<id>.json  metadata (uid, quota, created and last use), 0600
 *   <root>/<id>.lock  the session's lock: whoever holds its flock runs it
 *
 * (Three suffixes, so that no two ids, not even "." and "..", share a name.)
 * Session uids come from 0x71000000-0x71ffffff, next to the per-job uids of
 * user.c, and are recorded host-wide, whatever the root, as files
 * /run/brig/session-uids/<uid> naming the session, so that no two live
 * sessions on a host ever share one.
 *
 * The root must be shared by every worker process of the host, and
 * survives their restarts; the default is /run/brig/sessions. The tmpfs
 * mounts do not survive a reboot, so neither should the metadata: a root on
 * a tmpfs (/run) keeps the two together. A session whose metadata outlived
 * its mount starts again empty, with a fresh uid.
 *
 * Everything in a session's tmpfs is the jobs': host code only hashes it
 * (never following a symlink, never opening a FIFO) and writes into it with
 * jail_workspace_write_file, which in a session's workspace replaces a file
 * or symlink (the link itself, never its target) that an earlier job left at
 * the path, so that every job can bring its input files and source again. */
#ifndef BRIG_SANDBOX_SESSION_H
#define BRIG_SANDBOX_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

#define JAIL_SESSION_ID_MAX 64
#define JAIL_SESSION_DEFAULT_ROOT "/run/brig/sessions"

/* What jail_session_acquire and jail_session_remove return. */
enum jail_session_result {
    JAIL_SESSION_FAILED = -1, /* err says why */
    JAIL_SESSION_OK = 0,
    JAIL_SESSION_BUSY = 1, /* another holder kept the session for all of timeout_ms */
};

/* Takes session_id (1-64 bytes of [A-Za-z0-9._:-], as in SCHEMA.md) for the
 * caller: creates it on first use, a tmpfs of quota_bytes (a quota that
 * differs from an existing session's applies from its next creation), and
 * returns its workspace. Jails given that workspace run as the session's uid.
 * jail_workspace_close() (or _free) on it keeps the tmpfs mounted, records
 * the time of last use and lets the next holder in.
 *
 * One holder at a time, across threads and processes: waits up to
 * timeout_ms for the current one (0: does not wait). */
enum jail_session_result jail_session_acquire(struct jail_context *ctx, const char *root,
                                              const char *session_id, uint64_t quota_bytes,
                                              uint64_t timeout_ms, struct jail_workspace **out,
                                              char *err, size_t errlen);

/* Removes a session nobody holds (waiting up to timeout_ms for its holder):
 * unmounts its tmpfs and deletes its mount point, metadata, lock and uid
 * record. Unreadable metadata does not stop it (the uid record, unknown then,
 * stays). JAIL_SESSION_FAILED also when there is no such session. */
enum jail_session_result jail_session_remove(const char *root, const char *session_id,
                                             uint64_t timeout_ms, char *err, size_t errlen);

struct jail_session_info {
    char id[JAIL_SESSION_ID_MAX + 1];
    unsigned uid;
    uint64_t quota_bytes;
    uint64_t used_bytes; /* in use on its tmpfs; 0 when it is not mounted */
    uint64_t created_ms; /* Unix ms */
    uint64_t last_used_ms;
};

typedef void (*jail_session_fn)(void *arg, const struct jail_session_info *info);

/* Calls fn for every session under root, held or not, in no particular
 * order. Returns the number of sessions (a missing root has none), or -1
 * when one could not be read: err names the first, and fn was still called
 * for the others. */
long jail_session_list(const char *root, jail_session_fn fn, void *arg, char *err, size_t errlen);

/* Removes the sessions whose last use is more than ttl_ms before now_ms
 * (Unix ms), except those held right now, and counts them in *removed.
 * Returns 0, or -1 when one could not be checked or removed: err names the
 * first, and the others were still swept. */
int jail_session_sweep(const char *root, uint64_t ttl_ms, uint64_t now_ms, size_t *removed,
                       char *err, size_t errlen);

/* The root of a tenant's sessions (session_tenants.c): sessions_dir itself
 * without a tenant (NULL or ""), else <sessions_dir>/tenants/<tenant>, so
 * that two tenants' sessions of one name are two sessions. With create, the
 * directories above the root are made (the root itself is made by the first
 * acquire). -1 when the tenant is not a tenant name (SCHEMA.md 14). */
int jail_session_tenant_root(const char *sessions_dir, const char *tenant, bool create, char *buf,
                             size_t len, char *err, size_t errlen);

typedef void (*jail_session_tenant_fn)(void *arg, const char *tenant);

/* Calls fn for each tenant that has a root under sessions_dir. Returns how
 * many, or -1 with err. */
long jail_session_tenants(const char *sessions_dir, jail_session_tenant_fn fn, void *arg, char *err,
                          size_t errlen);

/* jail_session_sweep over sessions_dir and every tenant's root under it. */
int jail_session_sweep_all(const char *sessions_dir, uint64_t ttl_ms, uint64_t now_ms,
                           size_t *removed, char *err, size_t errlen);

/* A hex SHA-256 of the workspace's tree: every entry's path (sorted,
 * depth-first), type and permission bits, and a regular file's size and
 * content, a symlink's target string. Symlinks are never followed and FIFOs,
 * sockets and devices are never opened. Fails on trees deeper than 128 or with
 * more than a million entries. Recorded before and after a session's job so
 * that a replay can start from the same state. */
int jail_workspace_state_hash(const struct jail_workspace *ws, char hex[65], char *err,
                              size_t errlen);

#endif
