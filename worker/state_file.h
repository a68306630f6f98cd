/* Where the embedded broker's address is published for the brig client:
 * $BRIG_STATE_DIR, else /run/brig for root, else $XDG_RUNTIME_DIR/brig. */
#ifndef BRIG_WORKER_STATE_FILE_H
#define BRIG_WORKER_STATE_FILE_H

#include <stddef.h>

/* The default state directory, in buf. */
const char *brig_state_dir(char *buf, size_t len);

/* Writes bootstraps to <state_dir>/broker atomically (a temp file renamed). */
int broker_state_write(const char *state_dir, const char *bootstraps, char *err, size_t errlen);

/* Reads <state_dir>/broker into buf; -1 with a sentence in err when absent. */
int broker_state_read(const char *state_dir, char *buf, size_t len, char *err, size_t errlen);

/* Removes the file if it still names bootstraps (another worker may have
 * replaced it since). */
void broker_state_remove(const char *state_dir, const char *bootstraps);

#endif
