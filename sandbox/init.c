/* Pid 1 of the jail, and the job it starts as pid 2.
 *
 * Init waits until the parent has mapped its ids, builds the jail around
 * itself (user, filesystem, hostname, network) and says so; the parent then
 * puts it in the jail's cgroup, so that the setup is not charged to the job,
 * and lets it go on. Init makes its cgroup namespace, forks the job, which
 * takes its limits, loses its privileges and descriptors, loads the seccomp
 * filter and execs. Init reaps whatever the pid namespace orphans and, when
 * the job ends, reports its wait status and exits: the kernel then kills
 * what is left in the namespace.
 *
 * Naming a refused system call: SECCOMP_RET_KILL_PROCESS leaves nothing of
 * the call in the job's wait status, and a zombie's /proc/<pid>/syscall is
 * empty ("-1"). So init traces the job with PTRACE_O_TRACEEXIT, which stops
 * it on its way out, alive enough to read: seccomp rolls the refusing
 * thread's registers back to the syscall entry, and a thread whose return
 * register still equals its call number is the one that was refused. Only
 * the job's main thread is traced; a call refused in another thread or in a
 * child of the job stays unnamed. Being traced, the job cannot be ptraced by
 * its own processes (the seccomp policy refuses ptrace anyway).
 *
 * Everything here runs in a child forked from a multi-threaded process:
 * system calls only, on data the parent prepared. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/jail_child.h"
#include "common/common.h"

int fail_at(struct jail_fail *fail, const char *step, int err)
{
    fail->step = step;
    fail->err = err;
    return -1;
}

static void copy_string(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src != NULL && src[i] != '\0' && i + 1 < size; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

static void send_report(int fd, const struct jail_report *report)
{
    /* Smaller than PIPE_BUF: one write, never split. */
    while (write(fd, report, sizeof(*report)) < 0 && errno == EINTR)
        ;
}

static _Noreturn void report_setup_failure(int fd, const struct jail_fail *fail)
{
    struct jail_report report = {.kind = REPORT_SETUP_FAILED, .err = fail->err, .refused_nr = -1};
    copy_string(report.step, sizeof(report.step), fail->step);
    send_report(fd, &report);
    _exit(1);
}

/* Puts stdin, stdout, stderr, the go pipe and the report pipe at 0-4, a
 * live jail's channel at 5 and 6, and closes everything else the fork copied
 * from the worker. */
static int arrange_descriptors(const struct jail_child *child, struct jail_fail *fail)
{
    const int wanted[] = {child->stdio[0],  child->stdio[1],   child->stdio[2],   child->go_fd,
                          child->report_fd, child->channel_in, child->channel_out};
    const int count = child->live ? CHILD_CHANNEL_OUT_FD + 1 : CHILD_CHANNEL_IN_FD;
    int moved[ARRAY_SIZE(wanted)];
    /* Out of the way first, so that no dup2 overwrites a descriptor still to be moved. */
    for (int i = 0; i < count; i++) {
        moved[i] = fcntl(wanted[i], F_DUPFD, 64);
        if (moved[i] < 0)
            return fail_at(fail, "arrange descriptors", errno);
    }
    for (int i = 0; i < count; i++) {
        if (dup2(moved[i], i) != i)
            return fail_at(fail, "arrange descriptors", errno);
    }
    if (close_range((unsigned)count, ~0U, 0) != 0)
        return fail_at(fail, "close inherited descriptors", errno);
    return 0;
}

/* The jail around init, in the order it is built. The new user, pid, mount,
 * network, IPC and UTS namespaces come from clone; the parent has written
 * the id maps. */
