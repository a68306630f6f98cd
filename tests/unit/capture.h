/* Test helper: running a brig subcommand in process and keeping what it
 * printed on stdout. */
#ifndef BRIG_TESTS_UNIT_CAPTURE_H
#define BRIG_TESTS_UNIT_CAPTURE_H

/* Runs command(argc, argv) with stdout going to a temporary file; returns
 * what it printed (malloc'd, NUL-terminated) and its status in *status.
 * Fails the test when the file cannot be made or read. */
char *capture_stdout(int (*command)(int, char **), int argc, char **argv, int *status);

#endif
