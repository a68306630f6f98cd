/* The reporting convention every attack program follows.
 *
 * An attack program tries to break one promise of the jail and prints one
 * line per attempt:
 *
 *   CONTAINED: <what was tried>: <why it failed>
 *   ESCAPED: <what was tried>: <what happened instead>
 *
 * and exits 0 when every attempt was contained, 1 when any escaped (2 for a
 * usage error). "NOTE: <fact>" lines carry facts that only the test can
 * judge, by comparing runs or looking at the host. Lines go straight to fd 1 without stdio
 * buffering, so the ones printed before a seccomp kill are not lost. Attacks that must be killed by
 * seccomp report nothing of their own: the test reads the jail's outcome record instead. */
#ifndef BRIG_TESTS_ATTACK_H
#define BRIG_TESTS_ATTACK_H

#include <stdbool.h>

void attack_contained(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void attack_escaped(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void attack_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* For a call that must fail: result < 0 (with errno set) is contained and the
 * line names the errno; anything else escaped. */
void attack_must_fail(long result, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens path with flags (O_CLOEXEC added; mode 0644 for O_CREAT), which must
 * fail; closes it at once when it does not. The line names the access asked
 * for: "open /etc/shadow (read): ENOENT (...)". */
void attack_open_must_fail(const char *path, int flags);

/* Writes value into path, which must fail at the open or at the write. */
void attack_write_must_fail(const char *path, const char *value);

/* The program's exit status: 0 when at least one attempt was made and none
 * escaped, 1 otherwise. */
int attack_finish(void);

/* Prints the usage line to stderr and exits 2. */
void attack_usage(const char *usage) __attribute__((noreturn));

/* "ENOENT" for ENOENT. */
const char *attack_errno_name(int err);

/* Creates an empty file: the way two concurrent jails and the test agree on
 * a moment, through a directory the test binds into both. */
void attack_touch(const char *path);

/* Waits until path exists, at most timeout_ms; true when it appeared. */
bool attack_wait_for(const char *path, int timeout_ms);

/* The pids /proc shows, up to max of them; returns how many, or -1 with
 * errno set when /proc cannot be read. */
int attack_list_pids(int *pids, int max);

/* Reads a whole small file into buf (NUL-terminated). Returns its length, or
 * -1 with errno set. */
long attack_read_file(const char *path, char *buf, unsigned long size);

#endif
