#include "tests/unit/cgroup_fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/tree.h"

int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->root, "/tmp/brig-test-cgroup-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    *state = f;
    return 0;
}

int teardown(void **state)
{
    struct fixture *f = *state;
    cgroup_backend_free(f->backend);
    assert_int_equal(remove_tree(f->root), 0);
    free(f);
    return 0;
}

FILE *must_open(const char *path, const char *mode)
{
    FILE *file = fopen(path, mode);
    if (!file)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    return file;
}

void put(const struct fixture *f, const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    FILE *file = must_open(path, "w");
    fputs(content, file);
    assert_int_equal(fclose(file), 0);
}

void make_dir(const struct fixture *f, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

const char *slurp(const struct fixture *f, const char *rel)
{
    static char content[1024];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    FILE *file = must_open(path, "r");
    size_t n = fread(content, 1, sizeof content - 1, file);
    content[n] = '\0';
    fclose(file);
    return content;
}

bool exists(const struct fixture *f, const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->root, rel);
    return lstat(path, &st) == 0;
}

struct jail_limits limits(uint64_t memory_bytes, uint64_t pids, uint32_t cpu_millis)
{
    struct jail_limits l;
    memset(&l, 0, sizeof l);
    l.memory_bytes = memory_bytes;
    l.pids = pids;
    l.cpu_millis = cpu_millis;
    return l;
}

void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" does not mention \"%s\"", text, part);
}

pid_t idle_child(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        for (;;)
            pause();
    return pid;
}

void reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}
