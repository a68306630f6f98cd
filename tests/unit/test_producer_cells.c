/* How brig run and brig wait show a cell's result, on crafted results: text
 * in order, images saved under names brig chooses (never the MIME type's),
 * exceptions as Python prints them, the interpreter's notes and the exit
 * status of a cell that raised. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "producer/cell_display.h"
#include "producer/cli_common.h"
#include "tests/unit/file_check.h"
#include "tests/unit/tree.h"

/* The first bytes of a PNG: binary, not UTF-8. */
static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
#define PNG_LEN (sizeof png - 1)

static char tmpdir[64], outdir[128];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/brig-test-cells-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(outdir, sizeof outdir, "%s/out/job", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(tmpdir);
}

/* What cell_display printed on each stream. */
struct shown {
    char *out, *msgs;
    size_t out_len, msgs_len;
    int rc;
    char err[1024];
};

static void show(const struct brig_result *r, bool earlier_cells, struct shown *s)
{
    FILE *out = open_memstream(&s->out, &s->out_len);
    FILE *msgs = open_memstream(&s->msgs, &s->msgs_len);
    assert_non_null(out);
    assert_non_null(msgs);
    struct cell_display o = {.dir = outdir, .earlier_cells = earlier_cells};
    s->rc = cell_display(out, msgs, r, &o, s->err, sizeof s->err);
    fclose(out);
    fclose(msgs);
}

static void shown_free(struct shown *s)
{
    free(s->out);
    free(s->msgs);
}

/* The names in dir, sorted, joined by spaces. */
static void list_dir(const char *dir, char *buf, size_t len)
{
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (entries[i]->d_name[0] != '.')
            snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? " " : "",
                     entries[i]->d_name);
        free(entries[i]);
    }
    if (n >= 0)
        free(entries);
}

static struct brig_result cell(struct brig_output *outputs, size_t n)
{
    return (struct brig_result){
        .id = "cell-1",
        .attempt = 1,
        .status = BRIG_STATUS_OK,
        .session = "nb1",
        .outputs = outputs,
        .output_count = n,
        .has_interpreter = true,
        .execution_count = 3,
    };
}

static void test_outputs_in_order(void **state)
{
    (void)state;
    struct brig_file printed[] = {{"text/plain", {"42", 2}}};
    struct brig_file frame[] = {{"text/html", {"<table/>", 8}},
                                {"text/plain", {"   a\n0  1\n", 10}}};
    struct brig_file figure[] = {{"text/plain", {"<Figure size 640x480 with 1 Axes>", 33}},
                                 {"image/png", {png, PNG_LEN}}};
    struct brig_file bare[] = {{"image/png", {png, PNG_LEN}}, {"application/x-thing", {"?", 1}}};
    struct brig_output outputs[] = {
        {"display", figure, 2},
        {"display", frame, 2},
        {"display", bare, 2},
        {"result", printed, 1},
    };
    struct brig_result r = cell(outputs, ARRAY_SIZE(outputs));
    struct shown s = {0};
    show(&r, false, &s);
    assert_int_equal(s.rc, 0);
    /* text/plain as it is, a newline added where it lacks one; the bundle
     * without text/plain named by its types; HTML not saved where
     * text/plain stands for it */
    assert_string_equal(s.out, "<Figure size 640x480 with 1 Axes>\n"
                               "   a\n0  1\n"
                               "[output 3: image/png, application/x-thing]\n"
                               "42\n");
    char names[256], line[512];
    list_dir(outdir, names, sizeof names);
    assert_string_equal(names, "output-1.png output-3.png");
    assert_file(outdir, "output-1.png", png, PNG_LEN);
    snprintf(line, sizeof line, "brig: output 1 (image/png) saved as %s/output-1.png\n", outdir);
    assert_non_null(strstr(s.msgs, line));
    snprintf(line, sizeof line, "brig: output 3 (image/png) saved as %s/output-3.png\n", outdir);
    assert_non_null(strstr(s.msgs, line));
    /* a first cell: no word about lost state */
    assert_null(strstr(s.msgs, "interpreter"));
    shown_free(&s);
}

