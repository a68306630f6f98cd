/* The jail's system call policy.
 *
 * An allow-list whose default action is KILL_PROCESS. A deny-list goes stale
 * with every kernel release (each new call is allowed until someone notices);
 * here a call nobody listed, including every call added to future kernels,
 * kills the job, and the jail reports the outcome as `seccomp` with the name
 * of the call, which an agent can act upon far better than an ENOSYS surfacing
 * deep inside a library. The list is what python3 (threads, subprocess,
 * multiprocessing, mmap, fork), node 20, tsc, bash, coreutils and gcc (cc1, as,
 * collect2, ld) were seen to use under `strace -f`, plus the calls of their
 * families that do nothing beyond the job's own processes and files (the
 * Docker default profile minus what needs a capability). Each is exercised
 * under this filter by tests/unit/test_seccomp.c.
 *
 * Probes fail politely instead of killing, where real programs try a call and
 * fall back when it fails:
 *   clone3          ENOSYS. Its flags live in memory that seccomp cannot read.
 *                   glibc (pthread_create, posix_spawn) then falls back to
 *                   clone, whose flags are checked below. Docker does the same.
 *   io_uring_setup  ENOSYS. libuv in node 20 uses io_uring when asked to
 *                   (UV_USE_IO_URING=1, which a job may set) and falls back to
 *                   its thread pool on failure; a kill would end every such
 *                   node job. io_uring is a large, bug-rich kernel surface, so
 *                   it stays refused; io_uring_enter and io_uring_register need
 *                   a ring that can therefore never exist, and are killed.
 *   adjtimex,       EPERM. Reading the clock discipline (ntp_gettime(3), which
 *   clock_adjtime   glibc implements with clock_adjtime) is a legitimate probe;
 *                   changing it needs CAP_SYS_TIME in the initial namespace,
 *                   so EPERM is what the kernel itself would answer.
 *
 * Killed because they are not listed, by class (the reason they stay out):
 *   namespaces      unshare, setns, clone with any CLONE_NEW* flag: a new
 *                   user namespace hands the job every capability over
 *                   namespaces of its own, which is how most recent escapes
 *                   reach netfilter, extra filesystems and similar kernel code.
 *   mounts          mount, umount2, pivot_root, chroot, move_mount, open_tree,
 *                   fsopen, fsconfig, fsmount, fspick, mount_setattr.
 *   other processes ptrace, process_vm_readv/writev, process_madvise, kcmp,
 *                   pidfd_getfd, move_pages, migrate_pages.
 *   kernel surface  bpf, perf_event_open, userfaultfd, io_uring_enter/register,
 *                   keyctl, add_key, request_key, fanotify_init, memfd_secret.
 *   host state      reboot, kexec_load, kexec_file_load, init_module,
 *                   finit_module, delete_module, swapon, swapoff, acct,
 *                   settimeofday, clock_settime, syslog, vhangup, quotactl,
 *                   quotactl_fd, sethostname and setdomainname (harmless in the
 *                   jail's UTS namespace, yet no job needs them).
 *   file handles    open_by_handle_at (the "shocker" container escape),
 *                   name_to_handle_at.
 *   hardware        iopl, ioperm, modify_ldt.
 *   obsolete        uselib, ustat, sysfs, _sysctl, nfsservctl, lookup_dcookie.
 *
 * Allowed only with some arguments; any other value falls to the default kill:
 *   clone        no CLONE_NEW* flag (CLONE_NEWTIME cannot be passed to clone:
 *                that bit belongs to the exit signal there).
 *   socket       AF_UNIX; AF_INET and AF_INET6 streams (protocol 0 or TCP) and
 *                datagrams (0 or UDP); AF_NETLINK with NETLINK_ROUTE only,
 *                which glibc's getaddrinfo (AI_ADDRCONFIG) and getifaddrs use,
 *                behind node's dns.lookup and os.networkInterfaces. Raw and
 *                packet sockets, AF_PACKET, AF_ALG, AF_VSOCK, AF_KEY, the
 *                other netlink protocols (netfilter and xfrm are where
 *                CVE-2022-1015 and CVE-2024-1086 live) and every rarer family
 *                (each a module the kernel would load on demand) are killed.
 *   socketpair   AF_UNIX.
 *   personality  Docker's values: PER_LINUX, PER_LINUX32, UNAME26, the last two
 *                together, and the 0xffffffff query. Turning off address space
 *                randomisation or mapping page zero is killed.
 *   seccomp      a job may stack a stricter filter of its own (the kernel runs
 *                every filter and keeps the most restrictive verdict, so this
 *                one stays in force) or ask which actions exist; user
 *                notification listeners are killed, nothing here uses them.
 *
 * Arguments the kernel reads as int are compared on their low 32 bits only
 * (SCMP_CMP_MASKED_EQ with 0xffffffff): the kernel ignores the upper half, so
 * a full 64-bit comparison would let 0x100005412 through as TIOCSTI
 * (CVE-2019-10063). Rules for one call must not overlap in libseccomp (the
 * broader rule silently wins), and "any value but these two" of a masked
 * argument is no single comparison. So ioctl is allowed whole by the allow-list
 * and a second filter, the argument guard (default ALLOW), kills TIOCSTI,
 * which types into the terminal of whoever reads it, and TIOCLINUX (console
 * selection and paste). The kernel evaluates both stacked filters.
 *
 * Other ABIs: an x86_64 process can still enter the kernel through int 0x80
 * (i386 numbers, a different audit arch) and with the x32 bit set in the
 * syscall number (nr | 0x40000000, same audit arch). Both filters are built
 * for the native arch alone; every other arch, and x32 numbers, which
 * libseccomp's x86_64 filter treats as a foreign arch, take the bad-arch
 * action, KILL_PROCESS. */
