/* Forbidden system calls, one per run: attack_syscall MODE makes the call
 * MODE names, with arguments that would do something if the call went
 * through, but nothing the host could not shrug off (reboot only turns off
 * ctrl-alt-del, clocks are given invalid times, swap and acct get missing
 * files).
 *
 * Most of these must never return: the jail's seccomp filter kills the
 * process, and the test checks the outcome record (status seccomp and the
 * call's name). A few (clone3, io_uring) may instead fail with ENOSYS. When
 * the call does return, the program prints
 *
 *   RETURNED: MODE: <result> <errno name>
 *
 * and exits 0 if the kernel refused it, 1 if it succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <linux/tiocl.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tests/attacks/attack.h"
#include "common/common.h"

#define X32_SYSCALL_BIT 0x40000000L
/* The i386 numbers, which differ from x86-64's. */
#define I386_GETUID 24L
#define I386_UNSHARE 310L

static long try_ptrace_attach(void)
{
    return syscall(SYS_ptrace, PTRACE_ATTACH, getppid(), 0, 0);
}

static void *ptrace_from_thread(void *result)
{
    *(long *)result = try_ptrace_attach();
    return NULL;
}

/* The filter covers every thread, not only the one the jail started. */
static long try_ptrace_in_thread(void)
{
    long result = 0;
    pthread_t thread;
    if (pthread_create(&thread, NULL, ptrace_from_thread, &result) != 0)
        return -1;
    pthread_join(thread, NULL);
    return result;
}

static long try_ptrace_traceme(void)
{
    return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

static long try_process_vm(long nr)
{
    char buf[8] = {0};
    struct iovec local = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct iovec remote = local;
    return syscall(nr, getppid(), &local, 1, &remote, 1, 0);
}

static long try_process_vm_readv(void)
{
    return try_process_vm(SYS_process_vm_readv);
}

static long try_process_vm_writev(void)
{
    return try_process_vm(SYS_process_vm_writev);
}

static long try_kcmp(void)
{
    return syscall(SYS_kcmp, getpid(), getppid(), KCMP_FILE, 0, 0);
}

static long try_pidfd_getfd(void)
{
    long pidfd = syscall(SYS_pidfd_open, getppid(), 0);
    return syscall(SYS_pidfd_getfd, pidfd, 0, 0);
}

static long try_unshare_user(void)
{
    return syscall(SYS_unshare, CLONE_NEWUSER);
}

static long try_unshare_mount(void)
{
    return syscall(SYS_unshare, CLONE_NEWNS);
}

static long try_unshare_net(void)
{
    return syscall(SYS_unshare, CLONE_NEWNET);
}

static long try_setns(void)
{
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return syscall(SYS_setns, fd, CLONE_NEWNET);
}

/* A child that got through exits at once; the parent reports the pid. */
static long child_exits(long result)
{
    if (result == 0)
        _exit(0);
    return result;
}

static long try_clone(unsigned long flags)
{
    return child_exits(syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0));
}

static long try_clone_newuser(void)
{
    return try_clone(CLONE_NEWUSER);
}

static long try_clone_newns(void)
{
    return try_clone(CLONE_NEWNS);
}

static long try_clone3(void)
{
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    return child_exits(syscall(SYS_clone3, &args, sizeof(args)));
}

static long try_mount(void)
{
    return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
}

static long try_remount_root(void)
{
    return syscall(SYS_mount, NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL);
}

static long try_umount2(void)
{
    return syscall(SYS_umount2, "/usr", MNT_DETACH);
}

static long try_pivot_root(void)
{
    return syscall(SYS_pivot_root, "/tmp", "/tmp");
}

static long try_chroot(void)
{
    return syscall(SYS_chroot, "/tmp");
}

static long try_fsopen(void)
{
    return syscall(SYS_fsopen, "tmpfs", 0);
}

static long try_fspick(void)
{
    return syscall(SYS_fspick, AT_FDCWD, "/", 0);
}

static long try_open_tree(void)
{
    return syscall(SYS_open_tree, AT_FDCWD, "/usr", OPEN_TREE_CLONE);
}

static long try_move_mount(void)
{
    return syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH);
}

static long try_mount_setattr(void)
{
    struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
    return syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &attr, sizeof(attr));
}

static long try_bpf(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
}

