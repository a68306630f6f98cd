/* Python.h first: it sets feature macros the C library headers must see. */
#include <Python.h>

#include "sandbox/zygote/python.h"
#include "common/common.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* What `python3 main.py` or `python3 -c CODE` would do from here on, run in
 * the job's copy of the interpreter. Trusted code, compiled once by the
 * server: the job's own code only ever runs inside run(). Each job is a new
 * process, so nothing it changes reaches the server or another job. */
static const char bootstrap_source[] =
    "import atexit, builtins, importlib, os, signal, site, sys, types\n"
    "\n"
    "def _exit_status(e):\n"
    "    code = e.code\n"
    "    if code is None:\n"
    "        return 0\n"
    "    if isinstance(code, int):\n"
    "        return code & 0xff\n"
    "    try:\n"
    "        print(code, file=sys.stderr)\n"
    "    except Exception:\n"
    "        pass\n"
    "    return 1\n"
    "\n"
    "def _flush():\n"
    "    status = 0\n"
    "    for stream in (sys.stdout, sys.stderr):\n"
    "        try:\n"
    "            if stream is not None:\n"
    "                stream.flush()\n"
    "        except Exception:\n"
    "            status = 120\n"
    "    return status\n"
    "\n"
    "_system_sites = set(site.getsitepackages())\n"
    "\n"
    "def _venv(executable):\n"
    "    bin_dir = os.path.dirname(executable)\n"
    "    for home in (bin_dir, os.path.dirname(bin_dir)):\n"
    "        if os.path.isfile(os.path.join(home, 'pyvenv.cfg')):\n"
    "            return home\n"
    "    return None\n"
    "\n"
    "# What site.main() adds for a python3 started as executable, in its order\n"
    "# and before the server's own site-packages: the user's, then a venv's\n"
    "# (the C side runs only venvs that include the system's packages).\n"
    "def _site(executable):\n"
    "    sys.executable = executable\n"
    "    first = next((i for i, p in enumerate(sys.path) if p in _system_sites), len(sys.path))\n"
    "    start = len(sys.path)\n"
    "    if site.ENABLE_USER_SITE:\n"
    "        site.USER_BASE = site.USER_SITE = None\n"
    "        user_site = site.getusersitepackages()\n"
    "        if os.path.isdir(user_site):\n"
    "            site.addsitedir(user_site)\n"
    "    venv = _venv(executable)\n"
    "    if venv is not None:\n"
    "        sys.prefix = sys.exec_prefix = venv\n"
    "        site.PREFIXES.insert(0, venv)\n"
    "        # Its install paths (pip's) follow the prefix it read at import.\n"
    "        if 'sysconfig' in sys.modules:\n"
    "            importlib.reload(sys.modules['sysconfig'])\n"
    "        site.addsitedir(os.path.join(venv, 'lib', 'python%d.%d' % sys.version_info[:2],\n"
    "                                     'site-packages'))\n"
    "    added = sys.path[start:]\n"
    "    del sys.path[start:]\n"
    "    sys.path[first:first] = added\n"
    "\n"
    "# For a job that makes a venv and then goes on as its python (brig's\n"
    "# Python kernel, which makes the session's).\n"
    "sys.modules['_brig_warm'] = types.ModuleType('_brig_warm')\n"
    "sys.modules['_brig_warm'].use_python = _site\n"
    "\n"
    "# `python3 -c TEXT` for the text of a file the server ran (a kernel's):\n"
    "# compiled by the server.\n"
    "_compiled = {}\n"
    "\n"
    "def run(mode, target, args, env, executable):\n"
    "    os.environ.clear()\n"
    "    os.environ.update(kv.split('=', 1) for kv in env if '=' in kv)\n"
    "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "    signal.signal(signal.SIGPIPE, signal.SIG_IGN)\n"
    "    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
    "    # Seeded once in the server: every job would draw the same numbers.\n"
    "    if 'numpy.random' in sys.modules:\n"
    "        sys.modules['numpy.random'].seed()\n"
    "    # Made when matplotlib is imported, in a cold job's /tmp as in the\n"
    "    # server's (where it kept its font list): it remembers the path.\n"
    "    if 'matplotlib' in sys.modules:\n"
    "        try:\n"
    "            os.makedirs(sys.modules['matplotlib'].get_configdir(), exist_ok=True)\n"
    "        except OSError:\n"
    "            pass\n"
    "    _site(executable)\n"
    "    main = types.ModuleType('__main__')\n"
    "    main.__builtins__ = builtins\n"
    "    main.__spec__ = main.__loader__ = None\n"
    "    if mode == 'file':\n"
    "        sys.argv = [target] + args\n"
    "        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))\n"
    "        main.__file__ = target\n"
    "        main.__cached__ = None\n"
    "        try:\n"
    "            with open(target, 'rb') as f:\n"
    "                source = f.read()\n"
    "        except OSError as e:\n"
    "            print(\"python3: can't open file %r: [Errno %d] %s\"\n"
    "                  % (os.path.abspath(target), e.errno, e.strerror), file=sys.stderr)\n"
    "            return 2\n"
    "        name = target\n"
    "    else:\n"
    "        sys.argv = ['-c'] + args\n"
    "        sys.path.insert(0, '')\n"
    "        source, name = target, '<string>'\n"
    "    sys.modules['__main__'] = main\n"
    "    try:\n"
    "        code = _compiled.get(source) if mode == 'code' else None\n"
    "        exec(code or compile(source, name, 'exec'), main.__dict__)\n"
    "        status = 0\n"
    "    except SystemExit as e:\n"
    "        status = _exit_status(e)\n"
    "    except BaseException as e:\n"
    "        # Without this frame, as python3 itself would print it.\n"
    "        if e.__traceback__ is not None:\n"
    "            e.__traceback__ = e.__traceback__.tb_next\n"
    "        sys.excepthook(type(e), e, e.__traceback__)\n"
    "        status = 1\n"
    "    threading = sys.modules.get('threading')\n"
    "    if threading is not None:\n"
    "        threading._shutdown()\n"
    "    atexit._run_exitfuncs()\n"
    "    return _flush() or status\n";

