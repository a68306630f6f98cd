/* The job's "network" field: absent or "none", or {"allow": [rules]}. */
#ifndef BRIG_SCHEMA_NETWORK_H
#define BRIG_SCHEMA_NETWORK_H

#include "schema/read.h"
#include "schema/write.h"

int decode_network(struct decoder *d, const msgpack_object *o, struct brig_network *network);
void encode_network(struct writer *w, struct map_mark *m, const struct brig_network *network);

#endif
