"""make install and make uninstall into a staging directory (DESTDIR): every
file lands where it should, the installed programs run and find the installed
runtime table, a C program builds against the installed libbrig through
pkg-config, the man pages render cleanly and document every option the
programs' --help lists, the systemd unit verifies, and uninstall leaves no
file behind."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

PREFIX = "/usr/local"
# Generous: the nested make may have to link libbrig on a loaded machine.
TIMEOUT = 600

PROGRAMS = {"bin/brig": "brig", "bin/brig-jail": "brig-jail", "sbin/brig-worker": "brig-worker",
            "sbin/brig-image": "brig-image"}
# Started by the worker, from the worker's directory; it takes no options.
HELPER_PROGRAMS = ["sbin/brig-zygote"]
MAN_PAGES = ["share/man/man1/brig.1", "share/man/man1/brig-jail.1",
             "share/man/man8/brig-worker.8", "share/man/man8/brig-image.8"]
DATA_FILES = ["share/brig/runtimes.json", "share/brig/kernels/python_kernel.py",
              "lib/libbrig.a", "include/brig/brig.h",
              "include/brig/schema/schema.h", "include/brig/schema/bounds.h",
              "include/brig/schema/status.h", "lib/pkgconfig/brig.pc",
              "lib/systemd/system/brig-worker.service"] + MAN_PAGES


def make(*targets, destdir, prefix=PREFIX):
    """Runs make in the repository on the build tree under test."""
    build = os.path.relpath(BUILD, ROOT) if BUILD.is_relative_to(ROOT) else str(BUILD)
    # A make that runs this test passes its jobserver through MAKEFLAGS,
    # whose descriptors this child does not inherit.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(["make", "-C", str(ROOT), f"BUILD={build}", f"DESTDIR={destdir}",
                           f"PREFIX={prefix}", *targets],
                          capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    """A DESTDIR with brig installed under PREFIX."""
    path = tmp_path_factory.mktemp("destdir")
    make("install", destdir=path)
    return path


@pytest.fixture
def staged(destdir):
    """PREFIX in the DESTDIR."""
    return destdir / PREFIX.lstrip("/")


def run(argv, **kwargs):
    # No BRIG_RUNTIMES: the installed programs must find their own table.
    env = {"PATH": "/usr/bin:/bin"}
    env.update(kwargs.pop("env", {}))
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT, **kwargs)


def test_every_file_lands_with_its_mode(staged):
    for path in [*PROGRAMS, *HELPER_PROGRAMS]:
        assert (staged / path).stat().st_mode & 0o777 == 0o755, path
    for path in DATA_FILES:
        assert (staged / path).stat().st_mode & 0o777 == 0o644, path
    assert set(files_under(staged)) == set(PROGRAMS) | set(HELPER_PROGRAMS) | set(DATA_FILES)
    assert (staged / "share/brig/runtimes.json").read_bytes() == \
        (ROOT / "sandbox/runtimes.json").read_bytes()


def test_installed_programs_answer_help(staged):
    for path, name in PROGRAMS.items():
        proc = run([str(staged / path), "--help"])
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"usage: {name} "), proc.stdout


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the jail runs as root only")


@needs_root
def test_installed_jail_runs_a_program(staged):
    proc = run([str(staged / "bin/brig-jail"), "--", "/bin/echo", "hi"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n"


@needs_root
def test_installed_jail_reads_the_installed_runtime_table(staged, tmp_path):
    """A runtime alias that exists only in the installed copy of the table
    works: the installed brig-jail read that copy, not the source tree's."""
    table_path = staged / "share/brig/runtimes.json"
    original = table_path.read_bytes()
    table = json.loads(original)
    sh = next(r for r in table["runtimes"] if r["name"] == "sh")
    sh.setdefault("aliases", []).append("installed-sh")
    code = tmp_path / "main.sh"
    code.write_text("echo \"from $0\"\n")
    try:
        table_path.write_text(json.dumps(table))
        for lang in ("sh", "installed-sh"):
            proc = run([str(staged / "bin/brig-jail"), "--lang", lang, "--code", str(code)])
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout == "from main.sh\n"
    finally:
        table_path.write_bytes(original)


