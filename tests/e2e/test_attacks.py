"""The jail under attack: every security claim of brig-jail is shown by a
program that tries to break it (tests/attacks/*.c, built into the helpers
directory). Each runs through build/bin/brig-jail with tight limits, from a
read-only bind of the helpers directory at /attacks, and each test checks
both that the attack failed (the program's CONTAINED/ESCAPED lines, or the
host's own view) and that the outcome record classifies the run right."""
import fcntl
import json
import os
import pathlib
import pty
import re
import secrets
import socket
import stat
import subprocess
import termios
import time
import tty

import pytest

from conftest import BUILD, ROOT, bin_path, helper_path

ATTACKS = "/attacks"  # where the host's helpers directory is bound, read-only
HELPERS = BUILD / "helpers"
MiB = 1 << 20

# Tight enough that a runaway attack ends in seconds, loose enough for a
# loaded 2-core machine. Tests override single limits; None drops one.
LIMITS = {
    "--mem": "128M",
    "--cpu-time": "10s",
    "--wall-time": "30s",
    "--pids": "32",
    "--output-limit": "1M",
    "--tmp": "16M",
    "--disk": "16M",
}


class Run:
    """A finished brig-jail run: its outcome record and what it printed."""

    def __init__(self, record, returncode, stdout, stderr):
        self.record = record
        self.returncode = returncode
        self.stdout = stdout  # brig-jail's own: the program's output passed through
        self.stderr = stderr

    @property
    def status(self):
        return self.record["status"]

    @property
    def output(self):
        """The program's stdout as the jail captured it."""
        return self.record["stdout"]

    def lines(self, verdict):
        prefix = verdict + ": "
        return [line[len(prefix):] for line in self.output.splitlines() if line.startswith(prefix)]

    def describe(self):
        record = {k: v for k, v in self.record.items() if k not in ("stdout", "stderr")}
        return (f"record: {json.dumps(record)}\n--- program stdout:\n{self.output}"
                f"\n--- program stderr:\n{self.record['stderr']}\n--- brig-jail stderr:\n"
                f"{self.stderr}")


class Jail:
    """brig-jail started on one attack program, not yet waited for."""

    def __init__(self, tmp_path, attack, *args, options=(), limits=None, **popen):
        merged = dict(LIMITS, **(limits or {}))
        self.json_path = tmp_path / f"outcome-{attack}-{secrets.token_hex(4)}.json"
        argv = [bin_path("brig-jail"), "-q", "--json", str(self.json_path)]
        for option, value in merged.items():
            if value is not None:
                argv += [option, value]
        program = pathlib.Path(helper_path(f"attack_{attack}"))
        argv += ["--ro-bind", f"{program.parent}:{ATTACKS}", *options, "--",
                 f"{ATTACKS}/{program.name}", *args]
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        self.proc = subprocess.Popen(argv, **popen)

    def finish(self, timeout=120):
        try:
            stdout, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError(f"brig-jail still running after {timeout}s")
        assert self.json_path.exists(), (
            f"brig-jail exited {self.proc.returncode} without writing its record:\n"
            f"{(stderr or b'').decode(errors='replace')}")
        record = json.loads(self.json_path.read_text())
        return Run(record, self.proc.returncode, stdout,
                   (stderr or b"").decode(errors="replace"))


@pytest.fixture
def open_dir(tmp_path):
    """A host directory the jail's unprivileged uid may write into (conftest
    makes tmp_path's parents searchable)."""
    path = tmp_path / "open"
    path.mkdir()
    path.chmod(0o777)
    return path


def jail(tmp_path, attack, *args, **kwargs):
    return Jail(tmp_path, attack, *args, **kwargs).finish()


def assert_contained(run):
    """Every attempt failed, at least one was made, and the run ended normally."""
    escaped = run.lines("ESCAPED")
    assert not escaped, "the attack got through:\n" + "\n".join(escaped) + "\n" + run.describe()
    assert run.lines("CONTAINED"), "the attack reported nothing\n" + run.describe()
    assert run.status == "ok" and run.record["exit_code"] == 0, run.describe()


