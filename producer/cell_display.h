/* How brig run and brig wait show a cell's rich results (SCHEMA.md section
 * 6.1), after its stdout and stderr: each output in order, its text/plain,
 * or for a bundle without one a line naming its MIME types; images (and rich
 * text with no text/plain beside it) saved as files named
 * output-<n>.<ext> (n counts the result's outputs from 1; mime.h picks the
 * extension), each named by a line; the exception as Python prints it; and
 * what became of the session's interpreter. */
#ifndef BRIG_PRODUCER_CELL_DISPLAY_H
#define BRIG_PRODUCER_CELL_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "schema/schema.h"

/* One saved file: output index (from 0), MIME type and name. */
struct cell_file {
    size_t output;
    const char *mime;
    char name[48];
};

/* The files a result's outputs are saved as, ready for out_dir_write():
 * files[i].path is items[i].name. */
struct cell_files {
    struct cell_file *items;
    struct brig_file *files;
    size_t count;
};

/* Fills out (nothing to free when count is 0). A name the result's
 * collected files already use gets "-2", "-3"... before its extension, so
 * that neither overwrites the other. Returns 0, or -1 when out of memory. */
int cell_files_plan(const struct brig_result *result, struct cell_files *out);
void cell_files_free(struct cell_files *files);

struct cell_display {
    const char *dir; /* where the files go */
    /* The session had cells of this runtime before this one, as far as the
     * caller can tell: a fresh interpreter then means lost state, worth a
     * line. */
    bool earlier_cells;
};

/* Saves the files under o->dir (creating it), prints the outputs on out and
 * everything else (files, exception, notes) on msgs. Returns 0, or -1 with
 * err when the files could not be written (the rest is printed all the
 * same). A result of no cell prints nothing. */
int cell_display(FILE *out, FILE *msgs, const struct brig_result *result,
                 const struct cell_display *o, char *err, size_t errlen);

/* The exception as Python prints it: the traceback, then "Name: value"
 * (unless the traceback already ends with that line). */
void cell_print_exception(FILE *msgs, const struct brig_result *result);

/* The bundle's types, with their sizes when sizes: "image/png 21.4 KiB,
 * text/plain 27 B" into buf. */
void cell_describe_bundle(const struct brig_output *output, bool sizes, char *buf, size_t len);

#endif