static PyObject *bootstrap_run;
static PyObject *bootstrap_compiled; /* its _compiled */
/* The interpreter's executable, to tell whether the jail's python3 is it. */
static struct stat interpreter;

static void describe_exception(const char *doing, char *err, size_t errlen)
{
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    PyErr_NormalizeException(&type, &value, &trace);
    PyObject *text = value ? PyObject_Str(value) : NULL;
    const char *name = type ? ((PyTypeObject *)type)->tp_name : "error";
    const char *message = text ? PyUnicode_AsUTF8(text) : NULL;
    snprintf(err, errlen, "%s: %s: %s", doing, name, message ? message : "(no message)");
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(trace);
    PyErr_Clear();
}

static int start_interpreter(char *err, size_t errlen)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    /* Found on the server's PATH as python3 would be, so that sys.prefix and
     * sys.path are that python3's. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, "python3");
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "initialising Python: %s",
                 status.err_msg ? status.err_msg : "failed");
        return -1;
    }
    return 0;
}

/* Runs source as a module of its own; returns its globals, or NULL with the
 * exception set. */
static PyObject *run_module_source(const char *source)
{
    PyObject *globals = PyDict_New();
    if (globals == NULL ||
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) != 0) {
        Py_XDECREF(globals);
        return NULL;
    }
    PyObject *done = PyRun_String(source, Py_file_input, globals, globals);
    if (done == NULL) {
        Py_DECREF(globals);
        return NULL;
    }
    Py_DECREF(done);
    return globals;
}

static int load_bootstrap(char *err, size_t errlen)
{
    PyObject *globals = run_module_source(bootstrap_source);
    if (globals != NULL && (bootstrap_run = PyDict_GetItemString(globals, "run")) != NULL &&
        (bootstrap_compiled = PyDict_GetItemString(globals, "_compiled")) != NULL) {
        Py_INCREF(bootstrap_run);
        Py_INCREF(bootstrap_compiled);
        Py_DECREF(globals);
        return 0;
    }
    Py_XDECREF(globals);
    describe_exception("loading brig's bootstrap", err, errlen);
    return -1;
}

