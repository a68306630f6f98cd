#include "producer/cli_show.h"

#include <stdio.h>

#include "producer/cell_display.h"
#include "producer/cli_common.h"
#include "producer/out_dir.h"
#include "producer/session_jobs.h"

static void out_dir_of(const struct show_options *o, const struct brig_result *r, char *dir,
                       size_t len)
{
    if (o->out_dir)
        snprintf(dir, len, "%s", o->out_dir);
    else
        snprintf(dir, len, "brig-out/%s", r->id);
}

static int save_files(const struct show_options *o, const struct brig_result *r, const char *dir)
{
    char err[1024];
    if (r->file_count == 0)
        return 0;
    if (out_dir_write(dir, r->files, r->file_count, err, sizeof err) < 0) {
        cli_error(o->command, "saving the collected files: %s", err);
        return -1;
    }
    fprintf(stderr, "brig: %zu collected file%s in %s/\n", r->file_count,
            r->file_count == 1 ? "" : "s", dir);
    return 0;
}

int cli_show_result(const struct show_options *o, const struct brig_result *r)
{
    char dir[4096], err[1024];
    out_dir_of(o, r, dir, sizeof dir);
    int rc = save_files(o, r, dir);
    if (o->json)
        return rc;
    /* Only a fresh interpreter is worth the look into the stores. */
    struct cell_display display = {
        .dir = dir,
        .earlier_cells = r->has_interpreter && r->interpreter_started && r->session &&
                         *r->session &&
                         session_had_earlier_cells(r->session, r->id, r->runtime_name),
    };
    if (cell_display(stdout, stderr, r, &display, err, sizeof err) < 0) {
        cli_error(o->command, "saving the outputs: %s", err);
        rc = -1;
    }
    print_omitted(stderr, r);
    print_summary(stderr, r, cli_colour(stderr));
    return rc;
}