static void test_rich_text_without_plain_is_saved(void **state)
{
    (void)state;
    struct brig_file html[] = {{"text/html", {"<b>x</b>", 8}}};
    struct brig_file json[] = {{"application/json", {"{\"a\": 1}", 8}},
                               {"image/svg+xml", {"<svg/>", 6}}};
    struct brig_output outputs[] = {{"display", html, 1}, {"display", json, 2}};
    struct brig_result r = cell(outputs, ARRAY_SIZE(outputs));
    struct shown s = {0};
    show(&r, false, &s);
    assert_int_equal(s.rc, 0);
    assert_string_equal(s.out, "[output 1: text/html]\n[output 2: application/json, "
                               "image/svg+xml]\n");
    char names[256];
    list_dir(outdir, names, sizeof names);
    assert_string_equal(names, "output-1.html output-2.json output-2.svg");
    assert_file(outdir, "output-2.json", "{\"a\": 1}", 8);
    shown_free(&s);
}

/* The MIME type is the job's: whatever it says, the file is named by brig
 * and lands in the directory, or is not written at all. */
static void test_hostile_types_choose_no_path(void **state)
{
    (void)state;
    struct brig_file hostile[] = {
        {"../../../../tmp/evil", {"x", 1}}, {"image/png/../../../evil", {"x", 1}},
        {"image/../../evil.png", {"x", 1}}, {"/etc/passwd", {"x", 1}},
        {"image/png\n", {"x", 1}},          {"image/png", {png, PNG_LEN}},
    };
    struct brig_output outputs[] = {{"display", hostile, ARRAY_SIZE(hostile)}};
    struct brig_result r = cell(outputs, 1);
    struct shown s = {0};
    show(&r, false, &s);
    assert_int_equal(s.rc, 0);
    char names[256];
    list_dir(outdir, names, sizeof names);
    assert_string_equal(names, "output-1.png");
    assert_file(outdir, "output-1.png", png, PNG_LEN);
    char parent[192];
    snprintf(parent, sizeof parent, "%s/out", tmpdir);
    list_dir(parent, names, sizeof names);
    assert_string_equal(names, "job");
    list_dir(tmpdir, names, sizeof names);
    assert_string_equal(names, "out");
    shown_free(&s);
}

/* A collected file the job named output-1.png keeps its name and content;
 * the image goes beside it. */
static void test_collected_file_of_the_same_name(void **state)
{
    (void)state;
    struct brig_file collected[] = {{"output-1.png", {"mine", 4}}, {"output-1-2.png", {"too", 3}}};
    struct brig_file figure[] = {{"image/png", {png, PNG_LEN}}};
    struct brig_output outputs[] = {{"display", figure, 1}};
    struct brig_result r = cell(outputs, 1);
    r.files = collected;
    r.file_count = 2;
    struct cell_files files;
    assert_int_equal(cell_files_plan(&r, &files), 0);
    assert_int_equal(files.count, 1);
    assert_string_equal(files.files[0].path, "output-1-3.png");
    cell_files_free(&files);
}