static long try_perf_event_open(void)
{
    struct perf_event_attr attr = {
        .type = PERF_TYPE_SOFTWARE, .size = sizeof(attr), .config = PERF_COUNT_SW_CPU_CLOCK};
    return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static long try_userfaultfd(void)
{
    return syscall(SYS_userfaultfd, O_CLOEXEC);
}

static long try_io_uring_setup(void)
{
    struct io_uring_params params = {0};
    return syscall(SYS_io_uring_setup, 8, &params);
}

static long try_keyctl(void)
{
    return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
}

static long try_add_key(void)
{
    return syscall(SYS_add_key, "user", "brig-attack", "x", 1, KEY_SPEC_PROCESS_KEYRING);
}

static long try_request_key(void)
{
    return syscall(SYS_request_key, "user", "brig-attack", NULL, KEY_SPEC_PROCESS_KEYRING);
}

static long try_kexec_load(void)
{
    return syscall(SYS_kexec_load, 0, 0, NULL, 0);
}

static long try_kexec_file_load(void)
{
    return syscall(SYS_kexec_file_load, -1, -1, 0, "", 0);
}

static long try_init_module(void)
{
    return syscall(SYS_init_module, NULL, 0, "");
}

static long try_finit_module(void)
{
    return syscall(SYS_finit_module, -1, "", 0);
}

static long try_delete_module(void)
{
    return syscall(SYS_delete_module, "brig_attack", O_NONBLOCK);
}

static long try_reboot(void)
{
    return syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF,
                   NULL);
}

static long try_swapon(void)
{
    return syscall(SYS_swapon, "/nonexistent", 0);
}

static long try_swapoff(void)
{
    return syscall(SYS_swapoff, "/nonexistent");
}

static long try_acct(void)
{
    return syscall(SYS_acct, "/nonexistent/brig-attack");
}

static long try_clock_settime(void)
{
    const struct timespec invalid = {.tv_sec = 0, .tv_nsec = -1};
    return syscall(SYS_clock_settime, CLOCK_REALTIME, &invalid);
}

static long try_settimeofday(void)
{
    const struct timeval invalid = {.tv_sec = 0, .tv_usec = -1};
    return syscall(SYS_settimeofday, &invalid, NULL);
}

static long try_adjtimex(void)
{
    struct timex invalid = {.modes = ADJ_TICK, .tick = 0};
    return syscall(SYS_adjtimex, &invalid);
}

static long try_clock_adjtime(void)
{
    struct timex invalid = {.modes = ADJ_TICK, .tick = 0};
    return syscall(SYS_clock_adjtime, CLOCK_REALTIME, &invalid);
}

static long try_personality_exec(void)
{
    return syscall(SYS_personality, PER_LINUX | READ_IMPLIES_EXEC);
}

static long try_personality_aslr(void)
{
    return syscall(SYS_personality, PER_LINUX | ADDR_NO_RANDOMIZE);
}

static long try_socket_packet(void)
{
    return syscall(SYS_socket, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
}

static long try_socket_raw(void)
{
    return syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_RAW);
}

static long try_socket_raw6(void)
{
    return syscall(SYS_socket, AF_INET6, SOCK_RAW, IPPROTO_RAW);
}

static long try_socket_alg(void)
{
    return syscall(SYS_socket, AF_ALG, SOCK_SEQPACKET, 0);
}

static long try_socket_vsock(void)
{
    return syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
}

/* Injects a harmless shell comment into every terminal it can reach;
 * 0 when any character went in. */
static long inject(unsigned long request, const char *payload)
{
    int fds[4] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, open("/dev/tty", O_RDWR | O_CLOEXEC)};
    long result = -1;
    int err = EBADF;
    for (int i = 0; i < 4; i++) {
        for (const char *c = payload; *c; c++) {
            if (syscall(SYS_ioctl, fds[i], request, c) == 0)
                result = 0;
            else
                err = errno;
        }
    }
    errno = err;
    return result;
}

static long try_tiocsti(void)
{
    return inject(TIOCSTI, "# brig-attack\n");
}

/* The kernel reads the request as 32 bits: a filter that compares all 64
 * would let this through as a different number. */
static long try_tiocsti_high(void)
{
    return inject(TIOCSTI | (1UL << 32), "# brig-attack\n");
}

static long try_tioclinux(void)
{
    const char paste[] = {TIOCL_PASTESEL, '\0'};
    return inject(TIOCLINUX, paste);
}

static long try_sethostname(void)
{
    return syscall(SYS_sethostname, "brig-attack", strlen("brig-attack"));
}

static long try_setdomainname(void)
{
    return syscall(SYS_setdomainname, "brig-attack", strlen("brig-attack"));
}

static long i386_result(long raw)
{
    if (raw < 0 && raw > -4096) {
        errno = (int)-raw;
        return -1;
    }
    return raw;
}

static long try_i386_getuid(void)
{
    long raw;
    __asm__ volatile("int $0x80" : "=a"(raw) : "a"(I386_GETUID) : "memory");
    return i386_result(raw);
}

