/* A session's own packages.
 *
 * pip refuses to install into Debian's Python, which is the system's
 * (PEP 668, "externally-managed-environment"); the standard answer is a
 * virtual environment. Every session gets one in its workspace, /work/.venv,
 * made with --system-site-packages (Debian's numpy, pandas... stay
 * importable) and --without-pip (pip is Debian's, run by the venv's python:
 * 56 KiB of the session's quota instead of 12 MiB of copied pip), with pip
 * and pip3 commands of its own. Its bin comes first on the session's PATH, so
 * `pip install X`, `python3 -m pip install X` and the `python3` of later jobs,
 * cold or warm, all use it. npm needs nothing of the kind: `npm install`
 * writes /work/node_modules, where node looks, and node_modules/.bin is on
 * the PATH too.
 *
 * The venv is made when a job of the session starts and
 * /work/.venv/pyvenv.cfg is missing: once per session, and never for a job
 * without a session. Only a missing venv is made again: one a job changed
 * stays as the job left it. For a job, by a jail of its own on the session's
 * workspace, before the job's state is hashed; for a Python cell, by the
 * session's kernel, in its own jail, before the cell (a jail less for the
 * first cell of a session: its state_before is the workspace without the
 * venv, which its state_after then has). */
#ifndef BRIG_WORKER_SESSION_ENV_H
#define BRIG_WORKER_SESSION_ENV_H

#include <stddef.h>

#include "sandbox/sandbox.h"

/* What a session's jobs have in their environment, before their own
 * variables: VIRTUAL_ENV and the PATH. NULL-terminated. */
extern const char *const session_env_vars[];

/* make_venv(python, pip_guard), Python that makes /work/.venv of the
 * interpreter python, brig's pip in it being pip_guard, the text below. */
extern const char session_env_make_venv[];
extern const char session_env_pip_guard[];

/* Makes the venv in ws unless it is there, from warm (a warm Python
 * server) when not NULL. -1 with a sentence in err when it could not be made
 * (the job can run without it). */
int session_env_prepare(struct jail_context *ctx, struct jail_server *warm,
                        struct jail_workspace *ws, char *err, size_t errlen);

#endif
