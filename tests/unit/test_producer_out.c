/* Collected files written under brig run's --out directory: names from the
 * job are hostile, so nothing may land outside the directory. */
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

#include "producer/out_dir.h"
#include "common/common.h"
#include "tests/unit/file_check.h"

static char tmpdir[64], outdir[128], outside[128];
static char err[1024];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/brig-test-out-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(outdir, sizeof outdir, "%s/out/job", tmpdir);
    snprintf(outside, sizeof outside, "%s/outside", tmpdir);
    return mkdir(outside, 0755);
}

static int teardown(void **state)
{
    (void)state;
    char command[160];
    snprintf(command, sizeof command, "rm -rf %s", tmpdir);
    return system(command) == 0 ? 0 : -1;
}

static bool exists(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static void test_valid_names(void **state)
{
    (void)state;
    char why[256];
    const char *good[] = {"a.txt", "out/a.txt", "deep/er/x.bin", ".hidden", "a..b"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++)
        assert_true(out_name_valid(good[i], why, sizeof why));
    const char *bad[] = {"",   "/etc/passwd", "../up", "a/../../b", "a//b", "./a",
                         "a/", "a/.",         "..",    "a\nb",      "a\x01"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        if (out_name_valid(bad[i], why, sizeof why))
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

static void test_writes_nested_files(void **state)
{
    (void)state;
    struct brig_file files[] = {
        {"a.txt", {"alpha", 5}},
        {"sub/dir/b.bin", {"\x00\x01", 2}},
        {"sub/c.txt", {"", 0}},
    };
    assert_int_equal(out_dir_write(outdir, files, 3, err, sizeof err), 0);
    assert_file(outdir, "a.txt", "alpha", 5);
    assert_file(outdir, "sub/dir/b.bin", "\x00\x01", 2);
    assert_file(outdir, "sub/c.txt", "", 0);
    /* again: files of the same name are replaced */
    struct brig_file again[] = {{"a.txt", {"A", 1}}};
    assert_int_equal(out_dir_write(outdir, again, 1, err, sizeof err), 0);
    assert_file(outdir, "a.txt", "A", 1);
}

static void test_refuses_escaping_names(void **state)
{
    (void)state;
    struct brig_file up[] = {{"../../outside/x", {"x", 1}}};
    assert_int_equal(out_dir_write(outdir, up, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "../../outside/x"));
    struct brig_file absolute[] = {{"/tmp/x", {"x", 1}}};
    assert_int_equal(out_dir_write(outdir, absolute, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "absolute"));
    assert_false(exists(outside, "x"));
}

/* A link planted in the directory (by an earlier run, or anyone who can
 * write there) is never followed. */
static void test_refuses_symlinks(void **state)
{
    (void)state;
    char link_path[512];
    struct brig_file first[] = {{"keep.txt", {"k", 1}}};
    assert_int_equal(out_dir_write(outdir, first, 1, err, sizeof err), 0);

    snprintf(link_path, sizeof link_path, "%s/dir", outdir);
    assert_int_equal(symlink(outside, link_path), 0);
    struct brig_file through_dir[] = {{"dir/x", {"x", 1}}};
    assert_int_equal(out_dir_write(outdir, through_dir, 1, err, sizeof err), -1);
    if (!strstr(err, "symbolic link"))
        fail_msg("%s", err);
    assert_false(exists(outside, "x"));

    char target[512];
    snprintf(target, sizeof target, "%s/target", outside);
    snprintf(link_path, sizeof link_path, "%s/file", outdir);
    assert_int_equal(symlink(target, link_path), 0);
    struct brig_file onto_link[] = {{"file", {"y", 1}}};
    assert_int_equal(out_dir_write(outdir, onto_link, 1, err, sizeof err), -1);
    assert_false(exists(outside, "target"));
}

static void test_reports_unwritable_directory(void **state)
{
    (void)state;
    char file_in_the_way[256];
    snprintf(file_in_the_way, sizeof file_in_the_way, "%s/plain", tmpdir);
    FILE *f = fopen(file_in_the_way, "w");
    assert_non_null(f);
    fclose(f);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/below", file_in_the_way);
    struct brig_file files[] = {{"a", {"a", 1}}};
    assert_int_equal(out_dir_write(dir, files, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "creating directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_names),
        cmocka_unit_test_setup_teardown(test_writes_nested_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_escaping_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reports_unwritable_directory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
