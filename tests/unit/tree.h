/* Test helper: removes a directory tree the tests made, without following
 * symlinks (a jail may have left some behind). */
#ifndef BRIG_TESTS_UNIT_TREE_H
#define BRIG_TESTS_UNIT_TREE_H

/* 0, or -1 with errno set by the first removal that failed. */
int remove_tree(const char *path);

#endif