static int contain(const struct jail_child *child, struct jail_fail *fail)
{
    if (user_become_jail_user(fail) != 0)
        return -1;
    /* The kernel clears the parent-death signal when the uid changes. Set
     * again, init, and with it the jail, dies with whoever cloned it (a
     * worker killed with SIGKILL, or its spawner, which dies with the
     * worker). A worker that died in between leaves the go pipe at end of
     * file for the next wait. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        return fail_at(fail, "set the parent-death signal again", errno);
    if (mnt_enter_new_root(child->root, child->base, child->job, fail) != 0)
        return -1;
    if (sethostname(JAIL_HOSTNAME, strlen(JAIL_HOSTNAME)) != 0)
        return fail_at(fail, "set the hostname", errno);
    if (!child->net_ready && net_loopback_up(fail) != 0)
        return -1;
    return 0;
}

/* A byte from the parent on the go pipe; end of file means it gave up. */
static void wait_for_parent(void)
{
    char go;
    if (read(CHILD_GO_FD, &go, 1) != 1)
        _exit(1);
}

_Noreturn void jail_exec_job(const struct jail_child *child)
{
    int err = ENOENT;
    for (char *const *path = child->exec_candidates; *path != NULL; path++) {
        execve(*path, child->argv, child->envp);
        /* Like a shell's search: a later directory may still have it. */
        if (errno != ENOENT && errno != ENOTDIR)
            err = errno;
    }
    /* Like a shell: the job's own problem, told on its stderr, 127 or 126. */
    const char *parts[] = {"brig: cannot run ", child->argv[0], ": ", strerrordesc_np(err), "\n"};
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        if (parts[i] != NULL && write(STDERR_FILENO, parts[i], strlen(parts[i])) < 0)
            break;
    }
    _exit(err == ENOENT ? 127 : 126);
}

/* Pid 2: the job, from its limits to execve. */
static _Noreturn void job_main(const struct jail_child *child, int traced_fd)
{
    struct jail_fail fail = {0};
    char byte;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* Traced (or not, when ptrace is refused) before anything can be refused. */
    if (read(traced_fd, &byte, 1) != 1)
        _exit(127);
    close(traced_fd);
    if (setsid() < 0)
        report_setup_failure(CHILD_REPORT_FD, &(struct jail_fail){"setsid", errno});
    if (chdir("/work") != 0)
        report_setup_failure(CHILD_REPORT_FD, &(struct jail_fail){"enter /work", errno});
    if (limits_apply_rlimits(child->rlimits, &fail) != 0 ||
        privs_drop(child->cap_last_cap, &fail) != 0)
        report_setup_failure(CHILD_REPORT_FD, &fail);
    /* Close-on-exec rather than closed: the report pipe must outlive a
     * failure to load the filter; execve closes them all. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        report_setup_failure(CHILD_REPORT_FD,
                             &(struct jail_fail){"close inherited descriptors", errno});
    if (child->live && (fcntl(CHILD_CHANNEL_IN_FD, F_SETFD, 0) != 0 ||
                        fcntl(CHILD_CHANNEL_OUT_FD, F_SETFD, 0) != 0))
        report_setup_failure(CHILD_REPORT_FD, &(struct jail_fail){"keep the channel open", errno});
    int rc = seccomp_policy_load(child->seccomp);
    if (rc != 0)
        report_setup_failure(CHILD_REPORT_FD, &(struct jail_fail){"load the seccomp filter", -rc});
    if (child->start != NULL)
        child->start(child);
    jail_exec_job(child);
}

static pid_t start_job(const struct jail_child *child, struct jail_fail *fail)
{
    int traced[2];
    if (pipe2(traced, O_CLOEXEC) != 0)
        return fail_at(fail, "make the job's start pipe", errno);
    /* Until execve the job's memory is a copy of the worker's, owned by the
     * host's user namespace, which puts it out of init's reach for ptrace
     * unless it is dumpable. Init lends it the flag through the fork and
     * takes its own back at once: only init and the job exist, and init's
     * copy of the worker stays non-dumpable, out of the job's reach. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* A plain fork, by system call: glibc's fork runs atfork handlers that
     * may take locks another thread of the worker held at clone time. */
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (pid != 0)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (pid < 0) {
        int saved = errno;
        close(traced[0]);
        close(traced[1]);
        return fail_at(fail, "fork the job", saved);
    }
    if (pid == 0) {
        close(traced[1]);
        job_main(child, traced[0]);
    }
    close(traced[0]);
    /* Without ptrace (a Yama scope that forbids it) the job still runs; only
     * the name of a refused call is lost. */
    ptrace(PTRACE_SEIZE, pid, NULL, (void *)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
    if (write(traced[1], "x", 1) != 1) {
        int saved = errno;
        close(traced[1]);
        kill(pid, SIGKILL);
        return fail_at(fail, "start the job", saved);
    }
    close(traced[1]);
    return pid;
}

/* At the job's exit stop, after a SIGSYS death: the refused call, or -1. */
static int refused_syscall(pid_t job)
{
#if defined(__x86_64__)
    struct user_regs_struct regs;
    struct __ptrace_syscall_info info;
    if (ptrace(PTRACE_GETREGS, job, NULL, &regs) != 0)
        return -1;
    if (ptrace(PTRACE_GET_SYSCALL_INFO, job, (void *)sizeof(info), &info) <= 0 ||
        info.arch != AUDIT_ARCH_X86_64)
        return -1;
    if ((long long)regs.orig_rax < 0 || regs.rax != regs.orig_rax || regs.orig_rax > INT32_MAX)
        return -1;
    return (int)regs.orig_rax;
#else
    (void)job;
    return -1;
#endif
}

/* A seccomp kill ends the job without delivering a signal, so a SIGSYS that
 * shows up as a signal-delivery stop was sent by someone (the job itself,
 * most likely) and must not pass for a refused system call. */
static void handle_stop(pid_t job, int status, int *refused_nr, int *sigsys_sent)
{
    unsigned event = (unsigned)status >> 16;
    if (event == PTRACE_EVENT_EXIT) {
        unsigned long code;
        if (ptrace(PTRACE_GETEVENTMSG, job, NULL, &code) == 0 && WIFSIGNALED((int)code) &&
            WTERMSIG((int)code) == SIGSYS)
            *refused_nr = refused_syscall(job);
        ptrace(PTRACE_CONT, job, NULL, NULL);
    } else if (event == PTRACE_EVENT_STOP) {
        /* A group stop (SIGSTOP and the like): stay stopped until SIGCONT. */
        ptrace(PTRACE_LISTEN, job, NULL, NULL);
    } else {
        /* A signal on its way to the job: let it through. */
        *sigsys_sent = WSTOPSIG(status) == SIGSYS;
        ptrace(PTRACE_CONT, job, NULL, (void *)(long)WSTOPSIG(status));
    }
}

/* The live jail's program, for the SIGINT handler. */
static volatile pid_t interrupt_target;

static void pass_interrupt(int sig)
{
    kill(interrupt_target, sig);
}

/* Without SA_RESTART: the handler interrupts watch_job's waitpid, which
 * waits again. */
static int forward_interrupts(pid_t job, struct jail_fail *fail)
{
    struct sigaction action = {.sa_handler = pass_interrupt};
    interrupt_target = job;
    if (sigaction(SIGINT, &action, NULL) != 0)
        return fail_at(fail, "pass interrupts on to the program", errno);
    return 0;
}

static _Noreturn void watch_job(pid_t job)
{
    int refused_nr = -1, sigsys_sent = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            _exit(1);
        if (pid != job)
            continue; /* an orphan of the namespace, reaped */
        if (WIFSTOPPED(status)) {
            handle_stop(job, status, &refused_nr, &sigsys_sent);
            continue;
        }
        struct jail_report report = {
            .kind = REPORT_JOB_ENDED,
            .wait_status = status,
            .refused_nr = refused_nr,
            .sigsys_sent = sigsys_sent,
        };
        send_report(CHILD_REPORT_FD, &report);
        _exit(0);
    }
}