#include "sandbox/seccomp_rules.h"
#include "common/common.h"

#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>

#define CLONE_NAMESPACE_FLAGS                                                                      \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |  \
     CLONE_NEWNET)

/* socket(2) accepts SOCK_NONBLOCK and SOCK_CLOEXEC above the type. */
#define SOCKET_TYPE_MASK 0xf

#define PERSONALITY_QUERY 0xffffffffu

struct argument_rule {
    int syscall;
    uint32_t action;
    unsigned int arg_count;
    struct scmp_arg_cmp args[3];
};

/* One group of calls per line reads better than what clang-format makes of these. */
/* clang-format off */
#define LOW32_EQ(arg, value) {(arg), SCMP_CMP_MASKED_EQ, 0xffffffffu, (value)}
#define BITS_CLEAR(arg, bits) {(arg), SCMP_CMP_MASKED_EQ, (bits), 0}
#define INET_SOCKET(family, type, protocol) \
    {SCMP_SYS(socket), SCMP_ACT_ALLOW, 3, {LOW32_EQ(0, family), \
        {1, SCMP_CMP_MASKED_EQ, SOCKET_TYPE_MASK, type}, LOW32_EQ(2, protocol)}}
#define NO_ARGS {{0}}

static const int allowed_syscalls[] = {
    /* files and descriptors */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
    SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2), SCMP_SYS(pwritev2),
    SCMP_SYS(lseek), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(creat),
    SCMP_SYS(close), SCMP_SYS(close_range), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
    SCMP_SYS(pipe), SCMP_SYS(pipe2), SCMP_SYS(fcntl), SCMP_SYS(flock), SCMP_SYS(ioctl),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(sync), SCMP_SYS(syncfs),
    SCMP_SYS(sync_file_range), SCMP_SYS(truncate), SCMP_SYS(ftruncate), SCMP_SYS(fallocate),
    SCMP_SYS(fadvise64), SCMP_SYS(readahead), SCMP_SYS(sendfile), SCMP_SYS(splice), SCMP_SYS(tee),
    SCMP_SYS(vmsplice), SCMP_SYS(copy_file_range), SCMP_SYS(stat), SCMP_SYS(fstat), SCMP_SYS(lstat),
    SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(statfs), SCMP_SYS(fstatfs), SCMP_SYS(access),
    SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(getcwd), SCMP_SYS(chdir), SCMP_SYS(fchdir),
    SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(rmdir), SCMP_SYS(rename), SCMP_SYS(renameat),
    SCMP_SYS(renameat2), SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
    SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(readlink), SCMP_SYS(readlinkat),
    SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chown), SCMP_SYS(fchown),
    SCMP_SYS(fchownat), SCMP_SYS(lchown), SCMP_SYS(umask), SCMP_SYS(utime), SCMP_SYS(utimes),
    SCMP_SYS(utimensat), SCMP_SYS(futimesat), SCMP_SYS(mknod), SCMP_SYS(mknodat),
    SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(getxattr), SCMP_SYS(lgetxattr),
    SCMP_SYS(fgetxattr), SCMP_SYS(listxattr), SCMP_SYS(llistxattr), SCMP_SYS(flistxattr),
    SCMP_SYS(setxattr), SCMP_SYS(lsetxattr), SCMP_SYS(fsetxattr), SCMP_SYS(removexattr),
    SCMP_SYS(lremovexattr), SCMP_SYS(fremovexattr), SCMP_SYS(inotify_init), SCMP_SYS(inotify_init1),
    SCMP_SYS(inotify_add_watch), SCMP_SYS(inotify_rm_watch), SCMP_SYS(memfd_create),
    /* waiting for events */
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6), SCMP_SYS(epoll_create),
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_pwait2), SCMP_SYS(eventfd), SCMP_SYS(eventfd2), SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime), SCMP_SYS(io_setup), SCMP_SYS(io_destroy),
    SCMP_SYS(io_submit), SCMP_SYS(io_cancel), SCMP_SYS(io_getevents), SCMP_SYS(io_pgetevents),
    /* memory */
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap),
    SCMP_SYS(madvise), SCMP_SYS(mincore), SCMP_SYS(msync), SCMP_SYS(mlock), SCMP_SYS(mlock2),
    SCMP_SYS(munlock), SCMP_SYS(mlockall), SCMP_SYS(munlockall), SCMP_SYS(membarrier),
    SCMP_SYS(pkey_alloc), SCMP_SYS(pkey_free), SCMP_SYS(pkey_mprotect), SCMP_SYS(mbind),
    SCMP_SYS(set_mempolicy), SCMP_SYS(get_mempolicy), SCMP_SYS(set_mempolicy_home_node),
    /* processes and threads */
    SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(exit),
    SCMP_SYS(exit_group), SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(kill), SCMP_SYS(tkill),
    SCMP_SYS(tgkill), SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(getpid),
    SCMP_SYS(getppid), SCMP_SYS(gettid), SCMP_SYS(getpgid), SCMP_SYS(getpgrp), SCMP_SYS(getsid),
    SCMP_SYS(setpgid), SCMP_SYS(setsid), SCMP_SYS(set_tid_address), SCMP_SYS(set_robust_list),
    SCMP_SYS(get_robust_list), SCMP_SYS(futex), SCMP_SYS(futex_waitv), SCMP_SYS(rseq),
    SCMP_SYS(arch_prctl), SCMP_SYS(prctl), SCMP_SYS(capget), SCMP_SYS(capset),
    SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self),
    /* credentials: the kernel refuses every change the job has no capability for */
    SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid),
    SCMP_SYS(getresgid), SCMP_SYS(getgroups), SCMP_SYS(setuid), SCMP_SYS(setgid),
    SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
    SCMP_SYS(setfsuid), SCMP_SYS(setfsgid), SCMP_SYS(setgroups),
    /* scheduling and resources, bounded by rlimits and cgroups */
    SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_setaffinity),
    SCMP_SYS(sched_getparam), SCMP_SYS(sched_setparam), SCMP_SYS(sched_getscheduler),
    SCMP_SYS(sched_setscheduler), SCMP_SYS(sched_get_priority_max),
    SCMP_SYS(sched_get_priority_min), SCMP_SYS(sched_rr_get_interval), SCMP_SYS(sched_getattr),
    SCMP_SYS(sched_setattr), SCMP_SYS(getpriority), SCMP_SYS(setpriority), SCMP_SYS(ioprio_get),
    SCMP_SYS(ioprio_set), SCMP_SYS(getrlimit), SCMP_SYS(setrlimit),
    SCMP_SYS(getrusage), SCMP_SYS(times), SCMP_SYS(sysinfo), SCMP_SYS(uname), SCMP_SYS(getcpu),
    SCMP_SYS(getrandom),
    /* signals */
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigpending), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigsuspend),
    SCMP_SYS(rt_sigqueueinfo), SCMP_SYS(rt_tgsigqueueinfo), SCMP_SYS(sigaltstack), SCMP_SYS(pause),
    SCMP_SYS(restart_syscall), SCMP_SYS(signalfd), SCMP_SYS(signalfd4),
    /* time (reading it, and timers) */
    SCMP_SYS(time), SCMP_SYS(gettimeofday), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
    SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(alarm), SCMP_SYS(getitimer),
    SCMP_SYS(setitimer), SCMP_SYS(timer_create), SCMP_SYS(timer_settime), SCMP_SYS(timer_gettime),
    SCMP_SYS(timer_getoverrun), SCMP_SYS(timer_delete),
    /* System V and POSIX IPC, private to the jail's IPC namespace */
    SCMP_SYS(shmget), SCMP_SYS(shmat), SCMP_SYS(shmdt), SCMP_SYS(shmctl), SCMP_SYS(semget),
    SCMP_SYS(semop), SCMP_SYS(semtimedop), SCMP_SYS(semctl), SCMP_SYS(msgget), SCMP_SYS(msgsnd),
    SCMP_SYS(msgrcv), SCMP_SYS(msgctl), SCMP_SYS(mq_open), SCMP_SYS(mq_unlink),
    SCMP_SYS(mq_timedsend), SCMP_SYS(mq_timedreceive), SCMP_SYS(mq_notify), SCMP_SYS(mq_getsetattr),
    /* sockets once made (socket itself is checked below) */
    SCMP_SYS(bind), SCMP_SYS(connect), SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
    SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
    SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg),
    SCMP_SYS(recvmmsg), SCMP_SYS(shutdown),
};

