/* The jail's seccomp policy, tried for real: every case forks a child that
 * sets no_new_privs, loads the policy and then makes one call or runs one
 * program; the parent checks how the child ended. Forbidden calls are made
 * with arguments that would do nothing harmful should the filter let them
 * through (the tests run as root, outside any jail). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp_compile.h"
#include "sandbox/seccomp_policy.h"
#include "tests/unit/seccomp_fixture.h"

#define X32_SYSCALL_BIT 0x40000000L
#define I386_GETPID 20L
#define HIGH_BITS (1UL << 32)

/* ---- single calls ---- */

enum expectation { KILLED, FAILS, SUCCEEDS };

struct call_case {
    long (*call)(void);
    enum expectation expect;
    int err; /* for FAILS */
};

static void test_call(void **state)
{
    const struct call_case *c = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        enter_filter();
        errno = 0;
        long result = c->call();
        switch (c->expect) {
        case KILLED:
            _exit(CHILD_UNEXPECTED_RESULT);
        case FAILS:
            _exit(result == -1 && errno == c->err ? CHILD_AS_EXPECTED : CHILD_UNEXPECTED_RESULT);
        case SUCCEEDS:
            _exit(result >= 0 ? CHILD_AS_EXPECTED : CHILD_UNEXPECTED_RESULT);
        }
        _exit(CHILD_SETUP_FAILED);
    }
    int status = wait_child(pid);
    if (c->expect == KILLED)
        assert_killed_by_sigsys("the child", status);
    else
        assert_exited_zero("the child", status);
}

static long unshare_user(void)
{
    return unshare(CLONE_NEWUSER);
}

static long setns_net(void)
{
    return setns(-1, CLONE_NEWNET);
}

/* CLONE_THREAD without CLONE_SIGHAND is invalid: unfiltered, the call fails
 * with EINVAL instead of making a process. */
static long clone_with(unsigned long namespace_flag)
{
    return syscall(SYS_clone, namespace_flag | CLONE_THREAD, 0, 0, 0, 0);
}

static long clone_newuser(void)
{
    return clone_with(CLONE_NEWUSER);
}

static long clone_newns(void)
{
    return clone_with(CLONE_NEWNS);
}

static long clone_newnet(void)
{
    return clone_with(CLONE_NEWNET);
}

static long clone_newpid(void)
{
    return clone_with(CLONE_NEWPID);
}

static long clone_newcgroup(void)
{
    return clone_with(CLONE_NEWCGROUP);
}

static long clone_newipc(void)
{
    return clone_with(CLONE_NEWIPC);
}

static long clone_newuts(void)
{
    return clone_with(CLONE_NEWUTS);
}

static long mount_tmpfs(void)
{
    return mount("none", "/nonexistent/brig-test", "tmpfs", 0, NULL);
}

static long fsopen_tmpfs(void)
{
    return syscall(SYS_fsopen, "tmpfs", 0);
}

static long chroot_missing(void)
{
    return chroot("/nonexistent/brig-test");
}

static long ptrace_traceme(void)
{
    return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static long process_vm_readv_parent(void)
{
    return syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0);
}

static long bpf_invalid(void)
{
    return syscall(SYS_bpf, -1, NULL, 0);
}

static long perf_event_open_null(void)
{
    return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}

static long userfaultfd_plain(void)
{
    return syscall(SYS_userfaultfd, 0);
}

static long io_uring_enter_bad_fd(void)
{
    return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
}

static long keyctl_session(void)
{
    return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
}

static long finit_module_bad_fd(void)
{
    return syscall(SYS_finit_module, -1, "", 0);
}

/* No time given: unfiltered, this changes nothing. */
static long settimeofday_nothing(void)
{
    return syscall(SYS_settimeofday, NULL, NULL);
}

/* Longer than any host name: unfiltered, EINVAL. */
static long sethostname_too_long(void)
{
    return syscall(SYS_sethostname, "x", 100000);
}

static long syslog_size(void)
{
    return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
}

static long open_by_handle_bad_fd(void)
{
    return syscall(SYS_open_by_handle_at, -1, NULL, O_RDONLY);
}

static long iopl_zero(void)
{
    return syscall(SYS_iopl, 0);
}

static long personality_no_aslr(void)
{
    return personality(PER_LINUX | ADDR_NO_RANDOMIZE);
}

static long personality_query(void)
{
    return personality(0xffffffff);
}

/* The i386 entry point: a different audit arch, with different numbers. */
static long i386_getpid(void)
{
    long result;
    __asm__ volatile("int $0x80"
                     : "=a"(result)
                     : "a"(I386_GETPID)
                     : "memory", "r8", "r9", "r10", "r11");
    return result;
}

/* The x32 entry point: the x86_64 audit arch with bit 30 set in the number. */
static long x32_getpid(void)
{
    return syscall(X32_SYSCALL_BIT | SYS_getpid);
}

/* fd -1: unfiltered, every terminal ioctl fails with EBADF. */
static long ioctl_tiocsti(void)
{
    char c = '#';
    return syscall(SYS_ioctl, -1, (unsigned long)TIOCSTI, &c);
}

