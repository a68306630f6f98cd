/* What the jail tests share: a jail context in a temporary state
 * directory, and specs run through jail_run. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/jail_host.h"
#include "sandbox/sandbox.h"
#include "tests/unit/tree.h"
#include "tests/unit/jail_fixture.h"

struct jail_context *ctx;
char state_dir[64];

int setup_context(void **state)
{
    (void)state;
    snprintf(state_dir, sizeof(state_dir), "/tmp/brig-test-jail.XXXXXX");
    if (mkdtemp(state_dir) == NULL)
        return -1;
    struct jail_context_config config = {.state_dir = state_dir, .max_jails = 8};
    char err[256];
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "jail_context_new: %s\n", err);
        return -1;
    }
    return 0;
}

int teardown_context(void **state)
{
    (void)state;
    jail_context_free(ctx);
    remove_tree(state_dir);
    return 0;
}

struct jail_spec spec_for(const char *const *argv)
{
    struct jail_spec spec = {.argv = argv};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 30000; /* generous: the machine may be loaded */
    spec.limits.cpu_ms = 20000;
    return spec;
}

struct jail_outcome run_spec(const struct jail_spec *spec)
{
    struct jail_outcome out;
    jail_run(ctx, spec, &out);
    return out;
}

struct jail_outcome run_sh(const char *script)
{
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct jail_spec spec = spec_for(argv);
    return run_spec(&spec);
}

void assert_status(const struct jail_outcome *out, brig_status expected)
{
    if (out->status != expected)
        fail_msg("status %s, expected %s (exit %d, signal %d, message \"%s\", stderr \"%s\")",
                 brig_status_name(out->status), brig_status_name(expected), out->exit_code,
                 out->signal, out->message, out->err.data);
}