static const struct argument_rule allowlist_rules[] = {
    {SCMP_SYS(clone), SCMP_ACT_ALLOW, 1, {BITS_CLEAR(0, CLONE_NAMESPACE_FLAGS)}},
    {SCMP_SYS(clone3), SCMP_ACT_ERRNO(ENOSYS), 0, NO_ARGS},
    {SCMP_SYS(io_uring_setup), SCMP_ACT_ERRNO(ENOSYS), 0, NO_ARGS},
    {SCMP_SYS(adjtimex), SCMP_ACT_ERRNO(EPERM), 0, NO_ARGS},
    {SCMP_SYS(clock_adjtime), SCMP_ACT_ERRNO(EPERM), 0, NO_ARGS},

    {SCMP_SYS(socket), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, AF_UNIX)}},
    INET_SOCKET(AF_INET, SOCK_STREAM, 0), INET_SOCKET(AF_INET, SOCK_STREAM, IPPROTO_TCP),
    INET_SOCKET(AF_INET, SOCK_DGRAM, 0), INET_SOCKET(AF_INET, SOCK_DGRAM, IPPROTO_UDP),
    INET_SOCKET(AF_INET6, SOCK_STREAM, 0), INET_SOCKET(AF_INET6, SOCK_STREAM, IPPROTO_TCP),
    INET_SOCKET(AF_INET6, SOCK_DGRAM, 0), INET_SOCKET(AF_INET6, SOCK_DGRAM, IPPROTO_UDP),
    {SCMP_SYS(socket), SCMP_ACT_ALLOW, 2, {LOW32_EQ(0, AF_NETLINK), LOW32_EQ(2, NETLINK_ROUTE)}},
    {SCMP_SYS(socketpair), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, AF_UNIX)}},

    /* Only on the caller itself (glibc's getrlimit/setrlimit pass pid 0):
     * init runs as the job's uid, and a job that set init's RLIMIT_CPU could
     * kill it and have its run blamed on brig. */
    {SCMP_SYS(prlimit64), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, 0)}},

    {SCMP_SYS(personality), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, PER_LINUX)}},
    {SCMP_SYS(personality), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, PER_LINUX32)}},
    {SCMP_SYS(personality), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, UNAME26)}},
    {SCMP_SYS(personality), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, PER_LINUX32 | UNAME26)}},
    {SCMP_SYS(personality), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, PERSONALITY_QUERY)}},

    {SCMP_SYS(seccomp), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, SECCOMP_SET_MODE_STRICT)}},
    {SCMP_SYS(seccomp), SCMP_ACT_ALLOW, 2, {LOW32_EQ(0, SECCOMP_SET_MODE_FILTER),
                                            BITS_CLEAR(1, SECCOMP_FILTER_FLAG_NEW_LISTENER)}},
    {SCMP_SYS(seccomp), SCMP_ACT_ALLOW, 1, {LOW32_EQ(0, SECCOMP_GET_ACTION_AVAIL)}},
};