API_DECLARATION = re.compile(r"^[a-z][a-z_ ]*[ *](brig_[a-z0-9_]*)\(", re.M)

PROGRAM = r"""
#include <brig/brig.h>
#include <stdio.h>

/* Every function of the API, so that linking proves each is there. */
static void (*const api[])(void) = {%s};

int main(void)
{
    char id[BRIG_ID_SIZE];
    brig_new_id(id);
    struct brig_job job = {.id = id, .runtime = "python", .code = {"print(1)", 8}};
    struct brig_error error;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (brig_job_encode(&job, &buf, &error) != 0)
        return 1;
    struct brig_job back;
    if (brig_job_decode(buf.data, buf.size, &back, &error) != 0)
        return 2;
    printf("%%s %%s %%s %%zu\n", back.id, back.runtime, brig_status_name(BRIG_STATUS_OK),
           sizeof api / sizeof api[0]);
    brig_job_free(&back);
    msgpack_sbuffer_destroy(&buf);
    return 0;
}
"""


def test_c_program_builds_against_installed_libbrig(destdir, staged, tmp_path):
    headers = [staged / "include/brig/brig.h"] + sorted((staged / "include/brig/schema").glob("*.h"))
    api = sorted({m for h in headers for m in API_DECLARATION.findall(h.read_text())})
    assert "brig_client_new" in api and "brig_job_decode" in api, api
    source = tmp_path / "client.c"
    source.write_text(PROGRAM % ", ".join(f"(void (*)(void)){f}" for f in api))

    # The sysroot maps brig.pc's paths into the staging tree.
    env = dict(os.environ, PKG_CONFIG_PATH=str(staged / "lib/pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=str(destdir))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "brig"], capture_output=True,
                           text=True, env=env, check=True).stdout.split()
    # As a user would build, and then with every member of the archive linked
    # in: libbrig must need nothing but what brig.pc names.
    for extra in ([], ["-Wl,--whole-archive", str(staged / "lib/libbrig.a"),
                       "-Wl,--no-whole-archive"]):
        program = tmp_path / "client"
        cc = subprocess.run(["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(program),
                             str(source), *extra, *flags], capture_output=True, text=True)
        assert cc.returncode == 0, cc.stderr
        proc = run([str(program)])
        assert proc.returncode == 0, proc.stderr
        id_, runtime, status, count = proc.stdout.split()
        assert re.fullmatch(r"[0-9a-f]{24}", id_) and runtime == "python" and status == "ok"
        assert int(count) == len(api)

    # Only the API is global in libbrig: brig's internal names cannot clash
    # with a program's own.
    nm = subprocess.run(["nm", "-g", "--defined-only", str(staged / "lib/libbrig.a")],
                        capture_output=True, text=True, check=True).stdout
    exported = {line.split()[-1] for line in nm.splitlines() if re.match(r"^[0-9a-f]+ ", line)}
    assert exported == set(api)


def man_source(staged, page):
    return (staged / page).read_text().replace("\\-", "-")


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(staged, page):
    if shutil.which("groff") is None or shutil.which("man") is None:
        pytest.skip("man-db and groff are not installed")
    env = {"PATH": "/usr/bin:/bin", "MANWIDTH": "80", "MANPAGER": "cat", "LANG": "C.UTF-8"}
    proc = subprocess.run(["man", "--warnings", "-l", str(staged / page)], capture_output=True,
                          text=True, env=env, timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "NAME" in proc.stdout and "SYNOPSIS" in proc.stdout
    groff = subprocess.run(["groff", "-man", "-ww", "-z", str(staged / page)],
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr


OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])")
VARIABLE = re.compile(r"\bBRIG_[A-Z_]+\b")


def help_text(staged, path, *args):
    proc = run([str(staged / path), *args, "--help"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_documents(source, help_output, what):
    for option in sorted(set(OPTION.findall(help_output))):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", source), \
            f"{what} lists {option}, its man page does not"
    for variable in sorted(set(VARIABLE.findall(help_output))):
        assert variable in source, f"{what} names {variable}, its man page does not"


def test_man_pages_document_every_option_of_the_help(staged):
    assert_documents(man_source(staged, "share/man/man1/brig-jail.1"),
                     help_text(staged, "bin/brig-jail"), "brig-jail --help")
    assert_documents(man_source(staged, "share/man/man8/brig-worker.8"),
                     help_text(staged, "sbin/brig-worker"), "brig-worker --help")
    assert_documents(man_source(staged, "share/man/man8/brig-image.8"),
                     help_text(staged, "sbin/brig-image"), "brig-image --help")

    source = man_source(staged, "share/man/man1/brig.1")
    top = help_text(staged, "bin/brig")
    commands = re.findall(r"^  ([a-z]+)  ", top, re.M)
    assert {"run", "submit", "wait", "logs", "audit", "replay"} <= set(commands), top
    assert_documents(source, top, "brig --help")
    for command in commands:
        assert f'.SS "brig {command}' in source, f"brig(1) has no section for {command}"
        assert_documents(source, help_text(staged, "bin/brig", command),
                         f"brig {command} --help")


def test_systemd_unit_fits_the_worker(staged, tmp_path):
    unit = (staged / "lib/systemd/system/brig-worker.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert settings["ExecStart"].split()[0] == f"{PREFIX}/sbin/brig-worker"
    # Stopping must outlast the drain and the delivery of the results that
    # follows it (10 s), and signal the worker alone, not its jobs.
    worker_help = help_text(staged, "sbin/brig-worker")
    drain = re.search(r"--drain-timeout T .*\(default (\d+)s\)", worker_help)
    assert drain, worker_help
    assert settings["TimeoutStopSec"].endswith("s")
    assert int(settings["TimeoutStopSec"][:-1]) > int(drain.group(1)) + 10
    assert settings["KillMode"] == "mixed" and settings["KillSignal"] == "SIGTERM"
    assert settings["Delegate"] == "yes" and settings["RuntimeDirectoryPreserve"] == "yes"

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # Verified with ExecStart pointing into the staging tree, where the
    # program is.
    local = tmp_path / "brig-worker.service"
    local.write_text(unit.replace(f"ExecStart={PREFIX}/sbin/brig-worker",
                                  f"ExecStart={staged}/sbin/brig-worker"))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(local)],
                          capture_output=True, text=True, timeout=TIMEOUT)
    ours = [line for line in proc.stderr.splitlines() if "brig-worker" in line]
    assert proc.returncode == 0 and not ours, proc.stderr


def test_uninstall_removes_every_file(tmp_path):
    make("install", destdir=tmp_path)
    assert files_under(tmp_path)
    make("uninstall", destdir=tmp_path)
    assert files_under(tmp_path) == []
    assert not (tmp_path / "usr/local/include/brig").exists()
    assert not (tmp_path / "usr/local/share/brig").exists()


def test_prefix_places_everything(tmp_path):
    """PREFIX=/usr, as the container image installs."""
    make("install", destdir=tmp_path, prefix="/usr")
    staged = tmp_path / "usr"
    assert set(files_under(tmp_path)) == {f"usr/{p}" for p in [*PROGRAMS, *HELPER_PROGRAMS, *DATA_FILES]}
    unit = (staged / "lib/systemd/system/brig-worker.service").read_text()
    assert re.search(r"^ExecStart=/usr/sbin/brig-worker ", unit, re.M)
    pc = (staged / "lib/pkgconfig/brig.pc").read_text()
    assert re.search(r"^prefix=/usr$", pc, re.M)
    assert not re.search(r"@[A-Z_]+@", pc), pc
