"""brig-jail --lang: each shipped runtime end to end, compile errors, runtime
versions in the record, and how the runtime table is found and checked."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, bin_path

TIMEOUT = 300
TABLE = ROOT / "sandbox" / "runtimes.json"

HELLO = {
    "python": ("main.py", "import sys\nprint('hello from python', sys.argv[1:])\n",
               r"Python 3\.\d+"),
    "javascript": ("main.js", "console.log('hello from javascript', process.argv.slice(2));\n",
                   r"v\d+\.\d+"),
    "typescript": ("main.ts",
                   "const who: string = 'typescript';\nconsole.log(`hello from ${who}`);\n",
                   r"esbuild \d+\.\d+.*node v\d+"),
    "typescript-checked": ("main.ts",
                           "const who: string = 'typescript';\n"
                           "console.log(`hello from ${who}`);\n",
                           r"typescript \d+\.\d+.*node v\d+"),
    "bash": ("main.sh", "echo \"hello from bash ${BASH_VERSINFO[0]} $*\"\n", r"GNU bash"),
    "sh": ("main.sh", "echo \"hello from sh $*\"\n", r"dash \d"),
    "r": ("main.R",
          "cat(sprintf('hello from r %d\\n', length(commandArgs(trailingOnly = TRUE))))\n",
          r"^R version \d+\.\d+\.\d+"),
    "java": ("Main.java",
             "public class Main {\n"
             "    public static void main(String[] args) {\n"
             "        System.out.println(\"hello from java \" + args.length);\n    }\n}\n",
             r"^openjdk version \"17\."),
    "go": ("main.go",
           "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n"
           "func main() {\n\tfmt.Println(\"hello from go\", len(os.Args))\n}\n",
           r"^go version go1\.\d+"),
    "ruby": ("main.rb", "puts \"hello from ruby #{ARGV.length}\"\n", r"^ruby 3\.\d+"),
    "c": ("main.c",
          "#include <math.h>\n#include <stdio.h>\n"
          "int main(int argc, char **argv) {\n"
          "    printf(\"hello from c %d %.0f\\n\", argc, sqrt(16.0));\n    return 0;\n}\n",
          r"gcc"),
}

EXPECTED = {
    "python": b"hello from python []\n",
    "javascript": b"hello from javascript []\n",
    "typescript": b"hello from typescript\n",
    "typescript-checked": b"hello from typescript\n",
    "bash": re.compile(rb"hello from bash \d+ \n"),
    "sh": b"hello from sh \n",
    "c": b"hello from c 1 4\n",
    "r": b"hello from r 0\n",
    "java": b"hello from java 0\n",
    "go": b"hello from go 1\n",
    "ruby": b"hello from ruby 0\n",
}

# Reads whole numbers from its standard input to its end and prints the sum.
SUM_STDIN = {
    "python": "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n",
    "r": "x <- scan(file('stdin'), quiet = TRUE)\ncat(sum(x), '\\n', sep = '')\n",
    "java": "import java.util.Scanner;\n\npublic class Main {\n"
            "    public static void main(String[] args) {\n"
            "        Scanner in = new Scanner(System.in);\n        long sum = 0;\n"
            "        while (in.hasNextLong()) sum += in.nextLong();\n"
            "        System.out.println(sum);\n    }\n}\n",
    "go": "package main\n\nimport (\n\t\"bufio\"\n\t\"fmt\"\n\t\"os\"\n\t\"strconv\"\n)\n\n"
          "func main() {\n\tscanner := bufio.NewScanner(os.Stdin)\n"
          "\tscanner.Split(bufio.ScanWords)\n\tsum := 0\n\tfor scanner.Scan() {\n"
          "\t\tn, _ := strconv.Atoi(scanner.Text())\n\t\tsum += n\n\t}\n"
          "\tfmt.Println(sum)\n}\n",
    "ruby": "puts STDIN.read.split.map(&:to_i).sum\n",
}


def jail(*args, stdin=None, env=None, exe=None):
    argv = [exe or bin_path("brig-jail")] + [str(a) for a in args]
    run_env = {"PATH": os.environ["PATH"], "BRIG_RUNTIMES": str(TABLE)}
    if env is not None:
        run_env = {"PATH": os.environ["PATH"], **env}
    return subprocess.run(argv, input=stdin, capture_output=True, env=run_env, timeout=TIMEOUT)


def check_stdout(lang, stdout):
    expected = EXPECTED[lang]
    if isinstance(expected, bytes):
        assert stdout == expected
    else:
        assert expected.fullmatch(stdout), stdout


@pytest.mark.parametrize("lang", sorted(HELLO))
def test_hello_from_a_file(lang, tmp_path):
    name, code, version = HELLO[lang]
    source = tmp_path / name
    source.write_text(code)
    record_path = tmp_path / "o.json"
    proc = jail("--lang", lang, "--code", source, "--json", record_path)
    assert proc.returncode == 0, proc.stderr
    check_stdout(lang, proc.stdout)
    record = json.loads(record_path.read_text())
    assert record["status"] == "ok"
    assert record["runtime"]["name"] == lang
    assert re.search(version, record["runtime"]["version"]), record["runtime"]
    assert f"runtime={lang} (" in proc.stderr.decode()


@pytest.mark.parametrize("lang", sorted(HELLO))
def test_hello_from_stdin(lang):
    _, code, _ = HELLO[lang]
    proc = jail("--quiet", "--lang", lang, "--code", "-", stdin=code.encode())
    assert proc.returncode == 0, proc.stderr
    check_stdout(lang, proc.stdout)
    assert proc.stderr == b""


def test_aliases_and_program_arguments():
    proc = jail("--lang", "py", "--code", "-", "--", "one", "--two",
                stdin=HELLO["python"][1].encode())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello from python ['one', '--two']\n"

    proc = jail("--lang", "gcc", "--code", "-", "a", "b", stdin=HELLO["c"][1].encode())
    assert proc.stdout == b"hello from c 3 4\n"


@pytest.mark.parametrize("lang", sorted(SUM_STDIN))
def test_program_reads_its_stdin_to_the_end(lang, tmp_path):
    source = tmp_path / HELLO[lang][0]
    source.write_text(SUM_STDIN[lang])
    numbers = tmp_path / "numbers.txt"
    numbers.write_text(" ".join(str(n) for n in range(1, 1001)) + "\n")
    proc = jail("--quiet", "--lang", lang, "--code", source, "--stdin", numbers)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"500500\n"


# A program that fails while it runs: status failed, the language's own words.
RUNTIME_ERRORS = {
    "r": ("stop('bad input')\n", 1, "Error: bad input"),
    "ruby": ("raise ArgumentError, 'bad input'\n", 1, "bad input (ArgumentError)"),
    "java": ("public class Main {\n    public static void main(String[] args) {\n"
             "        throw new IllegalStateException(\"bad input\");\n    }\n}\n", 1,
             "java.lang.IllegalStateException: bad input"),
    "go": ("package main\n\nfunc main() {\n\tpanic(\"bad input\")\n}\n", 2,
           "panic: bad input"),
}


@pytest.mark.parametrize("lang", sorted(RUNTIME_ERRORS))
def test_runtime_error_is_a_failure(lang, tmp_path):
    code, status, words = RUNTIME_ERRORS[lang]
    record_path = tmp_path / "o.json"
    proc = jail("--quiet", "--lang", lang, "--code", "-", "--json", record_path,
                stdin=code.encode())
    assert proc.returncode == status, proc.stderr
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed"
    assert record["exit_code"] == status
    assert words in record["stderr"], record["stderr"]


def test_program_stdin_and_exit_status(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("3\n4\n")
    code = tmp_path / "main.py"
    code.write_text("import sys\nprint(sum(int(x) for x in sys.stdin))\nsys.exit(4)\n")
    proc = jail("--lang", "python", "--code", code, "--stdin", data)
    assert proc.returncode == 4
    assert proc.stdout == b"7\n"


def failed_compile(tmp_path, lang, code, compiler):
    """Runs code that does not compile: exit 119, nothing on stdout, and a
    compile_error record whose message names the compiler."""
    record_path = tmp_path / "o.json"
    proc = jail("--lang", lang, "--code", "-", "--json", record_path, stdin=code)
    assert proc.returncode == 119, proc.stderr
    assert proc.stdout == b""
    assert "brig-jail: compile_error" in proc.stderr.decode(errors="replace")
    record = json.loads(record_path.read_text())
    assert record["status"] == "compile_error"
    assert record["stdout"] == ""
    assert record["message"].startswith(f"{compiler} exited with status"), record["message"]
    return proc, record


def test_c_compile_error(tmp_path):
    proc, record = failed_compile(tmp_path, "c", b"int main(void) { return missing_name; }\n",
                                  "gcc")
    err = proc.stderr.decode()
    assert "main.c" in err and "missing_name" in err and "error" in err
    assert "missing_name" in record["stderr"]
    assert record["runtime"]["name"] == "c"


TYPE_ERROR = b"const n: number = 'not a number';\nconsole.log(n);\n"


def test_java_compile_error(tmp_path):
    code = b"public class Main {\n    public static void main(String[] a) { int x = \"s\"; }\n}\n"
    _, record = failed_compile(tmp_path, "java", code, "javac")
    assert "Main.java:2: error: incompatible types" in record["stderr"]
    assert record["runtime"]["name"] == "java"


def test_go_compile_error(tmp_path):
    code = b"package main\n\nfunc main() {\n\tx := 1\n}\n"
    _, record = failed_compile(tmp_path, "go", code, "env")
    assert "main.go:4:2: x declared but not used" in record["stderr"]
    assert record["runtime"]["name"] == "go"


def test_go_builds_offline_and_leaves_no_cache_in_work(tmp_path):
    # A module the machine does not have is refused at once (GOPROXY=off),
    # not looked up on a network the compile step does not have; the build
    # cache lives in the compile step's own /tmp.
    code = (b'package main\n\nimport "example.com/missing/pkg"\n\n'
            b"func main() { pkg.Do() }\n")
    _, record = failed_compile(tmp_path, "go", code, "env")
    assert "example.com/missing/pkg" in record["stderr"]
    listing = (b'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\n'
               b'func main() {\n\tentries, _ := os.ReadDir("/work")\n'
               b"\tfor _, e := range entries {\n\t\tfmt.Println(e.Name())\n\t}\n}\n")
    proc = jail("--quiet", "--lang", "go", "--code", "-", stdin=listing)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"main\nmain.go\n"


def test_typescript_type_error_is_a_compile_error_when_checked(tmp_path):
    proc, record = failed_compile(tmp_path, "tsc", TYPE_ERROR, "tsc")
    assert b"TS2322" in proc.stderr
    assert "TS2322" in record["stderr"]
    assert record["runtime"]["name"] == "typescript-checked"


def test_typescript_transpiles_without_checking_types(tmp_path):
    # The default runtime strips the types and runs: node's pace, node's
    # semantics; checking is what typescript-checked (tsc) is for.
    record_path = tmp_path / "o.json"
    proc = jail("--lang", "ts", "--code", "-", "--json", record_path, stdin=TYPE_ERROR)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"not a number\n"
    record = json.loads(record_path.read_text())
    assert record["runtime"]["name"] == "typescript"
    assert re.search(r"compile=[\d.]+m?s ", proc.stderr.decode()), proc.stderr


def test_typescript_syntax_error_is_a_compile_error(tmp_path):
    _, record = failed_compile(tmp_path, "typescript", b"const x: number = ;\n", "esbuild")
    assert "main.ts:1:" in record["stderr"] and "Unexpected" in record["stderr"]
    assert record["runtime"]["compile_us"] == record["wall_us"]


@pytest.mark.parametrize("lang,compiled", [("typescript", True), ("c", True),
                                           ("python", False)])
def test_compile_time_is_reported_apart(lang, compiled, tmp_path):
    name, code, _ = HELLO[lang]
    record_path = tmp_path / "o.json"
    proc = jail("--lang", lang, "--code", "-", "--json", record_path, stdin=code.encode())
    assert proc.returncode == 0, proc.stderr
    compile_us = json.loads(record_path.read_text())["runtime"]["compile_us"]
    if compiled:
        assert isinstance(compile_us, int) and compile_us > 0
    else:
        assert compile_us is None


def test_compiled_program_runs_in_a_fresh_jail_on_the_same_workspace():
    # The compile step's processes are gone and its files stay: the program
    # sees its own binary next to the source, and no compiler left running.
    code = (b"#include <stdio.h>\n#include <unistd.h>\n"
            b"int main(void) {\n"
            b"    printf(\"%d %d %d\\n\", access(\"/work/main.c\", R_OK),"
            b" access(\"/work/main\", X_OK), (int)getpid());\n"
            b"    return 0;\n}\n")
    proc = jail("--lang", "c", "--code", "-", stdin=code)
    assert proc.returncode == 0, proc.stderr
    main_c, main_bin, pid = proc.stdout.split()
    assert (main_c, main_bin) == (b"0", b"0")
    # A fresh pid namespace: the program is its init or close to it.
    assert int(pid) <= 2


def test_runtime_limits_still_apply(tmp_path):
    record_path = tmp_path / "o.json"
    proc = jail("--lang", "python", "--code", "-", "--wall-time", "1s", "--json", record_path,
                stdin=b"import time\ntime.sleep(60)\n")
    assert proc.returncode == 124
    record = json.loads(record_path.read_text())
    assert record["status"] == "timeout"
    assert record["runtime"]["name"] == "python"


def test_unknown_language_lists_the_table():
    proc = jail("--lang", "cobol", "--code", "-", stdin=b"")
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "--lang: no runtime \"cobol\"" in err
    for name in HELLO:
        assert name in err


def test_bad_runtime_table_names_the_field(tmp_path):
    table = tmp_path / "runtimes.json"
    table.write_text(json.dumps({"runtimes": [
        {"name": "shell", "source": "main.sh", "run": ["sh", "main.sh"],
         "version": ["sh", "-c", "echo 1"], "compile": {"argv": ["true"],
                                                        "limits": {"memory": "lots"}}}]}))
    proc = jail("--runtimes", table, "--lang", "shell", "--code", "-", stdin=b"echo hi\n")
    assert proc.returncode == 125
    assert (f"{table}: runtimes[0] (\"shell\"): compile.limits.memory: \"lots\" is not a size"
            in proc.stderr.decode())


def test_broken_version_command_is_a_setup_error(tmp_path):
    table = tmp_path / "runtimes.json"
    table.write_text(json.dumps({"runtimes": [
        {"name": "shell", "source": "main.sh", "run": ["sh", "main.sh"],
         "version": ["sh", "-c", "exit 9"]}]}))
    proc = jail("--runtimes", table, "--lang", "shell", "--code", "-", stdin=b"echo hi\n")
    assert proc.returncode == 125
    assert proc.stdout == b""
    assert "runtime shell: the version command failed: sh exited with status 9" in \
        proc.stderr.decode()


def custom_table(path, name, word):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runtimes": [
        {"name": name, "source": "main.sh", "run": ["sh", "main.sh", word],
         "version": ["sh", "-c", f"echo {name} 1.0"]}]}))


def test_runtime_table_search_order(tmp_path):
    # An installed layout: <prefix>/bin/brig-jail and <prefix>/share/brig/runtimes.json.
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    exe = prefix / "bin" / "brig-jail"
    shutil.copy(bin_path("brig-jail"), exe)
    custom_table(prefix / "share" / "brig" / "runtimes.json", "installed", "from-share")
    custom_table(tmp_path / "env.json", "fromenv", "from-env")
    custom_table(tmp_path / "option.json", "fromoption", "from-option")
    code = b"echo \"$1\"\n"

    proc = jail("--lang", "installed", "--code", "-", stdin=code, env={}, exe=exe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"from-share\n"

    env = {"BRIG_RUNTIMES": str(tmp_path / "env.json")}
    proc = jail("--lang", "fromenv", "--code", "-", stdin=code, env=env, exe=exe)
    assert proc.stdout == b"from-env\n", proc.stderr

    proc = jail("--runtimes", tmp_path / "option.json", "--lang", "fromoption", "--code", "-",
                stdin=code, env=env, exe=exe)
    assert proc.stdout == b"from-option\n", proc.stderr

    # With neither, the source tree brig-jail was built from: this one.
    lonely = tmp_path / "lonely" / "bin"
    lonely.mkdir(parents=True)
    shutil.copy(bin_path("brig-jail"), lonely / "brig-jail")
    proc = jail("--lang", "sh", "--code", "-", "x", stdin=code, env={}, exe=lonely / "brig-jail")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"x\n"

    # A table named but missing is a setup error that names it.
    proc = jail("--runtimes", tmp_path / "absent.json", "--lang", "sh", "--code", "-",
                stdin=code, exe=exe)
    assert proc.returncode == 125
    assert f"opening the runtime table {tmp_path / 'absent.json'}: No such file".encode() in \
        proc.stderr


def test_adding_a_language(tmp_path):
    """README's "Adding a language", followed to the letter: Lua from
    Debian's lua5.4, one entry appended to a copy of the shipped table."""
    table = json.loads(TABLE.read_text())
    table["runtimes"].append({
        "name": "lua", "aliases": ["lua5.4"], "source": "main.lua",
        "run": ["lua5.4", "main.lua"], "version": ["lua5.4", "-v"]})
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(table, indent=2))
    record_path = tmp_path / "o.json"
    proc = jail("--runtimes", path, "--lang", "lua", "--code", "-", "--json", record_path,
                "--", "a", "b", stdin=b"print('hello from lua ' .. #arg)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"hello from lua 2\n"
    record = json.loads(record_path.read_text())
    assert record["runtime"]["name"] == "lua"
    assert record["runtime"]["version"].startswith("Lua 5.4")

    source = tmp_path / "main.lua"
    source.write_text("local sum = 0\nfor n in io.read('a'):gmatch('%d+') do "
                      "sum = sum + tonumber(n) end\nprint(sum)\n")
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("1 2 3 4\n")
    proc = jail("--runtimes", path, "--quiet", "--lang", "lua5.4", "--code", source, "--stdin",
                numbers)
    assert (proc.returncode, proc.stdout) == (0, b"10\n"), proc.stderr

    proc = jail("--runtimes", path, "--quiet", "--lang", "lua", "--code", "-",
                stdin=b"error('bad input')\n")
    assert proc.returncode == 1
    assert b"bad input" in proc.stderr