static int find_interpreter(char *err, size_t errlen)
{
    const char *path = Py_EncodeLocale(Py_GetProgramFullPath(), NULL);
    if (path == NULL || stat(path, &interpreter) != 0) {
        snprintf(err, errlen, "finding the interpreter's executable %s: %s",
                 path ? path : "(unknown)", strerror(errno));
        PyMem_Free((void *)path);
        return -1;
    }
    PyMem_Free((void *)path);
    return 0;
}

/* The sources of the preload entries NAME=PATH, by index; NULL for a module
 * name. */
static char **sources;

int python_read_sources(char *const *preload, char *err, size_t errlen)
{
    size_t count = 0;
    while (preload[count] != NULL)
        count++;
    sources = calloc(count + 1, sizeof(*sources));
    if (sources == NULL) {
        snprintf(err, errlen, "allocating the preload's sources: %s", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const char *path = strchr(preload[i], '=');
        if (path == NULL)
            continue;
        path++;
        FILE *f = fopen(path, "re");
        size_t len = 0;
        if (f == NULL || getdelim(&sources[i], &len, '\0', f) < 0 || ferror(f)) {
            snprintf(err, errlen, "reading the preload %s: %s", path,
                     f == NULL || ferror(f) ? strerror(errno) : "empty");
            if (f != NULL)
                fclose(f);
            return -1;
        }
        fclose(f);
    }
    return 0;
}

/* Runs source as the module name, in sys.modules from the start as an import
 * would have it; and compiles it as `python3 -c` would, for the bootstrap. */
static int run_as_module(const char *name, const char *path, const char *source)
{
    PyObject *module = PyImport_AddModule(name); /* borrowed */
    PyObject *globals = module ? PyModule_GetDict(module) : NULL;
    PyObject *file = PyUnicode_DecodeFSDefault(path);
    PyObject *text = PyUnicode_DecodeFSDefault(source);
    PyObject *code = Py_CompileString(source, path, Py_file_input);
    PyObject *as_c = Py_CompileString(source, "<string>", Py_file_input);
    PyObject *done = NULL;
    if (globals != NULL && file != NULL && text != NULL && code != NULL && as_c != NULL &&
        PyDict_SetItem(bootstrap_compiled, text, as_c) == 0 &&
        PyDict_SetItemString(globals, "__file__", file) == 0 &&
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
        done = PyEval_EvalCode(code, globals, globals);
    Py_XDECREF(file);
    Py_XDECREF(text);
    Py_XDECREF(code);
    Py_XDECREF(as_c);
    Py_XDECREF(done);
    return done != NULL ? 0 : -1;
}

static int preload_one(size_t i, const char *entry)
{
    if (sources == NULL || sources[i] == NULL) {
        PyObject *module = PyImport_ImportModule(entry);
        Py_XDECREF(module);
        return module != NULL ? 0 : -1;
    }
    const char *eq = strchr(entry, '=');
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - entry), entry);
    return run_as_module(name, eq + 1, sources[i]);
}