def assert_killed_by_seccomp(run, syscall=None):
    assert run.status == "seccomp", run.describe()
    if syscall is not None:
        assert run.record["syscall"] == syscall, run.describe()
    assert run.returncode == 123, run.describe()


def processes_running(program):
    """Host pids whose command line runs the given attack program."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"{ATTACKS}/{program}".encode() in cmdline.split(b"\0")[0]:
            found.append(int(entry.name))
    return found


# --- Resource limits ---------------------------------------------------------

@pytest.mark.parametrize("mode", ["fork", "thread"])
def test_fork_bomb_stops_at_pids_limit_and_leaves_nothing(tmp_path, mode):
    run = jail(tmp_path, "fork_bomb", mode, "16", limits={"--pids": "16"})
    assert_contained(run)
    made = int(re.search(r"stopped after (\d+)", run.output).group(1))
    assert 0 < made < 16, run.describe()
    assert processes_running("attack_fork_bomb") == [], "the bomb's processes outlived the jail"


def test_memory_bomb_is_oom(tmp_path):
    run = jail(tmp_path, "memory_bomb", "2048", limits={"--mem": "64M"})
    assert run.status == "oom", run.describe()
    assert not run.lines("ESCAPED"), run.describe()
    assert 0 < run.record["peak_memory_bytes"] <= 64 * MiB + 4 * MiB, run.describe()


def test_cpu_burn_is_cpu_timeout(tmp_path):
    run = jail(tmp_path, "cpu_burn", "2", "30", limits={"--cpu-time": "1s"})
    assert run.status == "cpu_timeout", run.describe()
    assert not run.lines("ESCAPED"), run.describe()
    assert 1_000_000 <= run.record["cpu_us"] < 10_000_000, run.describe()


@pytest.mark.parametrize("directory", ["/tmp", "/dev/shm", "/work"])
def test_disk_fill_stops_at_tmpfs_size(tmp_path, directory):
    run = jail(tmp_path, "disk_fill", directory, "data", str(8 * MiB),
               limits={"--tmp": "8M", "--disk": "8M", "--fsize": "64M"})
    assert_contained(run)
    assert "ENOSPC" in run.output, run.describe()


@pytest.mark.parametrize("directory", ["/tmp", "/dev/shm", "/work"])
def test_inode_fill_is_bounded(tmp_path, directory):
    """Empty files cost no bytes but kernel memory: the tmpfs inode limit or
    the memory cgroup must stop them."""
    run = jail(tmp_path, "disk_fill", directory, "inodes", "200000",
               limits={"--tmp": "8M", "--disk": "8M", "--mem": "64M"})
    if run.status == "oom":
        assert not run.lines("ESCAPED"), run.describe()
    else:
        assert_contained(run)
        assert "ENOSPC" in run.output, run.describe()


def test_file_size_limit(tmp_path):
    """The filler writes 1 MiB files: the first stops at the rlimit."""
    run = jail(tmp_path, "disk_fill", "/tmp", "data", str(8 * MiB),
               limits={"--tmp": "16M", "--fsize": "512K"})
    assert_contained(run)
    assert "stopped after 524288 bytes: EFBIG" in run.output, run.describe()


@pytest.mark.parametrize("stream", ["stdout", "stderr", "both"])
def test_output_flood_is_output_limit(tmp_path, stream):
    run = jail(tmp_path, "output_flood", stream, str(256 * MiB), limits={"--output-limit": "256K"})
    assert run.status == "output_limit", run.describe()
    captured = run.record["stdout_bytes"] + run.record["stderr_bytes"]
    assert captured <= 256 * 1024, run.describe()
    assert len(run.stdout) <= 256 * 1024
    assert run.returncode == 122


# --- The filesystem ----------------------------------------------------------

def test_host_files_are_out_of_reach(tmp_path):
    canary = tmp_path / "canary"
    canary.write_text("host secret\n")
    paths = ["/etc/shadow", "/etc/gshadow", str(canary), str(BUILD / "bin" / "brig-jail"),
             f"{ATTACKS}/../bin/brig-jail", str(ROOT / "Makefile"), "/proc/1/root/etc/shadow",
             f"/proc/1/root{canary}", f"/proc/self/root{canary}"]
    for home in [pathlib.Path("/root"), *pathlib.Path("/home").glob("*")]:
        paths += [str(p) for p in sorted(home.glob(".*")) if p.is_file()][:2]
    run = jail(tmp_path, "read_host", *paths)
    assert_contained(run)
    assert len(run.lines("CONTAINED")) == len(paths), run.describe()


def test_proc_shows_only_the_jail(tmp_path):
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        run = jail(tmp_path, "pid_view", str(os.getpid()), str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert_contained(run)


def test_read_only_binds_stay_unchanged(tmp_path):
    planted = [pathlib.Path(d) / "brig-attack-write-ro"
               for d in ("/usr", "/usr/bin", "/usr/lib", "/etc", HELPERS)]
    try:
        run = jail(tmp_path, "write_ro", f"{ATTACKS}/attack_write_ro")
        assert_contained(run)
        assert [p for p in planted if os.path.lexists(p)] == []
    finally:
        for path in planted:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            elif os.path.lexists(path):
                path.unlink()


def test_proc_exe_and_mem_do_not_open_for_writing(tmp_path):
    run = jail(tmp_path, "proc_exe")
    assert_contained(run)
    # This process's and its child's at least; init's too where /proc shows it.
    tried = set(re.findall(r"/proc/(\d+)/exe", run.output))
    assert len(tried) >= 2, run.describe()


@pytest.mark.parametrize("workdir", [False, True], ids=["tmpfs", "host-workdir"])
def test_links_reach_only_the_jails_view(tmp_path, open_dir, workdir):
    canary = tmp_path / "canary"
    canary.write_text("host secret\n")
    options, limits = [], {}
    work = open_dir
    if workdir:
        options, limits = ["--workdir", str(work)], {"--disk": None}
    run = jail(tmp_path, "links", str(canary), f"{ATTACKS}/attack_links", options=options,
               limits=limits)
    assert_contained(run)
    assert canary.stat().st_nlink == 1 and canary.read_text() == "host secret\n"
    if workdir:
        for name in ("link-to-host", "link-to-shadow"):
            assert stat.S_ISLNK(os.lstat(work / name).st_mode)
        assert list(work.glob("hardlink-*")) == []


# --- System calls the seccomp filter kills -----------------------------------

KILLED = {
    "ptrace_attach": "ptrace", "ptrace_traceme": "ptrace",
    "process_vm_readv": "process_vm_readv", "process_vm_writev": "process_vm_writev",
    "kcmp": "kcmp", "pidfd_getfd": "pidfd_getfd",
    "unshare_user": "unshare", "unshare_mount": "unshare", "unshare_net": "unshare",
    "setns": "setns", "clone_newuser": "clone", "clone_newns": "clone",
    "mount": "mount", "remount_root": "mount", "umount2": "umount2",
    "pivot_root": "pivot_root", "chroot": "chroot", "fsopen": "fsopen", "fspick": "fspick",
    "open_tree": "open_tree", "move_mount": "move_mount", "mount_setattr": "mount_setattr",
    "bpf": "bpf", "perf_event_open": "perf_event_open", "userfaultfd": "userfaultfd",
    "keyctl": "keyctl", "add_key": "add_key", "request_key": "request_key",
    "kexec_load": "kexec_load", "kexec_file_load": "kexec_file_load",
    "init_module": "init_module", "finit_module": "finit_module",
    "delete_module": "delete_module", "reboot": "reboot", "swapon": "swapon",
    "swapoff": "swapoff", "acct": "acct", "clock_settime": "clock_settime",
    "settimeofday": "settimeofday", "syslog": "syslog",
    "personality_exec": "personality", "personality_aslr": "personality",
    "socket_packet": "socket", "socket_raw": "socket", "socket_raw6": "socket",
    "socket_alg": "socket", "socket_vsock": "socket",
}


@pytest.mark.parametrize("mode", sorted(KILLED))
def test_forbidden_syscall_is_killed(tmp_path, mode):
    run = jail(tmp_path, "syscall", mode)
    assert_killed_by_seccomp(run, KILLED[mode])


def test_forbidden_syscall_in_a_thread_is_killed(tmp_path):
    """The whole process dies; the jail names calls refused in the job's main
    thread only, so here the name may be missing, but never wrong."""
    run = jail(tmp_path, "syscall", "ptrace_in_thread")
    assert_killed_by_seccomp(run)
    assert run.record["syscall"] in (None, "", "ptrace"), run.describe()


# Each made with another ABI's number, and the x86-64 call that has the same
# number: the record must not name that one.
OTHER_ABIS = {"i386_getuid": "sched_yield", "i386_unshare": "process_vm_readv",
              "x32_getpid": "getpid"}


@pytest.mark.parametrize("mode", sorted(OTHER_ABIS))
def test_other_syscall_abis_are_killed(tmp_path, mode):
    run = jail(tmp_path, "syscall", mode)
    assert_killed_by_seccomp(run)
    assert run.record["syscall"] != OTHER_ABIS[mode], run.describe()


def returned(run, mode):
    """(result, errno name) from the program's RETURNED line, or None."""
    match = re.search(rf"^RETURNED: {mode}: (-?\d+) (\S+)$", run.output, re.M)
    return (int(match.group(1)), match.group(2)) if match else None