static long try_i386_unshare(void)
{
    long raw;
    __asm__ volatile("int $0x80"
                     : "=a"(raw)
                     : "a"(I386_UNSHARE), "b"((long)CLONE_NEWUSER)
                     : "memory");
    return i386_result(raw);
}

static long try_x32_getpid(void)
{
    return syscall(X32_SYSCALL_BIT | SYS_getpid);
}

/* "Shocker": opening a file by handle, with a handle guessed rather than
 * asked for (inode 2, the root of most file systems, generation 0), relative
 * to the mount of the jail's root. */
static long try_open_by_handle_at(void)
{
    struct {
        struct file_handle handle;
        uint32_t inode_and_generation[2];
    } guess = {.handle = {.handle_bytes = 8, .handle_type = 1}, .inode_and_generation = {2, 0}};
    int mount_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return syscall(SYS_open_by_handle_at, mount_fd, &guess.handle, O_RDONLY);
}

static long try_syslog(void)
{
    char log[256];
    return syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log));
}

static long try_iopl(void)
{
    return syscall(SYS_iopl, 3);
}

static const struct {
    const char *mode;
    long (*attempt)(void);
} attempts[] = {
    {"ptrace_attach", try_ptrace_attach},
    {"ptrace_in_thread", try_ptrace_in_thread},
    {"ptrace_traceme", try_ptrace_traceme},
    {"process_vm_readv", try_process_vm_readv},
    {"process_vm_writev", try_process_vm_writev},
    {"kcmp", try_kcmp},
    {"pidfd_getfd", try_pidfd_getfd},
    {"unshare_user", try_unshare_user},
    {"unshare_mount", try_unshare_mount},
    {"unshare_net", try_unshare_net},
    {"setns", try_setns},
    {"clone_newuser", try_clone_newuser},
    {"clone_newns", try_clone_newns},
    {"clone3", try_clone3},
    {"mount", try_mount},
    {"remount_root", try_remount_root},
    {"umount2", try_umount2},
    {"pivot_root", try_pivot_root},
    {"chroot", try_chroot},
    {"fsopen", try_fsopen},
    {"fspick", try_fspick},
    {"open_tree", try_open_tree},
    {"move_mount", try_move_mount},
    {"mount_setattr", try_mount_setattr},
    {"bpf", try_bpf},
    {"perf_event_open", try_perf_event_open},
    {"userfaultfd", try_userfaultfd},
    {"io_uring_setup", try_io_uring_setup},
    {"keyctl", try_keyctl},
    {"add_key", try_add_key},
    {"request_key", try_request_key},
    {"kexec_load", try_kexec_load},
    {"kexec_file_load", try_kexec_file_load},
    {"init_module", try_init_module},
    {"finit_module", try_finit_module},
    {"delete_module", try_delete_module},
    {"reboot", try_reboot},
    {"swapon", try_swapon},
    {"swapoff", try_swapoff},
    {"acct", try_acct},
    {"clock_settime", try_clock_settime},
    {"settimeofday", try_settimeofday},
    {"adjtimex", try_adjtimex},
    {"clock_adjtime", try_clock_adjtime},
    {"personality_exec", try_personality_exec},
    {"personality_aslr", try_personality_aslr},
    {"socket_packet", try_socket_packet},
    {"socket_raw", try_socket_raw},
    {"socket_raw6", try_socket_raw6},
    {"socket_alg", try_socket_alg},
    {"socket_vsock", try_socket_vsock},
    {"tiocsti", try_tiocsti},
    {"tiocsti_high", try_tiocsti_high},
    {"tioclinux", try_tioclinux},
    {"sethostname", try_sethostname},
    {"setdomainname", try_setdomainname},
    {"i386_getuid", try_i386_getuid},
    {"i386_unshare", try_i386_unshare},
    {"x32_getpid", try_x32_getpid},
    {"open_by_handle_at", try_open_by_handle_at},
    {"syslog", try_syslog},
    {"iopl", try_iopl},
};

int main(int argc, char **argv)
{
    if (argc == 2) {
        for (size_t i = 0; i < ARRAY_SIZE(attempts); i++) {
            if (strcmp(argv[1], attempts[i].mode) != 0)
                continue;
            errno = 0;
            long result = attempts[i].attempt();
            int err = result < 0 ? errno : 0;
            printf("RETURNED: %s: %ld %s\n", argv[1], result, err ? attack_errno_name(err) : "-");
            return result < 0 ? 0 : 1;
        }
    }
    fprintf(stderr, "usage: attack_syscall MODE, one of:");
    for (size_t i = 0; i < ARRAY_SIZE(attempts); i++)
        fprintf(stderr, " %s", attempts[i].mode);
    fprintf(stderr, "\n");
    return 2;
}