/* A link planted where the image goes is not followed. */
static void test_link_in_the_way(void **state)
{
    (void)state;
    char target[192], link[192], cmd[512];
    snprintf(target, sizeof target, "%s/target", tmpdir);
    snprintf(link, sizeof link, "%s/output-1.png", outdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo keep > %s", outdir, target);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(symlink(target, link), 0);
    struct brig_file figure[] = {{"text/plain", {"<Figure>", 8}}, {"image/png", {png, PNG_LEN}}};
    struct brig_output outputs[] = {{"display", figure, 2}};
    struct brig_result r = cell(outputs, 1);
    struct shown s = {0};
    show(&r, false, &s);
    assert_int_equal(s.rc, -1);
    assert_non_null(strstr(s.err, "symbolic link"));
    assert_file(tmpdir, "target", "keep\n", 5);
    /* the text is shown all the same, and no file is said to be saved */
    assert_string_equal(s.out, "<Figure>\n");
    assert_null(strstr(s.msgs, "saved as"));
    shown_free(&s);
}

static void test_unknown_kinds_are_skipped(void **state)
{
    (void)state;
    struct brig_file data[] = {{"text/plain", {"hidden", 6}}, {"image/png", {png, PNG_LEN}}};
    struct brig_file shown_data[] = {{"text/plain", {"seen", 4}}};
    struct brig_output outputs[] = {{"update_display", data, 2}, {"display", shown_data, 1}};
    struct brig_result r = cell(outputs, 2);
    struct shown s = {0};
    show(&r, false, &s);
    assert_string_equal(s.out, "seen\n");
    struct stat st;
    assert_int_equal(stat(outdir, &st), -1);
    shown_free(&s);
}

static void test_exception_as_python_prints_it(void **state)
{
    (void)state;
    const char *frames[] = {"Traceback (most recent call last):\n",
                            "  File \"<cell>\", line 1, in <module>\n    1/0\n"};
    struct brig_result r = cell(NULL, 0);
    r.status = BRIG_STATUS_FAILED;
    r.exception_name = "ZeroDivisionError";
    r.exception_value = "division by zero";
    r.traceback = frames;
    r.traceback_count = 2;
    struct shown s = {0};
    show(&r, false, &s);
    assert_string_equal(s.out, "");
    assert_string_equal(s.msgs, "Traceback (most recent call last):\n"
                                "  File \"<cell>\", line 1, in <module>\n    1/0\n"
                                "ZeroDivisionError: division by zero\n");
    shown_free(&s);

    /* a traceback that ends with the line already: not twice */
    const char *full[] = {"Traceback (most recent call last):\n",
                          "ZeroDivisionError: division by zero\n"};
    r.traceback = full;
    show(&r, false, &s);
    assert_string_equal(s.msgs, "Traceback (most recent call last):\n"
                                "ZeroDivisionError: division by zero\n");
    shown_free(&s);

    /* no value, no traceback: the name alone */
    r.exception_value = NULL;
    r.traceback_count = 0;
    r.exception_name = "KeyboardInterrupt";
    show(&r, false, &s);
    assert_string_equal(s.msgs, "KeyboardInterrupt\n");
    shown_free(&s);
}

static void test_interpreter_notes(void **state)
{
    (void)state;
    struct brig_result r = cell(NULL, 0);
    struct shown s = {0};
    r.interpreter_started = true;
    /* the session's first cell starts one: nothing to say */
    show(&r, false, &s);
    assert_string_equal(s.msgs, "");
    shown_free(&s);
    /* after earlier jobs, a new one means their state is gone */
    show(&r, true, &s);
    assert_non_null(strstr(s.msgs, "a new interpreter ran this cell"));
    shown_free(&s);
    r.interpreter_started = false;
    r.state_lost = true;
    r.outputs_truncated = true;
    show(&r, true, &s);
    assert_null(strstr(s.msgs, "a new interpreter ran"));
    assert_non_null(strstr(s.msgs, "the interpreter ended during this cell"));
    assert_non_null(strstr(s.msgs, "outputs were left out"));
    shown_free(&s);
    /* a result of no cell says nothing of interpreters */
    r.has_interpreter = false;
    r.outputs_truncated = false;
    show(&r, true, &s);
    assert_string_equal(s.msgs, "");
    shown_free(&s);
}

/* Status failed without an exit code is a cell that raised: not success. */
static void test_exit_status_of_a_cell_that_raised(void **state)
{
    (void)state;
    struct brig_result r = cell(NULL, 0);
    r.status = BRIG_STATUS_FAILED;
    r.exception_name = "NameError";
    assert_int_equal(result_exit_status(&r), 1);
    r.has_exit_code = true;
    r.exit_code = 3;
    assert_int_equal(result_exit_status(&r), 3);
    r.status = BRIG_STATUS_OK;
    r.exit_code = 0;
    assert_int_equal(result_exit_status(&r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outputs_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rich_text_without_plain_is_saved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_types_choose_no_path, setup, teardown),
        cmocka_unit_test(test_collected_file_of_the_same_name),
        cmocka_unit_test_setup_teardown(test_link_in_the_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kinds_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exception_as_python_prints_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interpreter_notes, setup, teardown),
        cmocka_unit_test(test_exit_status_of_a_cell_that_raised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