_Noreturn void jail_init_main(const struct jail_child *child)
{
    struct jail_fail fail = {0};
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    privs_reset_signals();
    umask(022);
    if (arrange_descriptors(child, &fail) != 0)
        report_setup_failure(child->report_fd, &fail);
    wait_for_parent(); /* ids mapped */
    if (contain(child, &fail) != 0)
        report_setup_failure(CHILD_REPORT_FD, &fail);
    send_report(CHILD_REPORT_FD, &(struct jail_report){.kind = REPORT_READY, .refused_nr = -1});
    wait_for_parent(); /* in the jail's cgroup */
    close(CHILD_GO_FD);
    /* Made now, so that its root is the jail's cgroup. */
    if (unshare(CLONE_NEWCGROUP) != 0)
        report_setup_failure(CHILD_REPORT_FD,
                             &(struct jail_fail){"enter a new cgroup namespace", errno});
    pid_t job = start_job(child, &fail);
    if (job < 0)
        report_setup_failure(CHILD_REPORT_FD, &fail);
    /* Init needs no privilege any more, and holds no end of the job's stdio
     * or channel. */
    close(STDIN_FILENO);
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    if (child->live) {
        close(CHILD_CHANNEL_IN_FD);
        close(CHILD_CHANNEL_OUT_FD);
    }
    if (privs_drop(child->cap_last_cap, &fail) != 0 ||
        (child->live && forward_interrupts(job, &fail) != 0)) {
        kill(job, SIGKILL);
        report_setup_failure(CHILD_REPORT_FD, &fail);
    }
    watch_job(job);
}