def test_clone3_fails_with_enosys(tmp_path):
    """clone3 cannot be filtered on its flags, so it must look absent: libc
    then falls back to clone, whose flags the filter sees."""
    run = jail(tmp_path, "syscall", "clone3")
    assert returned(run, "clone3") == (-1, "ENOSYS"), run.describe()
    assert run.status == "ok", run.describe()


def test_io_uring_is_killed_or_absent(tmp_path):
    run = jail(tmp_path, "syscall", "io_uring_setup")
    if run.status == "seccomp":
        assert_killed_by_seccomp(run, "io_uring_setup")
    else:
        assert returned(run, "io_uring_setup") == (-1, "ENOSYS"), run.describe()
        assert run.status == "ok", run.describe()


@pytest.mark.parametrize("mode", ["open_by_handle_at", "iopl", "adjtimex", "clock_adjtime"])
def test_privileged_syscall_is_refused(tmp_path, mode):
    """Killed, or refused by the kernel for want of a capability: the policy
    answers EPERM to the adjtimex family, which programs use to read the
    clock's discipline."""
    run = jail(tmp_path, "syscall", mode)
    if run.status == "seccomp":
        assert_killed_by_seccomp(run, mode)
    else:
        result = returned(run, mode)
        assert result is not None and result[0] == -1, run.describe()
        assert run.status == "ok", run.describe()


