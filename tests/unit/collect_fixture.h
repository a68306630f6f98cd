/* What the collect tests share: hostile trees built in a tmpfs of their own,
 * as the worker's workspaces are, and the checks every collection passes. */
#ifndef BRIG_TESTS_COLLECT_FIXTURE_H
#define BRIG_TESTS_COLLECT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "worker/collect.h"

struct CMUnitTest;

/* A workspace as the worker has one: a tmpfs of its own (here not nodev,
 * so that device nodes can be planted), with the tree to collect from in
 * base/work and room for files outside it in base. */
struct tree {
    char base[64];
    char dir[80];
    int fd; /* O_PATH, as the worker holds the workspace root */
};

void path_of(const struct tree *t, const char *rel, char *out, size_t outlen);
void put(const struct tree *t, const char *rel, const void *data, size_t len);
void put_text(const struct tree *t, const char *rel, const char *text);
void put_sized(const struct tree *t, const char *rel, size_t len);
void put_symlink(const struct tree *t, const char *target, const char *rel);
void put_node(const struct tree *t, const char *rel, mode_t mode, dev_t dev);
/* count files named by format (a %d for the index), one byte each. */
void put_many(const struct tree *t, const char *format, int count);
int tree_setup(void **state);
int tree_teardown(void **state);

/* Fails the test when collect_files fails or c is not a valid result. */
void collect_ok(int root_fd, const char *const *patterns, size_t count, uint64_t max_bytes,
                struct collection *c);
void assert_encodable(const struct collection *c);
#define COLLECT(t, max_bytes, c, ...)                                                              \
    do {                                                                                           \
        const char *patterns_[] = {__VA_ARGS__};                                                   \
        collect_ok((t)->fd, patterns_, ARRAY_SIZE(patterns_), max_bytes, c);                       \
    } while (0)

#define BUDGET (1u << 20)
#define TREE_TEST(f) cmocka_unit_test_setup_teardown(f, tree_setup, tree_teardown)

/* The collected and omitted paths, joined with ","; valid until the next call. */
const char *file_list(const struct collection *c);
const char *omitted_list(const struct collection *c);
const char *reason_for(const struct collection *c, const char *shown_path);
void assert_reason(const struct collection *c, const char *shown_path, const char *start);

/* Runs tests with openat2, then again with openat2 refused (ENOSYS), so the
 * O_NOFOLLOW fallback meets the same trees. Returns the failures. */
int run_both_ways(const char *name, const struct CMUnitTest *tests, size_t count);

#endif
