/* The job's "limits" map: one table of names, bounds and defaults. */
#ifndef BRIG_SCHEMA_JOB_LIMITS_H
#define BRIG_SCHEMA_JOB_LIMITS_H

#include "schema/read.h"
#include "schema/write.h"

int decode_limits(struct decoder *d, const msgpack_object *o, struct brig_limits *limits);
void encode_limits(struct writer *w, struct map_mark *m, const struct brig_limits *limits);

#endif