def host_names():
    kernel = pathlib.Path("/proc/sys/kernel")
    return (kernel / "hostname").read_text(), (kernel / "domainname").read_text()


@pytest.mark.parametrize("mode", ["sethostname", "setdomainname"])
def test_hostname_change_stays_inside(tmp_path, mode):
    """Killed, or harmless in the jail's own UTS namespace: never the host's."""
    before = host_names()
    run = jail(tmp_path, "syscall", mode)
    assert host_names() == before
    if run.status == "seccomp":
        assert_killed_by_seccomp(run, mode)
    else:
        assert returned(run, mode) is not None, run.describe()


def controlling_terminal():
    """preexec_fn: the session's stdin, a pty slave, becomes its terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize("mode", ["tiocsti", "tiocsti_high", "tioclinux"])
def test_terminal_injection_is_killed(tmp_path, mode):
    """brig-jail runs on a real terminal here, so there is one to inject into;
    the ioctl must be killed whatever the request's upper 32 bits hold, and
    nothing may arrive on the terminal's input."""
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)  # any injected byte becomes readable at once
        started = Jail(tmp_path, "syscall", mode, stdin=slave, stdout=slave, stderr=slave,
                       start_new_session=True, preexec_fn=controlling_terminal)
        run = started.finish()
        os.set_blocking(slave, False)
        with pytest.raises(BlockingIOError):
            injected = os.read(slave, 64)
            pytest.fail(f"injected into the terminal: {injected!r}")
        assert_killed_by_seccomp(run, "ioctl")
    finally:
        os.close(master)
        os.close(slave)


