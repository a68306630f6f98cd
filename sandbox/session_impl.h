/* What the session files share (see session.h):
 *
 *   session.c        acquiring, removing, listing and sweeping sessions
 *   session_store.c  the root directory, each session's lock and metadata
 *   session_uid.c    the host-wide records of session uids
 *   state_hash.c     the hash of a workspace's tree
 */
#ifndef BRIG_SANDBOX_SESSION_IMPL_H
#define BRIG_SANDBOX_SESSION_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/session.h"

/* Right after user.c's per-job range (0x70000000-0x70ffffff). */
#define SESSION_UID_FIRST 0x71000000u
#define SESSION_UID_LAST 0x71ffffffu

#define SUFFIX_WORK ".work"
#define SUFFIX_META ".json"
#define SUFFIX_META_NEW ".json.new"
#define SUFFIX_LOCK ".lock"
/* An id and its longest suffix. */
#define SESSION_NAME_MAX (JAIL_SESSION_ID_MAX + sizeof(SUFFIX_META_NEW))

struct session_meta {
    unsigned uid;
    uint64_t quota_bytes;
    uint64_t created_ms;
    uint64_t last_used_ms;
};

/* The root directory of the sessions, open. */
struct store {
    int fd;
    char *path; /* canonical: uid records name sessions by it */
};

/* ---- session_store.c ---- */

bool session_id_ok(const char *id);
int check_session_id(const char *id, char *err, size_t errlen);
/* name = id + suffix. */
const char *session_file(char name[SESSION_NAME_MAX], const char *id, const char *suffix);

enum store_opened { STORE_FAILED = -1, STORE_OPENED, STORE_ABSENT };

/* Opens root (creating it, 0711, when create is set), which must be a real
 * directory of ours that nobody else may write in. STORE_ABSENT when it does
 * not exist and create is not set. */
enum store_opened store_open(const char *root, bool create, struct store *store, char *err,
                             size_t errlen);
void store_close(struct store *store);
/* <root>/<id>.work, malloc'd. */
char *work_path(const struct store *store, const char *id);

/* Takes the session's flock, waiting up to timeout_ms by polling (flock has
 * no timeout of its own). */
enum jail_session_result lock_session(const struct store *store, const char *id,
                                      uint64_t timeout_ms, int *lock_fd, char *err, size_t errlen);

enum meta_read { META_FAILED = -1, META_READ, META_ABSENT };

enum meta_read read_meta(const struct store *store, const char *id, struct session_meta *meta,
                         char *err, size_t errlen);
/* Replaces the metadata at once (a new file renamed over the old), so that a
 * reader without the lock never sees half of it. */
int write_meta(const struct store *store, const char *id, const struct session_meta *meta,
               char *err, size_t errlen);

/* ---- session_uid.c ---- */

/* The uid for a session whose tmpfs is to be made: old (NULL when it had
 * none) while its record still names owner ("<root>/<id>"; it loses it when
 * /run was cleared by a reboot), else a fresh one. */
int session_uid_for(const char *owner, const unsigned *old, unsigned *uid, char *err,
                    size_t errlen);
/* Gives uid back, if its record is still owner's. */
void session_uid_release(unsigned uid, const char *owner);

#endif
