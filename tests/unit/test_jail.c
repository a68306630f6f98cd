/* The jail, for real: every outcome from an actual jail_run and what the
 * job can see of the host. Needs root, user namespaces and cgroups. */
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

/* ---- outcomes ---- */

static void test_true_is_ok(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/true", NULL};
    struct jail_spec spec = spec_for(argv);
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_int_equal(out.exit_code, 0);
    assert_true(out.wall_us > 0);
    assert_non_null(out.out.data);
    assert_int_equal(out.out.len, 0);
    jail_outcome_free(&out);
}

static void test_exit_code_is_failed(void **state)
{
    (void)state;
    struct jail_outcome out = run_sh("exit 3");
    assert_status(&out, BRIG_STATUS_FAILED);
    assert_int_equal(out.exit_code, 3);
    jail_outcome_free(&out);
}

static void test_own_signal_is_signaled(void **state)
{
    (void)state;
    struct jail_outcome out = run_sh("kill -SEGV $$");
    assert_status(&out, BRIG_STATUS_SIGNALED);
    assert_int_equal(out.signal, SIGSEGV);
    jail_outcome_free(&out);
}

static void test_wall_clock_limit(void **state)
{
    (void)state;
    const char *argv[] = {"sleep", "10", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.wall_ms = 500;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_TIMEOUT);
    assert_true(out.wall_us >= 500000);
    assert_true(out.wall_us < 9000000);
    jail_outcome_free(&out);
}

/* A cancel descriptor that is already readable stops the job at once. */
static void test_cancel_stops_the_job(void **state)
{
    (void)state;
    const char *argv[] = {"sleep", "20", NULL};
    struct jail_spec spec = spec_for(argv);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    spec.cancel_fd = fds[0];
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_INTERNAL_ERROR);
    assert_true(out.cancelled);
    assert_int_equal(out.signal, SIGKILL);
    assert_true(out.wall_us < 15000000);
    jail_outcome_free(&out);
    close(fds[0]);
    close(fds[1]);
}

static void test_cpu_limit(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c", "while :; do :; done", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.cpu_ms = 300;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_CPU_TIMEOUT);
    assert_true(out.cpu_us >= 300000);
    jail_outcome_free(&out);
}

static void test_memory_limit_is_oom(void **state)
{
    (void)state;
    const char *argv[] = {"/usr/bin/python3", "-c", "x = bytearray(512 << 20)", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.memory_bytes = 64 * MIB;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OOM);
    jail_outcome_free(&out);
}

static void test_output_limit(void **state)
{
    (void)state;
    const char *argv[] = {"yes", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.output_bytes = 64 * 1024;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OUTPUT_LIMIT);
    assert_int_equal(out.out.len + out.err.len, 64 * 1024);
    assert_true(out.out.truncated);
    assert_int_equal(strlen(out.out.data), out.out.len);
    assert_memory_equal(out.out.data, "y\ny\ny\n", 6);
    jail_outcome_free(&out);
}

static void test_forbidden_syscall_is_named(void **state)
{
    (void)state;
    const char *argv[] = {"unshare", "-U", "true", NULL};
    struct jail_spec spec = spec_for(argv);
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_SECCOMP);
    assert_int_equal(out.signal, SIGSYS);
    assert_string_equal(out.syscall, "unshare");
    jail_outcome_free(&out);
}

static void test_missing_program_fails_like_a_shell(void **state)
{
    (void)state;
    const char *argv[] = {"no-such-program", NULL};
    struct jail_spec spec = spec_for(argv);
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_FAILED);
    assert_int_equal(out.exit_code, 127);
    assert_non_null(strstr(out.err.data, "no-such-program: No such file or directory"));
    jail_outcome_free(&out);
}

static void test_bind_of_missing_source_is_setup_error(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/true", NULL};
    struct jail_bind bind = {.src = "/nonexistent/brig-test", .dst = "/data"};
    struct jail_spec spec = spec_for(argv);
    spec.binds = &bind;
    spec.n_binds = 1;
    struct jail_outcome out;
    assert_int_equal(jail_run(ctx, &spec, &out), -1);
    assert_status(&out, BRIG_STATUS_SETUP_ERROR);
    assert_string_equal(out.message,
                        "bind /nonexistent/brig-test on /data: No such file or directory");
    jail_outcome_free(&out);
}

static void test_bad_spec_names_the_field(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/true", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.limits.memory_bytes = 0;
    struct jail_outcome out;
    assert_int_equal(jail_run(ctx, &spec, &out), -1);
    assert_status(&out, BRIG_STATUS_SETUP_ERROR);
    assert_non_null(strstr(out.message, "limits.memory_bytes"));
    jail_outcome_free(&out);

    const char *empty[] = {NULL};
    spec = spec_for(empty);
    assert_int_equal(jail_run(ctx, &spec, &out), -1);
    assert_non_null(strstr(out.message, "argv"));
    jail_outcome_free(&out);

    struct jail_bind escape = {.src = "/usr", .dst = "/work/../etc"};
    spec = spec_for(argv);
    spec.binds = &escape;
    spec.n_binds = 1;
    assert_int_equal(jail_run(ctx, &spec, &out), -1);
    assert_non_null(strstr(out.message, "binds[0].dst"));
    jail_outcome_free(&out);
}

