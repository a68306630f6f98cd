/* brig replay of a cell: a cell's result depends on every job of its
 * session before it (their variables, imports, files), so the session's
 * jobs are run again from its first up to the cell, in order, in a fresh
 * session of their own; the cell's new result is then compared with its
 * recorded one (result_compare.h). */
#ifndef BRIG_PRODUCER_REPLAY_CELLS_H
#define BRIG_PRODUCER_REPLAY_CELLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/brig.h"

struct replayed_job {
    char original[BRIG_ID_SIZE];
    char replay[BRIG_ID_SIZE];
    char original_status[32]; /* of its final attempt; "" when it had none */
    brig_status replay_status;
    bool answered; /* replay_status is set */
};

struct cell_replay {
    char session[BRIG_ID_SIZE]; /* the fresh session */
    struct replayed_job *jobs;  /* the session's jobs in order, the cell last */
    size_t count;
    /* The session's first recorded job did not start the interpreter: jobs
     * before it are missing from the stores here (brig audit sync). */
    bool incomplete;
};

/* Replays the jobs of session (from the stores audit_db names, as
 * audit_dbs_find() takes it) up to cell_id, waiting up to timeout_ms (< 0:
 * forever) in all. Returns 0 with *last the cell's new result (free it with
 * brig_result_free), BRIG_TIMED_OUT when an answer did not come in time, or
 * -1 with err; out is filled as far as it went (free it with
 * cell_replay_free) whatever the outcome. */
int replay_cells(struct brig_client *client, const char *audit_db, const char *session,
                 const char *cell_id, int64_t timeout_ms, struct cell_replay *out,
                 struct brig_result *last, char *err, size_t errlen);
void cell_replay_free(struct cell_replay *replay);

#endif
