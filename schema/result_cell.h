/* The fields of a cell's result (SCHEMA.md section 6.1): outputs,
 * outputs_truncated, exception and interpreter. result.c reads and writes
 * the rest of a result. */
#ifndef BRIG_SCHEMA_RESULT_CELL_H
#define BRIG_SCHEMA_RESULT_CELL_H

#include "schema/read.h"
#include "schema/write.h"

int decode_outputs(struct decoder *d, const msgpack_object *o, struct brig_result *result);
int decode_exception(struct decoder *d, const msgpack_object *o, struct brig_result *result);
int decode_interpreter(struct decoder *d, const msgpack_object *o, struct brig_result *result);

/* Writes whichever of the four fields result holds. */
void encode_cell_fields(struct writer *w, struct map_mark *top, const struct brig_result *result);

#endif
