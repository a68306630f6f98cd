/* A walk over raw msgpack bytes that allocates nothing.
 *
 * msgpack-c's unpacker trusts the lengths in headers: an array header that
 * claims four billion elements makes it allocate that many objects before it
 * finds the input short, and it has no depth or size limits of its own. So
 * every message is first walked here, within BRIG_MAX_DEPTH, BRIG_MAX_OBJECTS
 * and the map bounds, and only a message that passes is unpacked. The same
 * walk lets brig_job_peek_reply() read what it can from broken input. */
#ifndef BRIG_SCHEMA_SCAN_H
#define BRIG_SCHEMA_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

enum scan_kind { SCAN_SCALAR, SCAN_STR, SCAN_BIN, SCAN_EXT, SCAN_ARRAY, SCAN_MAP };

enum scan_status {
    SCAN_OK = 0,
    SCAN_TRUNCATED,
    SCAN_RESERVED_BYTE,
    SCAN_TOO_DEEP,
    SCAN_TOO_MANY_OBJECTS,
    SCAN_TOO_MANY_ENTRIES,
};

struct scan {
    const unsigned char *buf;
    size_t len;
    size_t pos;
    size_t objects;
};

/* One object's header. For str, bin and ext the payload is consumed too and
 * data points at it; for arrays and maps size is the element or entry count,
 * the elements still to be read. */
struct scan_item {
    enum scan_kind kind;
    uint32_t size;
    const char *data;
};

void scan_init(struct scan *s, const void *buf, size_t len);

/* Reads the next header (counting it as one object). */
enum scan_status scan_item(struct scan *s, struct scan_item *item);

/* Skips one whole object whose level (1 = top) is given. */
enum scan_status scan_skip(struct scan *s, unsigned level);

/* Checks that buf holds exactly one msgpack object within the bounds above,
 * whose top-level map has at most BRIG_MAX_TOP_KEYS keys. An error found
 * inside the value of a top-level key names that key. */
int scan_message(const void *buf, size_t len, struct brig_error *err);

#endif
