/* What the CLI knows of the MIME types in a cell's outputs (SCHEMA.md
 * section 6.1): which are text, and which it saves as files under which
 * extension. The types come from the job and are hostile: they only ever
 * select an entry of a fixed table, never a name or a path. */
#ifndef BRIG_PRODUCER_MIME_H
#define BRIG_PRODUCER_MIME_H

#include <stdbool.h>

/* Whether data of this type is text (UTF-8 by the schema): text/..., JSON,
 * XML (SVG included) and JavaScript. The rest is binary. */
bool mime_is_text(const char *mime);

/* The file extension brig run saves data of this type under ("png"), or
 * NULL for a type it does not save. *always is true for images and PDF,
 * saved in every bundle; false for rich text (HTML, JSON, Markdown, LaTeX),
 * saved only from a bundle that has no text/plain to print instead. */
const char *mime_extension(const char *mime, bool *always);

#endif
