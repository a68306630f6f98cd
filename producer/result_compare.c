#include "producer/result_compare.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct diff_list {
    struct result_difference *items;
    size_t n, cap;
    bool failed;
};

static struct result_difference *add(struct diff_list *list, const char *field)
{
    if (list->failed)
        return NULL;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        struct result_difference *items = realloc(list->items, cap * sizeof *items);
        if (!items) {
            list->failed = true;
            return NULL;
        }
        list->items = items;
        list->cap = cap;
    }
    struct result_difference *d = &list->items[list->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->field, sizeof d->field, "%s", field);
    return d;
}

void data_sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    hex[0] = '\0';
    if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1)
        return;
    for (unsigned i = 0; i < 32 && i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void describe_data(const char *data, size_t len, char *buf, size_t buflen)
{
    char hex[65];
    data_sha256_hex(data, len, hex);
    snprintf(buf, buflen, "%zu bytes, sha256 %.16s", len, hex[0] ? hex : "unavailable");
}

static bool same_data(const struct brig_bytes *a, const struct brig_bytes *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void compare_data(struct diff_list *list, const char *field, const struct brig_bytes *a,
                         const struct brig_bytes *b)
{
    if (same_data(a, b))
        return;
    struct result_difference *d = add(list, field);
    if (!d)
        return;
    describe_data(a->data, a->len, d->original, sizeof d->original);
    describe_data(b->data, b->len, d->replay, sizeof d->replay);
    size_t at = 0;
    size_t shorter = a->len < b->len ? a->len : b->len;
    while (at < shorter && a->data[at] == b->data[at])
        at++;
    snprintf(d->detail, sizeof d->detail, "first difference at byte %zu", at);
}

static void compare_text(struct diff_list *list, const char *field, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return;
    struct result_difference *d = add(list, field);
    if (!d)
        return;
    snprintf(d->original, sizeof d->original, "%s", a);
    snprintf(d->replay, sizeof d->replay, "%s", b);
}

static const struct brig_file *find_named(const struct brig_file *files, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(files[i].path, name) == 0)
            return &files[i];
    }
    return NULL;
}

/* Named data on both sides, in any order (collected files by path, a
 * bundle's data by MIME type): each name's data compared, a name on one
 * side only a difference. Fields are <prefix>["<name>"]. */
static void compare_named(struct diff_list *list, const char *prefix, const struct brig_file *a,
                          size_t a_n, const struct brig_file *b, size_t b_n)
{
    const struct brig_file *sides[2] = {a, b};
    size_t counts[2] = {a_n, b_n};
    for (int side = 0; side < 2; side++) {
        for (size_t i = 0; i < counts[side]; i++) {
            const struct brig_file *mine = &sides[side][i];
            const struct brig_file *theirs =
                find_named(sides[1 - side], counts[1 - side], mine->path);
            char field[sizeof list->items->field];
            snprintf(field, sizeof field, "%s[\"%s\"]", prefix, mine->path);
            if (theirs) {
                if (side == 0)
                    compare_data(list, field, &mine->content, &theirs->content);
                continue;
            }
            struct result_difference *d = add(list, field);
            if (!d)
                return;
            char *present = side == 0 ? d->original : d->replay;
            char *absent = side == 0 ? d->replay : d->original;
            describe_data(mine->content.data, mine->content.len, present, sizeof d->original);
            snprintf(absent, sizeof d->original, "absent");
        }
    }
}

static void describe_output(const struct brig_output *output, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s:", output->kind);
    for (size_t i = 0; i < output->data_count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, " %s", output->data[i].path);
}

/* Outputs by position (1-based, as brig run numbers them): kind, then each
 * MIME type's data by digest. */
static void compare_outputs(struct diff_list *list, const struct brig_result *a,
                            const struct brig_result *b)
{
    size_t n = a->output_count > b->output_count ? a->output_count : b->output_count;
    for (size_t i = 0; i < n; i++) {
        char field[64];
        snprintf(field, sizeof field, "outputs[%zu]", i + 1);
        if (i >= a->output_count || i >= b->output_count) {
            struct result_difference *d = add(list, field);
            if (!d)
                return;
            bool original = i < a->output_count;
            describe_output(original ? &a->outputs[i] : &b->outputs[i],
                            original ? d->original : d->replay, sizeof d->original);
            snprintf(original ? d->replay : d->original, sizeof d->original, "absent");
            continue;
        }
        const struct brig_output *x = &a->outputs[i], *y = &b->outputs[i];
        char kind_field[80];
        snprintf(kind_field, sizeof kind_field, "%s.kind", field);
        compare_text(list, kind_field, x->kind, y->kind);
        compare_named(list, field, x->data, x->data_count, y->data, y->data_count);
    }
}

/* What a cell adds: its exception, outputs, and whether the interpreter
 * ended. Traceback (it names files and cell numbers), execution count and
 * interpreter.started (the history of the worker, not of the code) are
 * not compared. */
static void compare_cell(struct diff_list *list, const struct brig_result *a,
                         const struct brig_result *b)
{
    compare_text(list, "exception.name", a->exception_name ? a->exception_name : "none",
                 b->exception_name ? b->exception_name : "none");
    compare_text(list, "exception.value", a->exception_value ? a->exception_value : "",
                 b->exception_value ? b->exception_value : "");
    compare_outputs(list, a, b);
    compare_text(list, "outputs_truncated", a->outputs_truncated ? "true" : "false",
                 b->outputs_truncated ? "true" : "false");
    compare_text(list, "interpreter.state_lost", a->state_lost ? "true" : "false",
                 b->state_lost ? "true" : "false");
}

static void number_or_none(char *buf, size_t len, bool present, int value)
{
    if (present)
        snprintf(buf, len, "%d", value);
    else
        snprintf(buf, len, "none");
}

long result_compare(const struct brig_result *a, const struct brig_result *b,
                    struct result_difference **diffs)
{
    struct diff_list list = {0};
    char x[32], y[32];
    compare_text(&list, "status", brig_status_name(a->status), brig_status_name(b->status));
    number_or_none(x, sizeof x, a->has_exit_code, a->exit_code);
    number_or_none(y, sizeof y, b->has_exit_code, b->exit_code);
    compare_text(&list, "exit_code", x, y);
    number_or_none(x, sizeof x, a->signal != 0, a->signal);
    number_or_none(y, sizeof y, b->signal != 0, b->signal);
    compare_text(&list, "signal", x, y);
    compare_data(&list, "stdout", &a->stdout_data, &b->stdout_data);
    compare_data(&list, "stderr", &a->stderr_data, &b->stderr_data);
    compare_named(&list, "files", a->files, a->file_count, b->files, b->file_count);
    compare_cell(&list, a, b);
    if (list.failed) {
        free(list.items);
        *diffs = NULL;
        return -1;
    }
    *diffs = list.items;
    return (long)list.n;
}