/* The kernel reads the request as 32 bits, so this is TIOCSTI too
 * (CVE-2019-10063 slipped through a 64-bit comparison). */
static long ioctl_tiocsti_high_bits(void)
{
    char c = '#';
    return syscall(SYS_ioctl, -1, HIGH_BITS | TIOCSTI, &c);
}

static long ioctl_tiocsti_all_high_bits(void)
{
    char c = '#';
    return syscall(SYS_ioctl, -1, 0xffffffff00000000UL | TIOCSTI, &c);
}

static long ioctl_tioclinux(void)
{
    char c = 0;
    return syscall(SYS_ioctl, -1, HIGH_BITS | TIOCLINUX, &c);
}

static long socket_packet(void)
{
    return socket(AF_PACKET, SOCK_RAW, 0);
}

static long socket_alg(void)
{
    return socket(AF_ALG, SOCK_SEQPACKET, 0);
}

static long socket_vsock(void)
{
    return socket(AF_VSOCK, SOCK_STREAM, 0);
}

static long socket_key(void)
{
    return socket(AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */);
}

static long socket_raw_inet(void)
{
    return socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
}

static long socket_raw_inet6(void)
{
    return socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
}

static long socket_netfilter(void)
{
    return socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
}

static long socket_sctp(void)
{
    return socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
}

/* The family is an int: high bits must not turn a refused family into an
 * allowed one, nor the other way round. */
static long socket_packet_high_bits(void)
{
    return syscall(SYS_socket, HIGH_BITS | AF_PACKET, SOCK_RAW, 0);
}