static const struct argument_rule argument_guard_rules[] = {
    {SCMP_SYS(ioctl), SCMP_ACT_KILL_PROCESS, 1, {LOW32_EQ(1, TIOCSTI)}},
    {SCMP_SYS(ioctl), SCMP_ACT_KILL_PROCESS, 1, {LOW32_EQ(1, TIOCLINUX)}},
};
/* clang-format on */

static void describe_rule_failure(int syscall, int rc, char *err, size_t errlen)
{
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, syscall);
    snprintf(err, errlen, "seccomp: adding the rule for %s: %s", name ? name : "an unknown call",
             strerror(-rc));
    free(name);
}

/* A context for the native arch alone that kills every other arch, x32 included. */
static scmp_filter_ctx new_filter(uint32_t default_action, char *err, size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(default_action);
    if (ctx == NULL) {
        snprintf(err, errlen, "seccomp: creating a filter context failed");
        return NULL;
    }
    /* The jail sets no_new_privs itself, and libseccomp never loads these
     * contexts: they are exported as BPF and loaded by seccomp_policy_load. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    const char *what = "disabling no_new_privs handling";
    if (rc == 0) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        what = "setting the bad-arch action";
    }
    if (rc == 0) {
        /* A binary tree of syscall numbers: a long allow-list costs a few
         * comparisons per call instead of one per listed call. */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        what = "choosing the binary-tree layout";
    }
    if (rc != 0) {
        snprintf(err, errlen, "seccomp: %s: %s", what, strerror(-rc));
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

static int add_argument_rules(scmp_filter_ctx ctx, const struct argument_rule *rules, size_t count,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        const struct argument_rule *rule = &rules[i];
        int rc = seccomp_rule_add_exact_array(ctx, rule->action, rule->syscall, rule->arg_count,
                                              rule->args);
        if (rc != 0) {
            describe_rule_failure(rule->syscall, rc, err, errlen);
            return -1;
        }
    }
    return 0;
}

scmp_filter_ctx seccomp_rules_allowlist(char *err, size_t errlen)
{
    scmp_filter_ctx ctx = new_filter(SCMP_ACT_KILL_PROCESS, err, errlen);
    if (ctx == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(allowed_syscalls); i++) {
        int rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
        if (rc != 0) {
            describe_rule_failure(allowed_syscalls[i], rc, err, errlen);
            goto fail;
        }
    }
    if (add_argument_rules(ctx, allowlist_rules, ARRAY_SIZE(allowlist_rules), err, errlen) != 0)
        goto fail;
    return ctx;

fail:
    seccomp_release(ctx);
    return NULL;
}

scmp_filter_ctx seccomp_rules_argument_guard(char *err, size_t errlen)
{
    scmp_filter_ctx ctx = new_filter(SCMP_ACT_ALLOW, err, errlen);
    if (ctx == NULL)
        return NULL;
    if (add_argument_rules(ctx, argument_guard_rules, ARRAY_SIZE(argument_guard_rules), err,
                           errlen) != 0) {
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}
