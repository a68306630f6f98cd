#include "producer/cell_display.h"

#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "producer/mime.h"
#include "producer/out_dir.h"

/* Kinds a reader does not know are skipped (SCHEMA.md 6.1). */
static bool known_kind(const struct brig_output *output)
{
    return output->kind &&
           (strcmp(output->kind, "display") == 0 || strcmp(output->kind, "result") == 0);
}

static const struct brig_file *find_type(const struct brig_output *output, const char *mime)
{
    for (size_t i = 0; i < output->data_count; i++) {
        if (strcmp(output->data[i].path, mime) == 0)
            return &output->data[i];
    }
    return NULL;
}

static bool name_taken(const struct brig_result *r, const struct cell_files *planned,
                       const char *name)
{
    for (size_t i = 0; i < r->file_count; i++) {
        if (strcmp(r->files[i].path, name) == 0)
            return true;
    }
    for (size_t i = 0; i < planned->count; i++) {
        if (strcmp(planned->items[i].name, name) == 0)
            return true;
    }
    return false;
}

static void name_file(const struct brig_result *r, struct cell_files *planned,
                      struct cell_file *file, const char *extension)
{
    snprintf(file->name, sizeof file->name, "output-%zu.%s", file->output + 1, extension);
    for (unsigned k = 2; name_taken(r, planned, file->name); k++)
        snprintf(file->name, sizeof file->name, "output-%zu-%u.%s", file->output + 1, k, extension);
}

int cell_files_plan(const struct brig_result *r, struct cell_files *out)
{
    size_t most = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < r->output_count; i++)
        most += r->outputs[i].data_count;
    if (most == 0)
        return 0;
    out->items = calloc(most, sizeof *out->items);
    out->files = calloc(most, sizeof *out->files);
    if (!out->items || !out->files) {
        cell_files_free(out);
        return -1;
    }
    for (size_t i = 0; i < r->output_count; i++) {
        const struct brig_output *output = &r->outputs[i];
        if (!known_kind(output))
            continue;
        bool has_plain = find_type(output, "text/plain") != NULL;
        for (size_t j = 0; j < output->data_count; j++) {
            bool always;
            const char *extension = mime_extension(output->data[j].path, &always);
            if (!extension || (!always && has_plain))
                continue;
            struct cell_file *file = &out->items[out->count];
            file->output = i;
            file->mime = output->data[j].path;
            name_file(r, out, file, extension);
            out->files[out->count].path = file->name;
            out->files[out->count].content = output->data[j].content;
            out->count++;
        }
    }
    return 0;
}

void cell_files_free(struct cell_files *files)
{
    free(files->items);
    free(files->files);
    memset(files, 0, sizeof *files);
}

void cell_describe_bundle(const struct brig_output *output, bool sizes, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < output->data_count && used < len; i++) {
        char size[32] = "";
        if (sizes)
            units_format_size(output->data[i].content.len, size, sizeof size);
        int n = snprintf(buf + used, len - used, "%s%s%s%s", i ? ", " : "", output->data[i].path,
                         sizes ? " " : "", size);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* text with a newline after it, unless it ends with one. */
static void put_line(FILE *out, const char *text, size_t len)
{
    fwrite(text, 1, len, out);
    if (len == 0 || text[len - 1] != '\n')
        fputc('\n', out);
}

/* Whether the last line of text is line (a trailing newline aside). */
static bool ends_with_line(const char *text, const char *line)
{
    size_t len = strlen(text), n = strlen(line);
    if (len && text[len - 1] == '\n')
        len--;
    return len >= n && memcmp(text + len - n, line, n) == 0 &&
           (len == n || text[len - n - 1] == '\n');
}

void cell_print_exception(FILE *msgs, const struct brig_result *r)
{
    if (!r->exception_name)
        return;
    for (size_t i = 0; i < r->traceback_count; i++)
        put_line(msgs, r->traceback[i], strlen(r->traceback[i]));
    const char *value = r->exception_value;
    size_t len = strlen(r->exception_name) + (value ? strlen(value) + 2 : 0) + 1;
    char *line = malloc(len);
    if (!line) {
        fprintf(msgs, "%s\n", r->exception_name);
        return;
    }
    snprintf(line, len, "%s%s%s", r->exception_name, value && *value ? ": " : "",
             value ? value : "");
    if (!r->traceback_count || !ends_with_line(r->traceback[r->traceback_count - 1], line))
        put_line(msgs, line, strlen(line));
    free(line);
}

static void print_outputs(FILE *out, FILE *msgs, const struct brig_result *r,
                          const struct cell_files *files, bool saved, const char *dir)
{
    size_t next_file = 0;
    for (size_t i = 0; i < r->output_count; i++) {
        const struct brig_output *output = &r->outputs[i];
        if (!known_kind(output))
            continue;
        const struct brig_file *plain = find_type(output, "text/plain");
        if (plain) {
            put_line(out, plain->content.data, plain->content.len);
        } else {
            char types[512];
            cell_describe_bundle(output, false, types, sizeof types);
            fprintf(out, "[output %zu: %s]\n", i + 1, types);
        }
        /* Lines on msgs come after the text they belong to. */
        fflush(out);
        for (; next_file < files->count && files->items[next_file].output == i; next_file++) {
            if (saved)
                fprintf(msgs, "brig: output %zu (%s) saved as %s/%s\n", i + 1,
                        files->items[next_file].mime, dir, files->items[next_file].name);
        }
        fflush(msgs);
    }
}

int cell_display(FILE *out, FILE *msgs, const struct brig_result *r, const struct cell_display *o,
                 char *err, size_t errlen)
{
    struct cell_files files;
    int rc = 0;
    if (cell_files_plan(r, &files) < 0) {
        snprintf(err, errlen, "planning the outputs' files: out of memory");
        return -1;
    }
    if (files.count && out_dir_write(o->dir, files.files, files.count, err, errlen) < 0)
        rc = -1;
    print_outputs(out, msgs, r, &files, rc == 0, o->dir);
    cell_files_free(&files);
    if (r->outputs_truncated)
        fprintf(msgs,
                "brig: outputs were left out: a cell returns at most %d outputs, %u MiB "
                "in all (--json has those it kept)\n",
                BRIG_OUTPUTS_MAX, BRIG_OUTPUTS_MAX_BYTES >> 20);
    cell_print_exception(msgs, r);
    if (r->has_interpreter && r->interpreter_started && o->earlier_cells)
        fprintf(msgs, "brig: a new interpreter ran this cell: the session's earlier variables "
                      "and imports are gone (its files are kept)\n");
    if (r->has_interpreter && r->state_lost)
        fprintf(msgs, "brig: the interpreter ended during this cell: the session's next cell "
                      "starts a new one\n");
    fflush(msgs);
    return rc;
}
