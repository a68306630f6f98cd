/* Where the embedded broker's address is published for the brig client:
 * $BRIG_STATE_DIR, else /run/brig for root, else $XDG_RUNTIME_DIR/brig. */
#ifndef BRIG_WORKER_STATE_FILE_H
#define BRIG_WORKER_STATE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* The default state directory, in buf. */
const char *brig_state_dir(char *buf, size_t len);

/* Where session workspaces live: $BRIG_SESSIONS_DIR, else
 * <state_dir>/sessions, so that pools with their own state directories never
 * see each other's sessions. */
const char *brig_sessions_dir(const char *state_dir, char *buf, size_t len);

/* Writes <state_dir>/broker atomically (a temp file renamed): the
 * bootstraps on the first line (all a client needs), then
 * "message_max_bytes N": the largest message the broker keeps safely. */
int broker_state_write(const char *state_dir, const char *bootstraps, uint64_t message_max,
                       char *err, size_t errlen);

/* The broker's message_max_bytes from <state_dir>/broker; 0 when unknown. */
uint64_t broker_state_message_max(const char *state_dir);

/* Reads <state_dir>/broker into buf; -1 with a sentence in err when absent. */
int broker_state_read(const char *state_dir, char *buf, size_t len, char *err, size_t errlen);

/* Removes the file if it still names bootstraps (another worker may have
 * replaced it since). */
void broker_state_remove(const char *state_dir, const char *bootstraps);

/* Removes the file whatever it names: for a new owner of the state dir's
 * broker, whose predecessor was killed. */
void broker_state_remove_stale(const char *state_dir);

#endif
