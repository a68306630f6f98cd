/* brig mcp: starts brig's MCP server, a Python program installed in a venv
 * of its own under <prefix>/lib/brig/mcp (make install; `make mcp` in a
 * build tree makes build/lib/brig/mcp). brig replaces itself with the
 * venv's interpreter, so the host that started `brig mcp` speaks to the
 * server directly over stdin and stdout, and signals reach it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "producer/cli_common.h"
#include "producer/commands.h"
#include "sandbox/self_path.h"

/* Relative to the directory of the brig binary. */
static const char venv_python[] = "../lib/brig/mcp/bin/python3";

int cmd_mcp(int argc, char **argv)
{
    char python[PATH_MAX], err[PATH_MAX + 128];
    if (self_relative_path(venv_python, python, sizeof(python), err, sizeof(err)) != 0) {
        cli_error("mcp", "%s", err);
        return CLI_EXIT_SETUP;
    }
    if (access(python, X_OK) != 0) {
        cli_error("mcp",
                  "the MCP server is not installed: %s: %s (make install installs it with "
                  "brig; in a build tree, make mcp)",
                  python, strerror(errno));
        return CLI_EXIT_SETUP;
    }
    /* python3 -I -m brig_mcp ARGS...: -I keeps PYTHONPATH, PYTHONHOME and
     * the user's site-packages from changing what runs. */
    char *args[argc + 4];
    args[0] = python;
    args[1] = "-I";
    args[2] = "-m";
    args[3] = "brig_mcp";
    for (int i = 1; i < argc; i++)
        args[i + 3] = argv[i];
    args[argc + 3] = NULL;
    execv(python, args);
    cli_error("mcp", "starting %s: %s", python, strerror(errno));
    return CLI_EXIT_SETUP;
}
