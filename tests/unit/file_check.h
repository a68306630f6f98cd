/* Test helper: checking what a test wrote to a directory. */
#ifndef BRIG_TESTS_UNIT_FILE_CHECK_H
#define BRIG_TESTS_UNIT_FILE_CHECK_H

#include <stddef.h>

/* Fails the test unless dir/name holds exactly content (at most 63 bytes). */
void assert_file(const char *dir, const char *name, const char *content, size_t len);

#endif