# --- Processes, signals, privileges ------------------------------------------

def test_signals_do_not_leave_the_jail(tmp_path):
    sleepers = [subprocess.Popen(["sleep", "600"], user=uid) for uid in (0, 1000, 65534)]
    try:
        pids = [str(os.getpid())] + [str(s.pid) for s in sleepers]
        run = jail(tmp_path, "signals", *pids)
        assert_contained(run)
        time.sleep(0.2)
        assert [s.pid for s in sleepers if s.poll() is not None] == []
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_init_is_out_of_reach(tmp_path):
    """Signals to the jail's init change nothing, and its limits are not the
    job's to set: the run ends as the job did, not as brig's own failure."""
    run = jail(tmp_path, "init", limits={"--cpu-time": "30s", "--wall-time": "60s"})
    assert not run.lines("ESCAPED"), run.describe()
    assert len(run.lines("CONTAINED")) >= 6, run.describe()  # one per signal
    # prlimit on any process but the caller is refused by the seccomp policy.
    assert_killed_by_seccomp(run, "prlimit64")


def test_self_sent_sigsys_is_not_seccomp(tmp_path):
    """seccomp means a refused system call: a job that sends itself SIGSYS
    was signaled, and must not be able to pass for a seccomp kill."""
    json_path = tmp_path / "outcome.json"
    subprocess.run([bin_path("brig-jail"), "-q", "--json", str(json_path), "--",
                    "/bin/sh", "-c", "kill -SYS $$"], timeout=120)
    record = json.loads(json_path.read_text())
    assert (record["status"], record["signal"]) == ("signaled", 31), record


def test_privileges_cannot_be_gained(tmp_path):
    run = jail(tmp_path, "privileges")
    assert_contained(run)


def test_setuid_programs_gain_nothing(tmp_path):
    run = jail(tmp_path, "setuid")
    assert_contained(run)
    assert any(line.startswith("/usr/bin/su ") for line in run.lines("CONTAINED")), run.describe()


def test_rlimits_cannot_be_raised(tmp_path):
    run = jail(tmp_path, "rlimits")
    assert_contained(run)


def test_cgroups_cannot_be_left_or_raised(tmp_path):
    run = jail(tmp_path, "cgroup")
    assert_contained(run)


def test_kernel_knobs_are_not_writable(tmp_path):
    run = jail(tmp_path, "proc_sys")
    assert_contained(run)


def test_kernel_memory_and_addresses_are_hidden(tmp_path):
    run = jail(tmp_path, "kernel_info")
    assert_contained(run)


def test_devices_are_harmless(tmp_path):
    run = jail(tmp_path, "devices")
    assert_contained(run)


