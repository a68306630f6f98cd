/* Leftovers of dead brig processes: a pid that comes back finds its jails'
 * cgroup names free. Needs root. */
#include <errno.h>
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

#include "sandbox/cgroup_impl.h"
#include "sandbox/jail_impl.h"
#include "tests/unit/tree.h"

static char state[64];

static int setup(void **unused)
{
    (void)unused;
    snprintf(state, sizeof(state), "/tmp/brig-test-reclaim.XXXXXX");
    if (mkdtemp(state) == NULL || chmod(state, 0711) != 0)
        return -1;
    return 0;
}

static int teardown(void **unused)
{
    (void)unused;
    remove_tree(state);
    return 0;
}

/* A dead process with this very pid left cgroups under the names jails had
 * before start times were part of them ("<pid>-<n>"): a context of this
 * process starts its jails all the same. */
static void test_a_pid_that_comes_back_finds_its_cgroup_names_free(void **unused)
{
    (void)unused;
    char err[512], name[32];
    struct jail_context_config config = {.state_dir = state, .max_jails = 2};
    struct jail_context *ctx;
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    const struct cgroup_backend *cgroups = ctx->cgroups;
    for (size_t i = 0; i < cgroups->n_groups; i++) {
        for (int n = 0; n < 4; n++) {
            snprintf(name, sizeof(name), "%d-%d", (int)getpid(), n);
            if (mkdirat(cgroups->brig[i].fd, name, 0755) != 0)
                fail_msg("planting %s/%s: %s", cgroups->brig[i].path, name, strerror(errno));
        }
    }
    const char *argv[] = {"/bin/true", NULL};
    struct jail_spec spec = {.argv = argv};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 30000;
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    for (size_t i = 0; i < cgroups->n_groups; i++) {
        for (int n = 0; n < 4; n++) {
            snprintf(name, sizeof(name), "%d-%d", (int)getpid(), n);
            unlinkat(cgroups->brig[i].fd, name, AT_REMOVEDIR);
        }
    }
    if (out.status != BRIG_STATUS_OK)
        fail_msg("status %s: %s", brig_status_name(out.status), out.message);
    jail_outcome_free(&out);
    jail_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_pid_that_comes_back_finds_its_cgroup_names_free,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