static long socket_inet_stream_high_bits(void)
{
    return syscall(SYS_socket, HIGH_BITS | AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static const struct sock_filter allow_everything[] = {
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static long seccomp_listener(void)
{
    struct sock_fprog prog = {1, (struct sock_filter *)allow_everything};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* Stacking a filter of one's own is allowed: ours stays in force. */
static long seccomp_stack_filter(void)
{
    struct sock_fprog prog = {1, (struct sock_filter *)allow_everything};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static long lookup_dcookie_obsolete(void)
{
    return syscall(SYS_lookup_dcookie, 0, NULL, 0);
}

/* size 0 is invalid: unfiltered, EINVAL rather than a new process. */
static long clone3_probe(void)
{
    struct clone_args args = {.exit_signal = SIGCHLD};
    return syscall(SYS_clone3, &args, 0);
}

static long io_uring_setup_probe(void)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    return syscall(SYS_io_uring_setup, 8, &params);
}

/* modes 0 only reads the clock state. */
static long adjtimex_read(void)
{
    struct timex tx = {.modes = 0};
    return adjtimex(&tx);
}

static long clock_adjtime_read(void)
{
    struct timex tx = {.modes = 0};
    return syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
}

static long ioctl_fionread_pipe(unsigned long request)
{
    int fds[2];
    int pending = -1;
    if (pipe(fds) != 0 || write(fds[1], "abc", 3) != 3)
        return -1;
    long result = syscall(SYS_ioctl, fds[0], request, &pending);
    return result == 0 && pending == 3 ? 0 : -1;
}

static long ioctl_fionread(void)
{
    return ioctl_fionread_pipe(FIONREAD);
}

/* The guard compares the low half only, but must not kill other requests
 * that carry high bits. */
static long ioctl_fionread_high_bits(void)
{
    return ioctl_fionread_pipe(HIGH_BITS | FIONREAD);
}

static long socket_inet_stream(void)
{
    return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
}

static long socket_inet6_dgram(void)
{
    return socket(AF_INET6, SOCK_DGRAM, 0);
}

static long socket_unix(void)
{
    return socket(AF_UNIX, SOCK_SEQPACKET, 0);
}

static long socket_netlink_route(void)
{
    return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

static long socketpair_unix(void)
{
    int fds[2];
    return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
}

static void *thread_main(void *arg)
{
    return arg;
}

/* glibc tries clone3 first and falls back to clone on ENOSYS. */
static long thread_create(void)
{
    pthread_t thread;
    void *back = NULL;
    if (pthread_create(&thread, NULL, thread_main, &back) != 0 || pthread_join(thread, &back) != 0)
        return -1;
    return back != NULL ? 0 : -1;
}

static long fork_and_wait(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
}

static long exec_true(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static long mmap_executable(void)
{
    void *p =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -1 : 0;
}

static long memfd(void)
{
    return memfd_create("brig-test", MFD_CLOEXEC);
}

/* ---- the rest of the interface ---- */

static void test_syscall_names(void **state)
{
    (void)state;
    assert_string_equal(seccomp_syscall_name(SYS_getpid), "getpid");
    assert_string_equal(seccomp_syscall_name(SYS_io_uring_setup), "io_uring_setup");
    assert_string_equal(seccomp_syscall_name(SYS_read), "read");
    assert_ptr_equal(seccomp_syscall_name(SYS_unshare), seccomp_syscall_name(SYS_unshare));
    assert_null(seccomp_syscall_name(-1));
    assert_null(seccomp_syscall_name(X32_SYSCALL_BIT | SYS_getpid));
    assert_null(seccomp_syscall_name(100000));
}

/* The program is hashed into every audit record: building it twice must give
 * the same bytes. */
/* The program built into brig (seccomp_program.h, generated at build time)
 * is what the rules compile to now: the generated header is never stale. */
static void test_builtin_program_is_what_the_rules_compile_to(void **state)
{
    (void)state;
    size_t len;
    const void *program = seccomp_policy_program(policy, &len);
    assert_non_null(program);
    assert_true(len > 0);
    assert_int_equal(len % sizeof(struct sock_filter), 0);

    struct sock_filter *compiled;
    size_t count, first_len;
    char err[256];
    assert_int_equal(seccomp_compile(&compiled, &count, &first_len, err, sizeof(err)), 0);
    assert_int_equal(count * sizeof(struct sock_filter), len);
    assert_memory_equal(compiled, program, len);
    const struct sock_fprog *filters;
    assert_int_equal(seccomp_policy_filters(policy, &filters), 2);
    assert_int_equal(filters[0].len, first_len);
    assert_int_equal(filters[1].len, count - first_len);
    free(compiled);
}

#define CALL_TEST(fn, expect, err)                                                                 \
    {                                                                                              \
#fn, test_call, NULL, NULL, &(struct call_case)                                            \
        {                                                                                          \
            fn, expect, err                                                                        \
        }                                                                                          \
    }
#define KILLED_BY(fn) CALL_TEST(fn, KILLED, 0)
#define FAILS_WITH(fn, err) CALL_TEST(fn, FAILS, err)
#define WORKS(fn) CALL_TEST(fn, SUCCEEDS, 0)

int main(void)
{
    const struct CMUnitTest calls[] = {
        KILLED_BY(unshare_user),
        KILLED_BY(setns_net),
        KILLED_BY(clone_newuser),
        KILLED_BY(clone_newns),
        KILLED_BY(clone_newnet),
        KILLED_BY(clone_newpid),
        KILLED_BY(clone_newcgroup),
        KILLED_BY(clone_newipc),
        KILLED_BY(clone_newuts),
        KILLED_BY(mount_tmpfs),
        KILLED_BY(fsopen_tmpfs),
        KILLED_BY(chroot_missing),
        KILLED_BY(ptrace_traceme),
        KILLED_BY(process_vm_readv_parent),
        KILLED_BY(bpf_invalid),
        KILLED_BY(perf_event_open_null),
        KILLED_BY(userfaultfd_plain),
        KILLED_BY(io_uring_enter_bad_fd),
        KILLED_BY(keyctl_session),
        KILLED_BY(finit_module_bad_fd),
        KILLED_BY(settimeofday_nothing),
        KILLED_BY(sethostname_too_long),
        KILLED_BY(syslog_size),
        KILLED_BY(open_by_handle_bad_fd),
        KILLED_BY(iopl_zero),
        KILLED_BY(lookup_dcookie_obsolete),
        KILLED_BY(personality_no_aslr),
        KILLED_BY(i386_getpid),
        KILLED_BY(x32_getpid),
        KILLED_BY(ioctl_tiocsti),
        KILLED_BY(ioctl_tiocsti_high_bits),
        KILLED_BY(ioctl_tiocsti_all_high_bits),
        KILLED_BY(ioctl_tioclinux),
        KILLED_BY(socket_packet),
        KILLED_BY(socket_packet_high_bits),
        KILLED_BY(socket_alg),
        KILLED_BY(socket_vsock),
        KILLED_BY(socket_key),
        KILLED_BY(socket_raw_inet),
        KILLED_BY(socket_raw_inet6),
        KILLED_BY(socket_netfilter),
        KILLED_BY(socket_sctp),
        KILLED_BY(seccomp_listener),
        FAILS_WITH(clone3_probe, ENOSYS),
        FAILS_WITH(io_uring_setup_probe, ENOSYS),
        FAILS_WITH(adjtimex_read, EPERM),
        FAILS_WITH(clock_adjtime_read, EPERM),
        WORKS(ioctl_fionread),
        WORKS(ioctl_fionread_high_bits),
        WORKS(socket_inet_stream),
        WORKS(socket_inet_stream_high_bits),
        WORKS(socket_inet6_dgram),
        WORKS(socket_unix),
        WORKS(socket_netlink_route),
        WORKS(socketpair_unix),
        WORKS(personality_query),
        WORKS(seccomp_stack_filter),
        WORKS(thread_create),
        WORKS(fork_and_wait),
        WORKS(exec_true),
        WORKS(mmap_executable),
        WORKS(memfd),
        cmocka_unit_test(test_syscall_names),
        cmocka_unit_test(test_builtin_program_is_what_the_rules_compile_to),
    };
    return cmocka_run_group_tests_name("seccomp calls", calls, build_policy, free_policy) != 0;
}