/* What an operator adds to every jail (jail_context_config.binds and .env):
 * each bad bind refused with its path named, good ones read-only in every
 * jail, and both in the policy hash. Needs root, as every jail does. */
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

#include "sandbox/sandbox.h"
#include "tests/unit/tree.h"

static char dir[64];   /* host files to bind */
static char state[64]; /* the contexts' state directory */

static int setup(void **unused)
{
    (void)unused;
    snprintf(dir, sizeof(dir), "/tmp/brig-test-binds.XXXXXX");
    snprintf(state, sizeof(state), "/tmp/brig-test-binds-state.XXXXXX");
    if (mkdtemp(dir) == NULL || mkdtemp(state) == NULL || chmod(dir, 0755) != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "%s/wheels", dir);
    if (mkdir(path, 0755) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/wheels/tiny-1.0.whl", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs("wheel\n", f);
    fclose(f);
    chmod(path, 0644);
    /* A link out of the bound tree, and a device-like path. */
    snprintf(path, sizeof(path), "%s/escape", dir);
    return symlink("/root", path);
}

static int teardown(void **unused)
{
    (void)unused;
    remove_tree(dir);
    remove_tree(state);
    return 0;
}

/* jail_binds_check's sentence for one bind. */
static const char *check_one(const char *src, const char *dst, bool writable)
{
    static char err[512];
    struct jail_bind bind = {.src = src, .dst = dst, .writable = writable};
    err[0] = '\0';
    if (jail_binds_check(&bind, 1, err, sizeof(err)) == 0)
        return NULL;
    return err;
}

static void assert_refused(const char *src, const char *dst, const char *expected)
{
    const char *err = check_one(src, dst, false);
    if (err == NULL)
        fail_msg("%s:%s was accepted", src, dst ? dst : "");
    if (strstr(err, expected) == NULL)
        fail_msg("%s:%s: \"%s\" does not say \"%s\"", src, dst ? dst : "", err, expected);
}

static void test_bad_binds_are_refused_naming_the_path(void **unused)
{
    (void)unused;
    char path[128], expected[160];
    snprintf(path, sizeof(path), "%s/missing", dir);
    snprintf(expected, sizeof(expected), "%s: No such file or directory", path);
    assert_refused(path, "/opt/x", expected);
    assert_refused("opt/wheels", NULL, "opt/wheels: the host path must be absolute");
    assert_refused("/opt/../etc/shadow", "/opt/x", "/opt/../etc/shadow: the host path must be");
    assert_refused("/proc/self", "/opt/x", "/proc/self is under /proc");
    assert_refused("/sys/kernel", "/opt/x", "/sys/kernel is under /sys");
    assert_refused("/dev/sda", "/opt/x", "/dev/sda is under /dev");
    snprintf(path, sizeof(path), "%s/escape", dir);
    snprintf(expected, sizeof(expected), "%s is a symbolic link (to /root)", path);
    assert_refused(path, "/opt/x", expected);
    /* Through a link, not only at it. */
    snprintf(path, sizeof(path), "%s/escape/.bashrc", dir);
    snprintf(expected, sizeof(expected), "%s/escape is a symbolic link (to /root)", dir);
    assert_refused(path, "/opt/x", expected);
    snprintf(path, sizeof(path), "%s/wheels", dir);
    assert_refused(path, "/usr/share/wheels", "/usr/share/wheels: the jail mounts /usr itself");
    assert_refused(path, "/work/wheels", "the jail mounts /work itself");
    assert_refused(path, "/tmp", "the jail mounts /tmp itself");
    assert_refused(path, "/", "/: the path in the jail must be absolute");
    assert_refused(path, "opt", "opt: the path in the jail must be absolute");
    const char *err = check_one(path, "/opt/wheels", true);
    assert_non_null(err);
    assert_non_null(strstr(err, "read-only"));

    struct jail_bind overlapping[] = {{.src = path, .dst = "/opt"},
                                      {.src = path, .dst = "/opt/wheels"}};
    char why[512];
    assert_int_equal(jail_binds_check(overlapping, 2, why, sizeof(why)), -1);
    assert_string_equal(why, "/opt/wheels: overlaps the bind on /opt");
    assert_null(check_one(path, "/opt/wheels", false));
}

static void test_a_bad_bind_stops_the_context(void **unused)
{
    (void)unused;
    char path[128], err[512];
    snprintf(path, sizeof(path), "%s/escape", dir);
    struct jail_bind bind = {.src = path, .dst = "/opt/x"};
    struct jail_context_config config = {
        .state_dir = state, .max_jails = 1, .binds = &bind, .n_binds = 1};
    struct jail_context *ctx = NULL;
    assert_int_equal(jail_context_new(&config, &ctx, err, sizeof(err)), -1);
    assert_null(ctx);
    assert_non_null(strstr(err, "is a symbolic link (to /root)"));
}

static struct jail_context *context(const struct jail_bind *binds, size_t n_binds,
                                    const char *const *env)
{
    struct jail_context_config config = {
        .state_dir = state, .max_jails = 2, .binds = binds, .n_binds = n_binds, .env = env};
    struct jail_context *ctx = NULL;
    char err[512];
    if (jail_context_new(&config, &ctx, err, sizeof(err)) != 0)
        fail_msg("jail_context_new: %s", err);
    return ctx;
}

static void test_binds_and_env_reach_every_jail_read_only(void **unused)
{
    (void)unused;
    char wheels[128];
    snprintf(wheels, sizeof(wheels), "%s/wheels", dir);
    struct jail_bind binds[] = {{.src = wheels, .dst = "/opt/wheels"}};
    const char *env[] = {"PIP_FIND_LINKS=/opt/wheels", "LANG=C", NULL};
    struct jail_context *ctx = context(binds, 1, env);
    const char *argv[] = {"/bin/sh", "-c",
                          "cat /opt/wheels/tiny-1.0.whl; echo $PIP_FIND_LINKS $LANG $HOME; "
                          "touch /opt/wheels/new 2>/dev/null || echo read-only",
                          NULL};
    /* The job's own variables still win over the operator's. */
    const char *job_env[] = {"LANG=C.UTF-8", NULL};
    struct jail_spec spec = {.argv = argv, .env = job_env};
    jail_limits_default(&spec.limits);
    struct jail_outcome out;
    jail_run(ctx, &spec, &out);
    assert_int_equal(out.status, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "wheel\n/opt/wheels C.UTF-8 /work\nread-only\n");
    jail_outcome_free(&out);
    jail_context_free(ctx);
}

static void test_binds_and_env_change_the_policy_hash(void **unused)
{
    (void)unused;
    char wheels[128], hashes[4][65];
    snprintf(wheels, sizeof(wheels), "%s/wheels", dir);
    struct jail_bind at_opt[] = {{.src = wheels, .dst = "/opt/wheels"}};
    struct jail_bind at_srv[] = {{.src = wheels, .dst = "/srv/wheels"}};
    const char *env[] = {"PIP_FIND_LINKS=/opt/wheels", NULL};
    struct {
        const struct jail_bind *binds;
        size_t n;
        const char *const *env;
    } cases[] = {{NULL, 0, NULL}, {at_opt, 1, NULL}, {at_srv, 1, NULL}, {at_opt, 1, env}};
    for (size_t i = 0; i < 4; i++) {
        struct jail_context *ctx = context(cases[i].binds, cases[i].n, cases[i].env);
        snprintf(hashes[i], sizeof(hashes[i]), "%s", jail_policy_hash(ctx));
        assert_int_equal(strlen(hashes[i]), 64);
        jail_context_free(ctx);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(hashes[i], hashes[j]);
    }
    struct jail_context *again = context(at_opt, 1, NULL);
    assert_string_equal(jail_policy_hash(again), hashes[1]);
    jail_context_free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_binds_are_refused_naming_the_path),
        cmocka_unit_test(test_a_bad_bind_stops_the_context),
        cmocka_unit_test(test_binds_and_env_reach_every_jail_read_only),
        cmocka_unit_test(test_binds_and_env_change_the_policy_hash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
