/* What brig run and brig wait do with a result once its stdout and stderr
 * are out: collected files and a cell's outputs saved under --out (default
 * ./brig-out/<job id>), a cell's outputs, exception and interpreter notes
 * shown (cell_display.h), files left out and the summary line. With --json
 * the caller prints the result itself: only the collected files are saved,
 * since the JSON carries the outputs. */
#ifndef BRIG_PRODUCER_CLI_SHOW_H
#define BRIG_PRODUCER_CLI_SHOW_H

#include <stdbool.h>

#include "schema/schema.h"

struct show_options {
    const char *command; /* "run", "wait": for messages */
    const char *out_dir; /* --out; NULL: brig-out/<job id> */
    bool json;
};

/* Returns 0, or -1 when files could not be saved (said on stderr). */
int cli_show_result(const struct show_options *o, const struct brig_result *result);

#endif