def test_no_descriptor_is_inherited(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    with open(secret) as leaked_file, socket.socket() as leaked_socket:
        fds = (leaked_file.fileno(), leaked_socket.fileno())
        run = jail(tmp_path, "fds", pass_fds=fds)
    assert_contained(run)


def test_stdio_reopened_by_name_reaches_nothing_more(tmp_path):
    """/dev/std* and /proc/self/fd/0-2 open in the direction the job has, and
    no further: not the other end of a pipe, not its owner or mode, not
    another process's descriptors."""
    given = tmp_path / "stdin.txt"
    given.write_text("from the host\n")
    run = jail(tmp_path, "stdio", options=("--stdin", str(given)))
    assert_contained(run)
    reopened = [line for line in run.lines("NOTE") if line.startswith("reopened ")]
    assert len(reopened) == 7, run.describe()
    assert "read through /dev/stdin: from the host" in run.lines("NOTE"), run.describe()


def test_host_environment_does_not_leak(tmp_path):
    secret = secrets.token_hex(16)
    needles = tmp_path / "needles"
    needles.write_text(secret + "\n")
    env = dict(os.environ, BRIG_SECRET=secret)
    run = jail(tmp_path, "host_strings", options=["--stdin", str(needles)], env=env)
    assert_contained(run)

    listing = subprocess.run(
        [bin_path("brig-jail"), "-q", "--env", "ATTACK_VISIBLE=1", "--", "/usr/bin/env"],
        env=env, capture_output=True, text=True, timeout=120)
    names = {line.split("=", 1)[0] for line in listing.stdout.splitlines()}
    assert names == {"PATH", "HOME", "LANG", "MPLBACKEND", "MPLCONFIGDIR", "XDG_CACHE_HOME",
                     "ATTACK_VISIBLE"}, listing.stdout + listing.stderr


def test_host_command_line_is_hidden(tmp_path):
    """brig-jail's (or the worker's) own command line names host paths; no
    process of the jail may show it, the jail's init included."""
    needles = tmp_path / "needles"
    needles.write_text(f"{tmp_path}\n{HELPERS}\n")
    run = jail(tmp_path, "host_strings", options=["--stdin", str(needles)])
    assert_contained(run)


# --- The network -------------------------------------------------------------

def host_addresses():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(set(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)))


def tcp_and_udp_servers():
    """A TCP and a UDP socket on the same port of every host address."""
    for _ in range(20):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.bind(("0.0.0.0", 0))
        tcp.listen(8)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind(("0.0.0.0", tcp.getsockname()[1]))
            return tcp, udp
        except OSError:
            tcp.close()
            udp.close()
    pytest.fail("no port free for both TCP and UDP")


def test_network_is_loopback_only(tmp_path):
    tcp, udp = tcp_and_udp_servers()
    with tcp, udp:
        port = tcp.getsockname()[1]
        addresses = [f"{address}:{port}" for address in host_addresses()]
        assert any(a.startswith("127.0.0.1:") for a in addresses)
        run = jail(tmp_path, "network", *addresses)
        assert_contained(run)
        assert run.lines("CONTAINED")[0] == "interface lo", run.describe()
        tcp.setblocking(False)
        udp.setblocking(False)
        with pytest.raises(BlockingIOError):
            tcp.accept()
            pytest.fail("the TCP server got a connection from the jail")
        with pytest.raises(BlockingIOError):
            udp.recvfrom(64)
            pytest.fail("the UDP server got a datagram from the jail")


def test_concurrent_jails_cannot_reach_each_other(tmp_path, open_dir):
    """One jail holds a file in its /work and an abstract socket; a second,
    running at the same time, looks for both, and for an abstract socket the
    host listens on. The two run as different host uids."""
    name = "brig-attack-" + secrets.token_hex(4)
    sync = open_dir
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as host_listener:
        host_listener.bind("\0" + name + "-host")
        host_listener.listen(4)
        holder = Jail(tmp_path, "neighbour", "hold", name, "/sync",
                      options=["--bind", f"{sync}:/sync"])
        try:
            deadline = time.monotonic() + 60
            while not (sync / "ready").exists():
                assert holder.proc.poll() is None, holder.finish().describe()
                assert time.monotonic() < deadline, "the holding jail never got ready"
                time.sleep(0.05)
            seeker = jail(tmp_path, "neighbour", "seek", name, name, name + "-host")
        finally:
            (sync / "done").touch()
            held = holder.finish()
        assert_contained(seeker)
        assert_contained(held)
        uids = [run.lines("NOTE") for run in (held, seeker)]
        assert uids[0] != uids[1] and all(u and u[0].startswith("host uid ") for u in uids), uids
        host_listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            host_listener.accept()
            pytest.fail("the host's abstract socket got a connection from the jail")