/* ---- what the job sees ---- */

static void test_identity_inside(void **state)
{
    (void)state;
    struct jail_outcome out = run_sh("id -u; id -g; cat /proc/self/uid_map; hostname; "
                                     "cat /proc/1/cmdline 2>/dev/null && echo init-visible; true");
    assert_status(&out, BRIG_STATUS_OK);
    unsigned uid, gid, inside, outside, count;
    char hostname[256], host_hostname[256];
    assert_int_equal(sscanf(out.out.data, "%u %u %u %u %u %255s", &uid, &gid, &inside, &outside,
                            &count, hostname),
                     6);
    assert_int_equal(uid, 1000);
    assert_int_equal(gid, 1000);
    assert_int_equal(inside, 1000);
    assert_int_equal(count, 1);
    assert_true(outside >= JAIL_UID_FIRST && outside < JAIL_UID_END);
    assert_int_equal(gethostname(host_hostname, sizeof(host_hostname)), 0);
    assert_string_equal(hostname, "brig");
    assert_string_not_equal(hostname, host_hostname);
    /* Init, whose memory and command line are the worker's, is hidden. */
    assert_null(strstr(out.out.data, "init-visible"));
    jail_outcome_free(&out);
}

static void test_no_capabilities_and_no_new_privs(void **state)
{
    (void)state;
    struct jail_outcome out = run_sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs"
                                     "|Seccomp):' /proc/self/status");
    assert_status(&out, BRIG_STATUS_OK);
    assert_non_null(strstr(out.out.data, "CapPrm:\t0000000000000000"));
    assert_non_null(strstr(out.out.data, "CapEff:\t0000000000000000"));
    assert_non_null(strstr(out.out.data, "CapBnd:\t0000000000000000"));
    assert_non_null(strstr(out.out.data, "CapAmb:\t0000000000000000"));
    assert_non_null(strstr(out.out.data, "NoNewPrivs:\t1"));
    assert_non_null(strstr(out.out.data, "Seccomp:\t2"));
    jail_outcome_free(&out);
}

static void test_only_loopback(void **state)
{
    (void)state;
    /* Interface names are the lines of /proc/net/dev after the two headers. */
    struct jail_outcome out = run_sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "lo\n");
    jail_outcome_free(&out);
}

static void test_work_is_writable_and_usr_is_not(void **state)
{
    (void)state;
    struct jail_outcome out =
        run_sh("echo hi > /work/f && cat /work/f && echo hi > /tmp/t && cat /tmp/t; "
               "touch /usr/brig-test 2>/dev/null && echo usr-writable; "
               "touch /brig-test 2>/dev/null && echo root-writable; "
               "ls /etc/shadow 2>/dev/null; pwd");
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "hi\nhi\n/work\n");
    jail_outcome_free(&out);
}

static void test_environment_is_clean(void **state)
{
    (void)state;
    setenv("BRIG_TEST_HOST_SECRET", "leaked", 1);
    const char *argv[] = {"/usr/bin/env", NULL};
    const char *env[] = {"FOO=bar", "LANG=en_US.UTF-8", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.env = env;
    struct jail_outcome out = run_spec(&spec);
    unsetenv("BRIG_TEST_HOST_SECRET");
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data,
                        "PATH=/usr/local/bin:/usr/bin:/bin\nHOME=/work\nLANG=en_US.UTF-8\n"
                        "MPLBACKEND=Agg\nMPLCONFIGDIR=/tmp/matplotlib\n"
                        "XDG_CACHE_HOME=/tmp/.cache\nFOO=bar\n");
    jail_outcome_free(&out);
}

static void test_stdin_reaches_the_program(void **state)
{
    (void)state;
    /* Larger than a pipe's buffer, so that feeding it takes the poll loop. */
    size_t len = 300 * 1024;
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)('a' + i % 26);
    const char *argv[] = {"/bin/sh", "-c", "cat; echo -n done >&2", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.stdin_data = data;
    spec.stdin_len = len;
    spec.limits.output_bytes = 1 * MIB;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_int_equal(out.out.len, len);
    assert_memory_equal(out.out.data, data, len);
    assert_string_equal(out.err.data, "done");
    jail_outcome_free(&out);
    free(data);
}

/* Programs reopen their stdio by name: shell redirections to /dev/stderr,
 * cat /dev/stdin, tee /dev/stderr, open("/dev/stdout", "w"). The names are
 * links to /proc/self/fd/N, and each opens in the direction the job has. */
