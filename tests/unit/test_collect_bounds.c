/* collect_files() at its bounds: the byte budget, the file and omission
 * lists, the candidates, path length, depth and the walk's entry counts; each
 * test twice, with openat2 and with the O_NOFOLLOW fallback, as test_collect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "schema/schema.h"
#include "common/common.h"
#include "worker/collect.h"
#include "tests/unit/collect_fixture.h"

static void huge_sparse_file_is_refused_by_size(void **state)
{
    struct tree *t = *state;
    char path[4096];
    put_text(t, "big", "");
    path_of(t, "big", path, sizeof(path));
    assert_int_equal(truncate(path, 10ll << 30), 0);
    put_text(t, "small", "fits");
    struct collection c;
    COLLECT(t, BUDGET, &c, "*");
    assert_string_equal(file_list(&c), "small");
    char expected[128];
    snprintf(expected, sizeof(expected),
             "too large: %llu bytes over the collect_bytes budget of %u", (10ull << 30) - BUDGET,
             BUDGET);
    assert_string_equal(reason_for(&c, "big"), expected);
    collection_free(&c);
}

static void budget_at_the_limit_and_one_byte_over(void **state)
{
    struct tree *t = *state;
    put_sized(t, "exact/a", 600);
    put_sized(t, "exact/b", 424);
    put_sized(t, "over/a", 600);
    put_sized(t, "over/b", 425);
    put_sized(t, "over/c", 424);
    struct collection c;
    COLLECT(t, 1024, &c, "exact/*");
    assert_string_equal(file_list(&c), "exact/a,exact/b");
    assert_int_equal(c.total_bytes, 1024);
    assert_int_equal(c.omitted_count, 0);
    collection_free(&c);

    /* b does not fit by one byte; c, later in path order, still does. */
    COLLECT(t, 1024, &c, "over/*");
    assert_string_equal(file_list(&c), "over/a,over/c");
    assert_string_equal(reason_for(&c, "over/b"),
                        "too large: 1 bytes over the collect_bytes budget of 1024");
    assert_int_equal(c.total_bytes, 1024);
    collection_free(&c);
}

static void files_past_the_file_bound_are_each_listed(void **state)
{
    struct tree *t = *state;
    put_many(t, "many/f%04d", 300);
    struct collection c;
    COLLECT(t, BUDGET, &c, "many/*");
    assert_int_equal(c.file_count, BRIG_FILES_MAX);
    assert_string_equal(c.files[BRIG_FILES_MAX - 1].path, "many/f0255");
    assert_int_equal(c.omitted_count, 44);
    for (size_t i = 0; i < c.omitted_count; i++) {
        char want[32];
        snprintf(want, sizeof(want), "many/f%04zu", BRIG_FILES_MAX + i);
        assert_string_equal(c.omitted[i].path, want);
        assert_string_equal(c.omitted[i].reason, "too many files: a result returns at most 256");
    }
    assert_false(c.omitted_truncated);
    collection_free(&c);
}