int python_prepare(char *const *preload, char *version, size_t version_len, char *err,
                   size_t errlen)
{
    /* Imports must not start thread pools: a warm job is a copy of this
     * process, and a copy has only the thread that made it. */
    const char *single_threaded[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS"};
    for (size_t i = 0; i < ARRAY_SIZE(single_threaded); i++)
        setenv(single_threaded[i], "1", 1);
    if (start_interpreter(err, errlen) != 0 || find_interpreter(err, errlen) != 0 ||
        load_bootstrap(err, errlen) != 0)
        return -1;
    for (size_t i = 0; preload[i] != NULL; i++) {
        if (preload_one(i, preload[i]) != 0) {
            char doing[160];
            snprintf(doing, sizeof(doing), "preloading %.140s", preload[i]);
            describe_exception(doing, err, errlen);
            return -1;
        }
    }
    /* Out of the collector's sight: a collection in a job would otherwise
     * write to every object and copy the pages it shares with the server. */
    PyObject *done = run_module_source("import gc\ngc.collect()\ngc.freeze()\n");
    if (done == NULL) {
        describe_exception("freezing the preloaded objects", err, errlen);
        return -1;
    }
    Py_DECREF(done);
    const char *full = Py_GetVersion();
    snprintf(version, version_len, "Python %.*s", (int)strcspn(full, " "), full);
    return 0;
}

/* Whether a venv's pyvenv.cfg, if there is one beside executable or a
 * directory up (where python3 looks), lets the job see the system's
 * packages: a venv without them would not have the preloaded modules. */
static bool venv_allows_warm(const char *executable)
{
    char path[PATH_MAX];
    const char *slash = strrchr(executable, '/');
    int dir_len = slash != NULL ? (int)(slash - executable) : 0;
    for (int up = 0; up < 2; up++) {
        if (up == 1) {
            const char *parent = memrchr(executable, '/', (size_t)dir_len);
            dir_len = parent != NULL ? (int)(parent - executable) : 0;
        }
        snprintf(path, sizeof(path), "%.*s/pyvenv.cfg", dir_len, executable);
        FILE *cfg = fopen(path, "re");
        if (cfg == NULL)
            continue;
        bool system_site = false;
        char line[512], key[64], value[64];
        while (fgets(line, sizeof(line), cfg) != NULL) {
            if (sscanf(line, " %63[^= ] = %63s", key, value) == 2 &&
                strcmp(key, "include-system-site-packages") == 0)
                system_site = strcasecmp(value, "true") == 0;
        }
        fclose(cfg);
        return system_site;
    }
    return true;
}

/* The path execve would have run when it is this interpreter, or NULL: the
 * first candidate that exists, as execve's search goes, is its executable. */
static const char *warm_executable(const struct jail_child *child)
{
    for (char *const *path = child->exec_candidates; *path != NULL; path++) {
        struct stat st;
        if (stat(*path, &st) == 0)
            return S_ISREG(st.st_mode) && st.st_dev == interpreter.st_dev &&
                           st.st_ino == interpreter.st_ino && venv_allows_warm(*path)
                       ? *path
                       : NULL;
    }
    return NULL;
}

static PyObject *string_list(char *const *items)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list != NULL && items != NULL && items[i] != NULL; i++) {
        PyObject *item = PyUnicode_DecodeFSDefault(items[i]);
        if (item == NULL || PyList_Append(list, item) != 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
            break;
        }
        Py_DECREF(item);
    }
    return list;
}

void python_start_job(const struct jail_child *child)
{
    char *const *argv = child->argv;
    const char *mode;
    size_t first_arg;
    if (argv[1] != NULL && strcmp(argv[1], "-c") == 0 && argv[2] != NULL) {
        mode = "code";
        first_arg = 3;
    } else if (argv[1] != NULL && argv[1][0] != '-') {
        mode = "file";
        first_arg = 2;
    } else {
        return;
    }
    const char *executable = warm_executable(child);
    if (executable == NULL)
        return;
    /* What execve would have closed; the report pipe is init's, not the job's.
     * A live jail's channel stays, as it does through execve. */
    unsigned first_closed = child->live ? CHILD_CHANNEL_OUT_FD + 1 : 3;
    if ((child->live && close_range(3, CHILD_CHANNEL_IN_FD - 1, 0) != 0) ||
        close_range(first_closed, ~0U, 0) != 0)
        _exit(127);
    PyOS_AfterFork_Child();
    PyObject *result = NULL;
    PyObject *args = string_list(argv + first_arg);
    PyObject *env = string_list(child->envp);
    PyObject *target = PyUnicode_DecodeFSDefault(argv[first_arg - 1]);
    PyObject *exe = PyUnicode_DecodeFSDefault(executable);
    if (args != NULL && env != NULL && target != NULL && exe != NULL)
        result = PyObject_CallFunction(bootstrap_run, "sOOOO", mode, target, args, env, exe);
    int status = 1;
    if (result != NULL && PyLong_Check(result))
        status = (int)PyLong_AsLong(result);
    else
        PyErr_Print();
    fflush(stderr);
    _exit(status);
}