static void test_stdio_reopens_by_name(void **state)
{
    (void)state;
    const char *argv[] = {"/bin/sh", "-c",
                          "for n in in out err; do readlink /dev/std$n >&2; done\n"
                          "echo to-stderr > /dev/stderr\n"
                          "cat /dev/stdin\n"
                          "echo through-tee | tee /dev/stderr\n"
                          "echo by-fd > /proc/self/fd/1\n"
                          "python3 -c 'open(\"/dev/stdout\", \"w\").write(\"python\\n\")'\n",
                          NULL};
    struct jail_spec spec = spec_for(argv);
    spec.stdin_data = "input\n";
    spec.stdin_len = 6;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.err.data, "/proc/self/fd/0\n/proc/self/fd/1\n/proc/self/fd/2\n"
                                      "to-stderr\nthrough-tee\n");
    assert_string_equal(out.out.data, "input\nthrough-tee\nby-fd\npython\n");
    jail_outcome_free(&out);
}

struct collected {
    char text[2][4096];
    size_t len[2];
    unsigned chunks;
};

static void collect_output(void *arg, enum jail_stream stream, const char *data, size_t len)
{
    struct collected *c = arg;
    int i = stream == JAIL_STDOUT ? 0 : 1;
    if (c->len[i] + len < sizeof(c->text[i])) {
        memcpy(c->text[i] + c->len[i], data, len);
        c->len[i] += len;
    }
    c->chunks++;
}

static void test_live_output_arrives_in_chunks(void **state)
{
    (void)state;
    struct collected c = {0};
    const char *argv[] = {"/bin/sh", "-c",
                          "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three", NULL};
    struct jail_spec spec = spec_for(argv);
    spec.on_output = collect_output;
    spec.output_ctx = &c;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_true(c.chunks >= 3);
    assert_int_equal(c.len[0], out.out.len);
    assert_memory_equal(c.text[0], "one\nthree\n", c.len[0]);
    assert_memory_equal(c.text[1], "two\n", c.len[1]);
    assert_string_equal(out.out.data, "one\nthree\n");
    assert_string_equal(out.err.data, "two\n");
    jail_outcome_free(&out);
}

static void *run_uid_map(void *arg)
{
    struct jail_outcome *out = arg;
    /* Long enough for both jails to be alive at once. */
    *out = run_sh("cat /proc/self/uid_map; sleep 0.5");
    return NULL;
}

static void test_concurrent_jails_get_different_uids(void **state)
{
    (void)state;
    pthread_t threads[2];
    struct jail_outcome outs[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, run_uid_map, &outs[i]), 0);
    unsigned host[2];
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        assert_status(&outs[i], BRIG_STATUS_OK);
        unsigned inside, count;
        assert_int_equal(sscanf(outs[i].out.data, "%u %u %u", &inside, &host[i], &count), 3);
        jail_outcome_free(&outs[i]);
    }
    assert_int_not_equal(host[0], host[1]);
}

static void test_extra_binds(void **state)
{
    (void)state;
    char dir[] = "/tmp/brig-test-bind.XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0777), 0);
    char file[64];
    snprintf(file, sizeof(file), "%s/hello", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    assert_int_equal(chmod(file, 0644), 0);

    struct jail_bind binds[] = {
        {.src = dir, .dst = "/data/ro"},
        {.src = dir, .dst = "/data/rw", .writable = true},
        {.src = file, .dst = "/etc/hello.conf"},
    };
    const char *argv[] = {"/bin/sh", "-c",
                          "cat /data/ro/hello /etc/hello.conf; "
                          "touch /data/ro/new 2>/dev/null || echo ro-refused; "
                          "touch /data/rw/new && echo rw-ok",
                          NULL};
    struct jail_spec spec = spec_for(argv);
    spec.binds = binds;
    spec.n_binds = 3;
    struct jail_outcome out = run_spec(&spec);
    assert_status(&out, BRIG_STATUS_OK);
    assert_string_equal(out.out.data, "hello\nhello\nro-refused\nrw-ok\n");
    jail_outcome_free(&out);

    snprintf(file, sizeof(file), "%s/new", dir);
    unlink(file);
    snprintf(file, sizeof(file), "%s/hello", dir);
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_true_is_ok),
        cmocka_unit_test(test_exit_code_is_failed),
        cmocka_unit_test(test_own_signal_is_signaled),
        cmocka_unit_test(test_wall_clock_limit),
        cmocka_unit_test(test_cancel_stops_the_job),
        cmocka_unit_test(test_cpu_limit),
        cmocka_unit_test(test_memory_limit_is_oom),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_forbidden_syscall_is_named),
        cmocka_unit_test(test_missing_program_fails_like_a_shell),
        cmocka_unit_test(test_bind_of_missing_source_is_setup_error),
        cmocka_unit_test(test_bad_spec_names_the_field),
        cmocka_unit_test(test_identity_inside),
        cmocka_unit_test(test_no_capabilities_and_no_new_privs),
        cmocka_unit_test(test_only_loopback),
        cmocka_unit_test(test_work_is_writable_and_usr_is_not),
        cmocka_unit_test(test_environment_is_clean),
        cmocka_unit_test(test_stdin_reaches_the_program),
        cmocka_unit_test(test_stdio_reopens_by_name),
        cmocka_unit_test(test_live_output_arrives_in_chunks),
        cmocka_unit_test(test_concurrent_jails_get_different_uids),
        cmocka_unit_test(test_extra_binds),
    };
    return cmocka_run_group_tests(tests, setup_context, teardown_context);
}