/* Past BRIG_OMITTED_MAX entries the list stops and says it was cut. */
static void omissions_past_the_list_bound_are_flagged(void **state)
{
    struct tree *t = *state;
    put_many(t, "many/f%04d", 5000);
    struct collection c;
    COLLECT(t, BUDGET, &c, "many/*");
    assert_int_equal(c.file_count, BRIG_FILES_MAX);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    assert_string_equal(c.omitted[0].path, "many/f0256");
    assert_string_equal(c.omitted[BRIG_OMITTED_MAX - 1].path, "many/f0511");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

/* 1101 matches: the first 1024 in path order are examined, all links, and
 * the first 256 of them listed; z.txt is never examined. */
static void matches_past_the_candidate_bound_are_flagged(void **state)
{
    struct tree *t = *state;
    for (int i = 0; i < 1100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "l/s%04d", i);
        put_symlink(t, "/etc/passwd", name);
    }
    put_text(t, "z.txt", "after the links");
    struct collection c;
    COLLECT(t, BUDGET, &c, "**");
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    assert_string_equal(c.omitted[0].path, "l/s0000");
    assert_string_equal(c.omitted[255].path, "l/s0255");
    assert_string_equal(c.omitted[255].reason, "symlink: never followed");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

/* files_omitted at its bounds, beside the largest output and files a job can
 * return, still makes a result within BRIG_RESULT_MAX_BYTES: the list bound
 * is the schema's array bound, not the message size. */
static void the_largest_collection_fits_in_a_result(void **state)
{
    (void)state;
    static char path[BRIG_FILES_MAX][BRIG_PATH_MAX + 1];
    static char reason[BRIG_OMITTED_REASON_MAX + 1];
    static struct brig_file files[BRIG_FILES_MAX];
    static struct brig_omitted_file omitted[BRIG_OMITTED_MAX];
    static struct brig_pair metadata[BRIG_METADATA_MAX];
    static char meta_key[BRIG_METADATA_MAX][BRIG_METADATA_KEY_MAX + 1];
    static char meta_value[BRIG_METADATA_VALUE_MAX + 1];
    static char error_text[BRIG_ERROR_TEXT_MAX + 1];
    size_t output = BRIG_OUTPUT_BYTES_MAX, collected = BRIG_COLLECT_BYTES_MAX;
    char *data = malloc(output > collected ? output : collected);
    assert_non_null(data);
    memset(data, 'x', output > collected ? output : collected);
    memset(reason, 'r', BRIG_OMITTED_REASON_MAX);
    memset(meta_value, 'm', BRIG_METADATA_VALUE_MAX);
    memset(error_text, 'e', BRIG_ERROR_TEXT_MAX);
    for (size_t i = 0; i < BRIG_FILES_MAX; i++) {
        /* distinct paths of 1024 bytes, in components of 200 bytes */
        for (size_t j = 0; j < BRIG_PATH_MAX; j++)
            path[i][j] = j % 201 == 200 ? '/' : 'd';
        snprintf(path[i] + BRIG_PATH_MAX - 5, 6, "/%04zu", i);
        files[i] = (struct brig_file){path[i], {data, collected / BRIG_FILES_MAX}};
    }
    for (size_t i = 0; i < BRIG_OMITTED_MAX; i++)
        omitted[i] = (struct brig_omitted_file){path[i % BRIG_FILES_MAX], reason};
    for (size_t i = 0; i < BRIG_METADATA_MAX; i++) {
        memset(meta_key[i], 'k', BRIG_METADATA_KEY_MAX);
        snprintf(meta_key[i] + BRIG_METADATA_KEY_MAX - 2, 3, "%02zu", i);
        metadata[i] = (struct brig_pair){meta_key[i], meta_value};
    }
    struct brig_result result = {
        .id = "collect-test",
        .attempt = 1,
        .status = BRIG_STATUS_FAILED,
        .stdout_data = {data, output / 2},
        .stderr_data = {data, output - output / 2},
        .files = files,
        .file_count = BRIG_FILES_MAX,
        .files_omitted = omitted,
        .omitted_count = BRIG_OMITTED_MAX,
        .files_omitted_truncated = true,
        .error = error_text,
        .metadata = metadata,
        .metadata_count = BRIG_METADATA_MAX,
    };
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct brig_error err;
    if (brig_result_encode(&result, &buf, &err) != 0)
        fail_msg("the largest collection is not a valid result: %s: %s", err.field, err.reason);
    assert_true(buf.size <= BRIG_RESULT_MAX_BYTES);
    msgpack_sbuffer_destroy(&buf);
    free(data);
}

static void bad_names_are_escaped(void **state)
{
    struct tree *t = *state;
    put_text(t, "out/new\nline", "1");
    put_text(t, "out/tab\there", "2");
    put_text(t, "out/del\x7f", "3");
    put_text(t, "out/\xff\xfe.bin", "4");
    put_text(t, "out/back\\slash\xc0\xaf", "5");
    put_text(t, "out/caf\xc3\xa9.txt", "6");
    put_text(t, "out/plain\\slash", "7");
    struct collection c;
    COLLECT(t, BUDGET, &c, "out/*");
    assert_string_equal(file_list(&c), "out/caf\xc3\xa9.txt,out/plain\\slash");
    assert_reason(&c, "out/new\\x0aline", "path holds control characters");
    assert_reason(&c, "out/tab\\x09here", "path holds control characters");
    assert_reason(&c, "out/del\\x7f", "path holds control characters");
    assert_reason(&c, "out/\\xff\\xfe.bin", "path is not valid UTF-8");
    assert_reason(&c, "out/back\\\\slash\\xc0\\xaf", "path is not valid UTF-8");
    assert_int_equal(c.omitted_count, 5);
    collection_free(&c);
}

static void long_paths_are_cut_and_not_searched(void **state)
{
    struct tree *t = *state;
    char a[251], bad[251], rel[2048];
    memset(a, 'a', 250);
    a[250] = '\0';
    memset(bad, 0xff, 250);
    bad[250] = '\0';
    /* A name of escaped bytes: shown four times as long, then cut. */
    snprintf(rel, sizeof(rel), "%s/%s", a, bad);
    put_text(t, rel, "x");
    /* 4 x 250 bytes and 3 slashes: 1003. A file there still fits... */
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/f", a, a, a, a);
    put_text(t, rel, "fits");
    /* ...a 200-byte name does not, and nothing below a fifth level could. */
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/%.200s", a, a, a, a, a);
    put_text(t, rel, "too long");
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s/%s/f", a, a, a, a, a);
    put_text(t, rel, "below");
    struct collection c;
    COLLECT(t, BUDGET, &c, "**");
    assert_int_equal(c.file_count, 1);
    assert_int_equal(strlen(c.files[0].path), 1005);
    assert_int_equal(c.omitted_count, 3);
    for (size_t i = 0; i < c.omitted_count; i++) {
        const char *path = c.omitted[i].path, *reason = c.omitted[i].reason;
        size_t len = strlen(path);
        assert_true(len <= BRIG_PATH_MAX);
        if (strncmp(reason, "path is not valid UTF-8", 23) == 0) {
            /* Cut between two escapes. */
            assert_int_equal(len, 251 + 192 * 4 + 3);
            assert_memory_equal(path + len - 7, "\\xff...", 7);
        } else if (strncmp(reason, "path too long", 13) == 0) {
            assert_string_equal(reason, "path too long: 1204 bytes (max 1024)");
            assert_int_equal(len, BRIG_PATH_MAX);
            assert_memory_equal(path + len - 3, "...", 3);
        } else {
            assert_string_equal(reason,
                                "not searched: paths below it would be longer than 1024 bytes");
            assert_int_equal(len, BRIG_PATH_MAX);
        }
    }
    collection_free(&c);
}

static void deep_nesting_stops_at_the_depth_bound(void **state)
{
    struct tree *t = *state;
    char rel[512] = "";
    for (int level = 1; level <= COLLECT_DEPTH_MAX + 8; level++) {
        strcat(rel, "d/");
        char file[600];
        snprintf(file, sizeof(file), "%sf", rel);
        put_text(t, file, "x");
    }
    struct collection c;
    COLLECT(t, BUDGET, &c, "**/f");
    /* d/f (depth 1) to 32 d's and f are collected; the 33rd d is not entered. */
    assert_int_equal(c.file_count, COLLECT_DEPTH_MAX);
    assert_int_equal(c.omitted_count, 1);
    char too_deep[256] = "";
    for (int level = 1; level <= COLLECT_DEPTH_MAX + 1; level++)
        strcat(too_deep, level > 1 ? "/d" : "d");
    assert_reason(&c, too_deep, "not searched: directories deeper than 32 levels");
    collection_free(&c);
}

/* Two directories of 300 matching links and 50000 other files each: the
 * walk reads one whole, whichever readdir gives first, and stops in the
 * other. Where it stopped keeps the last entry of a full list. */
static void walk_stops_after_the_entry_bound(void **state)
{
    struct tree *t = *state;
    for (int dir = 0; dir < 2; dir++) {
        for (int i = 0; i < COLLECT_ENTRIES_MAX / 2; i++) {
            char name[32];
            snprintf(name, sizeof(name), "%c/%06d", "ab"[dir], i);
            put_node(t, name, S_IFREG | 0644, 0);
        }
        for (int i = 0; i < 300; i++) {
            char name[32];
            snprintf(name, sizeof(name), "%c/l%03d.none", "ab"[dir], i);
            put_symlink(t, "/etc/passwd", name);
        }
    }
    struct collection c;
    COLLECT(t, BUDGET, &c, "*/*.none");
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, BRIG_OMITTED_MAX);
    for (size_t i = 0; i < BRIG_OMITTED_MAX - 1; i++)
        assert_string_equal(c.omitted[i].reason, "symlink: never followed");
    assert_string_equal(c.omitted[BRIG_OMITTED_MAX - 1].reason,
                        "walk stopped here: the workspace holds more than 100000 directory "
                        "entries");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

static void walk_stops_after_the_matching_bound(void **state)
{
    struct tree *t = *state;
    /* 32 patterns of 127 components, all still alive 30 levels down: every
     * name there costs about a thousand fnmatch calls. */
    char pattern[BRIG_GLOB_MAX + 1] = "**";
    while (strlen(pattern) + 2 <= BRIG_GLOB_MAX)
        strcat(pattern, "/*");
    const char *patterns[BRIG_COLLECT_MAX];
    for (size_t i = 0; i < BRIG_COLLECT_MAX; i++)
        patterns[i] = pattern;
    char rel[128] = "";
    for (int level = 0; level < 30; level++)
        strcat(rel, "c/");
    for (int i = 0; i < 5000; i++) {
        char name[160];
        snprintf(name, sizeof(name), "%sn%04d", rel, i);
        put_text(t, name, "");
    }
    struct collection c;
    collect_ok(t->fd, patterns, BRIG_COLLECT_MAX, BUDGET, &c);
    assert_int_equal(c.file_count, 0);
    assert_int_equal(c.omitted_count, 1);
    assert_string_equal(c.omitted[0].reason,
                        "walk stopped here: the patterns needed more than 4000000 name "
                        "comparisons");
    assert_true(c.omitted_truncated);
    collection_free(&c);
}

static const struct CMUnitTest tests[] = {
    TREE_TEST(huge_sparse_file_is_refused_by_size),
    TREE_TEST(budget_at_the_limit_and_one_byte_over),
    TREE_TEST(files_past_the_file_bound_are_each_listed),
    TREE_TEST(omissions_past_the_list_bound_are_flagged),
    TREE_TEST(matches_past_the_candidate_bound_are_flagged),
    cmocka_unit_test(the_largest_collection_fits_in_a_result),
    TREE_TEST(bad_names_are_escaped),
    TREE_TEST(long_paths_are_cut_and_not_searched),
    TREE_TEST(deep_nesting_stops_at_the_depth_bound),
    TREE_TEST(walk_stops_after_the_entry_bound),
    TREE_TEST(walk_stops_after_the_matching_bound),
};

int main(void)
{
    return run_both_ways("collect bounds", tests, ARRAY_SIZE(tests));
}
