/* A result as JSON, for `brig run --json` and `brig wait --json`: the wire
 * schema's fields under the same names, stdout, stderr and file contents as
 * json_bytes.h has them (text when valid UTF-8, else {"base64": "..."}).
 * A cell's outputs are {"kind", "data": {mime: data}}, data of a text type
 * (mime.h) as text when valid UTF-8, of any other always {"base64": ...};
 * its exception {"name", "value", "traceback": [...]} and its interpreter
 * {"started", "execution_count", "state_lost"}. */
#ifndef BRIG_PRODUCER_RESULT_JSON_H
#define BRIG_PRODUCER_RESULT_JSON_H

#include <jansson.h>

#include "schema/schema.h"

/* A new JSON object, or NULL when out of memory. */
json_t *result_to_json(const struct brig_result *result);

#endif
