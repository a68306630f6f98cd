/* What the cgroup tests share: a fixture with a scratch root for fake
 * cgroupfs trees, and small file and process helpers that fail the test
 * on error. */
#ifndef BRIG_TESTS_CGROUP_FIXTURE_H
#define BRIG_TESTS_CGROUP_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"

#define MiB (1024 * 1024)

struct fixture {
    char root[64];
    char err[512];
    struct cgroup_backend *backend;
};

/* Fails the test with the error sentence when call does not return 0. */
#define OK(f, call)                                                                                \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_msg("%s: %s", #call, (f)->err);                                                   \
    } while (0)

int setup(void **state);
int teardown(void **state);
FILE *must_open(const char *path, const char *mode);
/* Files and directories under f->root. */
void put(const struct fixture *f, const char *rel, const char *content);
void make_dir(const struct fixture *f, const char *rel);
/* The content of root/rel, in a buffer valid until the next call. */
const char *slurp(const struct fixture *f, const char *rel);
bool exists(const struct fixture *f, const char *rel);
struct jail_limits limits(uint64_t memory_bytes, uint64_t pids, uint32_t cpu_millis);
void assert_contains(const char *text, const char *part);
/* A child that only waits to be killed: a real pid for attach tests, so
 * that no other process is ever signalled by mistake. */
pid_t idle_child(void);
void reap(pid_t pid);

#endif
