/* The channel between the worker and a session's kernel (worker/interp.h),
 * the live jail's two pipes (sandbox/live.h): frames, each a 4-byte
 * big-endian length of 1 to INTERP_FRAME_MAX, then that many bytes holding
 * exactly one msgpack map with string keys, the first or any key "t" naming
 * the frame:
 *
 *   worker -> kernel
 *     {"t": "exec", "code": str, "env": {str: str}, "count": uint}
 *         run a cell: code, with env added to the interpreter's
 *         environment, as execution number count
 *   kernel -> worker
 *     {"t": "ready"}                        started; first, once
 *     {"t": "output", "kind": "display" | "result", "data": {mime: str | bin}}
 *         one MIME bundle the cell produced, 1 to 16 entries
 *     {"t": "dropped"}                      an output the kernel left out,
 *                                           past SCHEMA.md 6.1's bounds
 *     {"t": "error", "name": str, "value": str, "traceback": [str]}
 *         the cell's exception; at most once a cell, traceback up to 256
 *     {"t": "done", "status": "ok" | "error" | "interrupted"}
 *         the cell is over: its output is flushed
 *
 * A kernel shares its process with the cells, so whatever arrives is
 * hostile: the decoder walks the bytes without allocating (schema/scan.h)
 * and refuses a frame with an unknown or missing key, a value of the wrong
 * type, a count past its bound, a MIME type out of SCHEMA.md's syntax, or
 * trailing bytes. What a valid frame carries points into the frame's bytes;
 * its text is the kernel's, to be cleaned (interp_clean_text) before it goes
 * into a result. The order of frames is interp.c's to check. */
#ifndef BRIG_WORKER_INTERP_CHANNEL_H
#define BRIG_WORKER_INTERP_CHANNEL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/schema.h"

/* Larger than any frame a kernel that keeps SCHEMA.md 6.1's bounds sends:
 * 2 MiB of outputs, or an exception of 64 KiB and 256 entries of traceback
 * that the kernel keeps under a MiB in all. */
#define INTERP_FRAME_MAX (4u << 20)

enum interp_frame_type {
    INTERP_READY,
    INTERP_OUTPUT,
    INTERP_DROPPED,
    INTERP_ERROR,
    INTERP_DONE,
};

enum interp_done_status { INTERP_DONE_OK, INTERP_DONE_ERROR, INTERP_DONE_INTERRUPTED };

struct interp_text {
    const char *data; /* into the frame; not NUL-terminated */
    size_t len;
};

struct interp_mime {
    char type[BRIG_MIME_TYPE_MAX + 1];
    struct interp_text data;
    bool text; /* sent as a str: UTF-8 to be cleaned */
};

struct interp_frame {
    enum interp_frame_type type;
    /* INTERP_OUTPUT */
    bool result; /* kind "result", else "display" */
    struct interp_mime items[BRIG_MIME_ITEMS_MAX];
    size_t item_count;
    /* INTERP_ERROR */
    struct interp_text name, value;
    struct interp_text traceback[BRIG_TRACEBACK_MAX];
    size_t traceback_count;
    /* INTERP_DONE */
    enum interp_done_status status;
};

/* Decodes one frame's bytes (without its length). -1 with why in err. */
int interp_frame_decode(const void *buf, size_t len, struct interp_frame *out, char *err,
                        size_t errlen);

/* Frames out of a byte stream, as they come. */
struct interp_reader {
    char *buf;
    size_t len, capacity;
    size_t taken; /* the frame last returned, at the front until the next call */
};

void interp_reader_init(struct interp_reader *r);
void interp_reader_free(struct interp_reader *r);
/* Appends bytes read from the channel (the frame last returned is then
 * gone); -1 when out of memory. */
int interp_reader_feed(struct interp_reader *r, const void *data, size_t len);
/* The next whole frame's bytes: 1 and *frame, *len (valid until the next
 * call); 0 when it has not all arrived; -1 with err for a length of 0 or
 * past INTERP_FRAME_MAX. */
int interp_reader_next(struct interp_reader *r, const char **frame, size_t *len, char *err,
                       size_t errlen);
/* Bytes received and not yet taken as a frame. */
size_t interp_reader_pending(const struct interp_reader *r);

/* Appends an "exec" frame, with its length, to buf. */
void interp_exec_encode(msgpack_sbuffer *buf, const char *code, size_t code_len,
                        const struct brig_pair *env, size_t env_count, uint64_t count);

/* A NUL-terminated copy of at most max bytes of text as valid UTF-8
 * without NUL: each invalid sequence and each NUL becomes U+FFFD, and text
 * past max is cut at a character's boundary. NULL when out of memory. */
char *interp_clean_text(const char *data, size_t len, size_t max);

#endif
