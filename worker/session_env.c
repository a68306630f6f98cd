#include "worker/session_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VENV "/work/.venv"

const char *const session_env_vars[] = {
    "VIRTUAL_ENV=" VENV,
    "PATH=" VENV "/bin:/work/node_modules/.bin:" JAIL_DEFAULT_PATH,
    NULL,
};

/* make_venv(python, pip_guard): the venv of the interpreter python, then
 * brig's pip in it (pip_guard) as the module _brig_pip, a .pth that imports
 * it, and the pip and pip3 commands. Python, not `python3 -m venv` under a
 * shell, so that a warm server can run it, or the session's kernel itself. A
 * warm fork's base executable is the server's, so the venv is told which
 * python it is of. */
#define MAKE_VENV                                                                                  \
    "import os, sys, venv\n"                                                                       \
    "def make_venv(python, pip_guard):\n"                                                          \
    "    base, sys._base_executable = sys._base_executable, python\n"                              \
    "    try:\n"                                                                                   \
    "        venv.EnvBuilder(system_site_packages=True, symlinks=True).create('" VENV "')\n"       \
    "    finally:\n"                                                                               \
    "        sys._base_executable = base\n"                                                        \
    "    site = os.path.join('" VENV "', 'lib', 'python%d.%d' % sys.version_info[:2],\n"           \
    "                        'site-packages')\n"                                                   \
    "    with open(os.path.join(site, '_brig_pip.py'), 'w') as f:\n"                               \
    "        f.write(pip_guard)\n"                                                                 \
    "    with open(os.path.join(site, '_brig_pip.pth'), 'w') as f:\n"                              \
    "        f.write('import _brig_pip\\n')\n"                                                     \
    "    for pip in ('pip', 'pip3'):\n"                                                            \
    "        path = os.path.join('" VENV "', 'bin', pip)\n"                                        \
    "        with open(path, 'w') as f:\n"                                                         \
    "            f.write('#!" VENV "/bin/python3\\nimport sys, _brig_pip\\n'\n"                    \
    "                    'sys.exit(_brig_pip.main())\\n')\n"                                       \
    "        os.chmod(path, 0o755)\n"

const char session_env_make_venv[] = MAKE_VENV;

/* In a jail of its own, pip_guard on its stdin. */
static const char make_venv_in_jail[] = MAKE_VENV "make_venv(sys.executable, sys.stdin.read())\n";

const char session_env_pip_guard[] =
    "\"\"\"brig's pip in a session's venv, written by brig-worker (worker/session_env.c).\n"
    "\n"
    "pip, pip3 and python3 -m pip run Debian's pip here, with one change: an\n"
    "install that fails (a full quota, a package that does not build) leaves the\n"
    "venv as it found it, so that a full workspace does not outlive the install\n"
    "that filled it. A .pth file imports this module at every start of the venv's\n"
    "python; it sends python3 -m pip to the same place.\"\"\"\n"
    "import os\n"
    "import sys\n"
    "\n"
    "\n"
    "def _listing():\n"
    "    import sysconfig\n"
    "    paths = sysconfig.get_paths()\n"
    "    places = {paths['purelib'], paths['platlib'], paths['scripts']}\n"
    "    return {p: set(os.listdir(p)) for p in places if os.path.isdir(p)}\n"
    "\n"
    "\n"
    "def _remove(path):\n"
    "    import shutil\n"
    "    if os.path.isdir(path) and not os.path.islink(path):\n"
    "        shutil.rmtree(path, ignore_errors=True)\n"
    "    else:\n"
    "        try:\n"
    "            os.unlink(path)\n"
    "        except OSError:\n"
    "            pass\n"
    "\n"
    "\n"
    "def main():\n"
    "    from pip._internal.cli.main import main as pip\n"
    "    before = _listing()\n"
    "    status = pip()\n"
    "    if status and 'install' in sys.argv[1:]:\n"
    "        added = [os.path.join(place, name) for place, names in _listing().items()\n"
    "                 for name in sorted(names - before.get(place, set()))]\n"
    "        for path in added:\n"
    "            _remove(path)\n"
    "        if added:\n"
    "            print('brig: the install failed, so what it had added to %s is removed: %s'\n"
    "                  % (sys.prefix, ', '.join(os.path.basename(p) for p in added)), "
    "file=sys.stderr)\n"
    "    return status\n"
    "\n"
    "\n"
    "if getattr(sys, 'orig_argv', [])[1:3] == ['-m', 'pip']:\n"
    "    os.execv(os.path.join(sys.prefix, 'bin', 'pip'), ['pip'] + sys.orig_argv[3:])\n";

/* Whether .venv/pyvenv.cfg is in the workspace, looked up without following
 * a link the jobs may have left. */
static bool has_venv(struct jail_workspace *ws)
{
    int dir =
        openat(jail_workspace_dirfd(ws), ".venv", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return false;
    struct stat st;
    bool found = fstatat(dir, "pyvenv.cfg", &st, AT_SYMLINK_NOFOLLOW) == 0;
    close(dir);
    return found;
}

int session_env_prepare(struct jail_context *ctx, struct jail_server *warm,
                        struct jail_workspace *ws, char *err, size_t errlen)
{
    if (has_venv(ws))
        return 0;
    const char *argv[] = {"python3", "-c", make_venv_in_jail, NULL};
    struct jail_spec spec = {.argv = argv,
                             .workspace = ws,
                             .warm = warm,
                             .stdin_data = session_env_pip_guard,
                             .stdin_len = sizeof(session_env_pip_guard) - 1};
    jail_limits_default(&spec.limits);
    spec.limits.wall_ms = 60000;
    spec.limits.cpu_ms = 30000;
    struct jail_outcome outcome;
    jail_run(ctx, &spec, &outcome);
    int rc = 0;
    if (outcome.status != BRIG_STATUS_OK) {
        char what[320];
        if (outcome.status == BRIG_STATUS_FAILED)
            snprintf(what, sizeof(what), "exit status %d", outcome.exit_code);
        else
            snprintf(what, sizeof(what), "%s%s%s", brig_status_name(outcome.status),
                     outcome.message[0] ? ": " : "", outcome.message);
        int line = outcome.err.data ? (int)strcspn(outcome.err.data, "\n") : 0;
        snprintf(err, errlen, "making the session's venv " VENV ": %s%s%.*s", what,
                 line ? ": " : "", line > 200 ? 200 : line, line ? outcome.err.data : "");
        rc = -1;
    }
    jail_outcome_free(&outcome);
    return rc;
}
