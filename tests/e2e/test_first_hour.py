"""An agent's first hour: the code LLMs write when they are handed an
"execute code" tool, each snippet a job on one worker with several slots, all
submitted at once, each Python snippet both cold and on a warm runtime that
preloads the data stack, each asserting its output. The chart job's PNG comes
back, decodes, has the size asked for and is the same bytes cold and warm;
and `brig run -f data.csv --collect 'out/*' --lang python plot.py` works as
typed, with no flag about the environment.

TypeScript snippets are plain typed code (interfaces, generics, enums,
async): they pass whether the runtime type-checks with tsc or only
transpiles."""
import io
import os
import subprocess
import time

import pytest
from PIL import Image

from conftest import bin_path
from harness import Broker, Client, Worker, job, warm_table

WARM_PRELOAD = ["numpy", "pandas", "matplotlib.pyplot"]
# Room for a loaded machine: the matrix checks what the code does, not how fast.
LIMITS = {"wall_ms": 120000, "cpu_ms": 60000}

DATA_CSV = b"""region,month,sales
north,jan,120
south,jan,80
east,jan,95
north,feb,130
south,feb,70
east,feb,105
west,feb,60
"""

# What an agent writes for "plot sales by region": pandas, then matplotlib,
# saved where --collect finds it. The metadata and DPI are fixed, as a
# reproducible chart needs.
PLOT_PY = b"""import os

import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("data.csv")
summary = df.groupby("region")["sales"].sum().sort_values()
print(summary.to_string())
os.makedirs("out", exist_ok=True)
fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
summary.plot.barh(ax=ax, color="steelblue", title="Sales by region")
ax.set_xlabel("sales")
fig.tight_layout()
fig.savefig("out/chart.png", metadata={"Software": None})
print("saved out/chart.png")
"""
PLOT_STDOUT = (b"region\nwest      60\nsouth    150\neast     200\nnorth    250\n"
               b"saved out/chart.png\n")
CHART_SIZE = (400, 300)


def snippet(name, runtime, code, stdout=None, **fields):
    """One job of the matrix: name, runtime, code, the stdout it must print
    (bytes), and job fields (files, stdin, args, collect); `expect` holds what
    else to check: status, exit_code, stderr (bytes it must contain, or b""
    for none at all), check (a function of the result)."""
    expect = {k: fields.pop(k) for k in ("status", "exit_code", "stderr", "check")
              if k in fields}
    return {"name": name, "runtime": runtime, "code": code, "stdout": stdout,
            "fields": fields, "expect": expect}


PYTHON = [
    snippet("pandas-matplotlib-chart", "python", PLOT_PY, PLOT_STDOUT,
            files={"data.csv": DATA_CSV}, collect=["out/*"], stderr=b""),
    snippet("numpy-linalg", "python", b"""
import numpy as np
a = np.array([[3.0, 1.0], [1.0, 2.0]])
b = np.array([9.0, 8.0])
x = np.linalg.solve(a, b)
print(x.round(6).tolist(), np.allclose(a @ x, b))
print(np.arange(12).reshape(3, 4).sum(axis=0).tolist())
rng = np.random.default_rng(42)
print(rng.integers(0, 100, 5).tolist())
""", b"[2.0, 3.0] True\n[12, 15, 18, 21]\n[8, 77, 65, 43, 43]\n", stderr=b""),
    snippet("scipy-maths", "python", b"""
from scipy import integrate, optimize, stats
res = optimize.minimize(lambda v: (v[0] - 1) ** 2 + (v[1] + 2) ** 2, [0, 0])
print([round(v, 4) for v in res.x])
area, _ = integrate.quad(lambda t: t ** 2, 0, 3)
print(round(area, 6))
print(round(stats.norm.cdf(1.96), 4))
""", b"[1.0, -2.0]\n9.0\n0.975\n", stderr=b""),
    snippet("pandas-groupby", "python", b"""
import pandas as pd
df = pd.read_csv("data.csv")
print(df.pivot_table(index="region", columns="month", values="sales", aggfunc="sum")
        .fillna(0).astype(int).to_csv(), end="")
print(df.describe().loc["mean", "sales"].round(2))
""", b"region,feb,jan\neast,105,95\nnorth,130,120\nsouth,70,80\nwest,60,0\n94.29\n",
            files={"data.csv": DATA_CSV}, stderr=b""),
    snippet("pytest-generated-module", "python", b"""
import subprocess, sys, textwrap
open("calc.py", "w").write(textwrap.dedent('''
    def add(a, b):
        return a + b

    def mean(xs):
        return sum(xs) / len(xs)
'''))
open("test_calc.py", "w").write(textwrap.dedent('''
    import pytest
    from calc import add, mean

    def test_add():
        assert add(2, 3) == 5

    @pytest.mark.parametrize("xs,m", [([1, 2, 3], 2), ([4], 4)])
    def test_mean(xs, m):
        assert mean(xs) == m
'''))
r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                   capture_output=True, text=True)
print(r.returncode, r.stdout.strip().splitlines()[-1].split(" in ")[0])
""", b"0 3 passed\n", stderr=b""),
    snippet("sqlite3", "python", b"""
import sqlite3
db = sqlite3.connect("shop.db")
db.execute("CREATE TABLE items (name TEXT, price REAL, qty INTEGER)")
db.executemany("INSERT INTO items VALUES (?, ?, ?)",
               [("pen", 1.5, 10), ("book", 12.0, 2), ("bag", 30.0, 1)])
db.commit()
for row in db.execute("SELECT name, price * qty AS total FROM items ORDER BY total DESC"):
    print(*row)
print(db.execute("SELECT sqlite_version() > '3'").fetchone()[0])
""", b"bag 30.0\nbook 24.0\npen 15.0\n1\n", stderr=b""),
    snippet("csv-and-json", "python", b"""
import csv, json
with open("people.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["name", "age"])
    w.writeheader()
    w.writerows([{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}])
with open("people.csv", newline="") as f:
    rows = [dict(r, age=int(r["age"])) for r in csv.DictReader(f)]
json.dump(rows, open("people.json", "w"), indent=2)
print(json.dumps(json.load(open("people.json")), sort_keys=True))
""", b'[{"age": 36, "name": "Ada"}, {"age": 41, "name": "Alan"}]\n', stderr=b""),
    snippet("threads", "python", b"""
import threading
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(max_workers=4) as pool:
    print(sum(pool.map(lambda n: n * n, range(100))))
lock, total = threading.Lock(), [0]
def work():
    for _ in range(1000):
        with lock:
            total[0] += 1
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(total[0])
""", b"328350\n8000\n", stderr=b""),
    snippet("multiprocessing", "python", b"""
import multiprocessing as mp

def square(n):
    return n * n

if __name__ == "__main__":
    with mp.Pool(2) as pool:
        print(pool.map(square, range(6)))
    q = mp.Queue()
    p = mp.Process(target=q.put, args=("from a child",))
    p.start(); print(q.get()); p.join(); print(p.exitcode)
""", b"[0, 1, 4, 9, 16, 25]\nfrom a child\n0\n", stderr=b""),
    snippet("subprocess", "python", b"""
import subprocess
print(subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout, end="")
print(subprocess.check_output("seq 1 5 | paste -sd+ | bc", shell=True, text=True), end="")
r = subprocess.run(["sh", "-c", "echo oops >&2; exit 3"], capture_output=True, text=True)
print(r.returncode, r.stderr.strip())
""", b"hi\n15\n3 oops\n", stderr=b""),
    snippet("asyncio", "python", b"""
import asyncio

async def fetch(name, delay):
    await asyncio.sleep(delay)
    return name

async def main():
    done = []
    for coro in asyncio.as_completed([fetch("slow", 0.2), fetch("fast", 0.01)]):
        done.append(await coro)
    print(done, await asyncio.gather(fetch("a", 0), fetch("b", 0)))

asyncio.run(main())
""", b"['fast', 'slow'] ['a', 'b']\n", stderr=b""),
    snippet("dev-stdout-stderr", "python", b"""
import sys
with open("/dev/stdout", "w") as out:
    out.write("to /dev/stdout\\n")
with open("/dev/stderr", "w") as err:
    err.write("to /dev/stderr\\n")
print("print", flush=True)
print("warn", file=sys.stderr)
""", b"to /dev/stdout\nprint\n", stderr=b"to /dev/stderr\nwarn\n"),
    snippet("stdin-to-eof", "python", b"""
import sys
text = sys.stdin.read()
print(len(text.split()), len(text.splitlines()), text.splitlines()[-1])
""", b"9 3 the end\n", stdin=b"one two three\nfour five six seven\nthe end\n",
            stderr=b""),
    snippet("unicode-locale-timezones", "python", b"""
import datetime, locale, sys
from zoneinfo import ZoneInfo
locale.setlocale(locale.LC_ALL, "")
print(sys.stdout.encoding, locale.getpreferredencoding(), "h\\u00e9llo \\u2713")
t = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
print(t.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M %Z"),
      t.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M %Z"))
print(datetime.datetime.now().astimezone().tzname())
""", "utf-8 UTF-8 h\u00e9llo \u2713\n14:00 CEST 08:00 EDT\nUTC\n".encode(), stderr=b""),
    snippet("certificates-and-fonts", "python", b"""
import ssl, subprocess
print(ssl.create_default_context().cert_store_stats()["x509_ca"] > 100)
print(subprocess.run(["fc-match", "sans-serif"], capture_output=True, text=True).stdout, end="")
from matplotlib import font_manager
print(font_manager.findfont("DejaVu Sans").rsplit("/", 1)[1])
""", b'True\nDejaVuSans.ttf: "DejaVu Sans" "Book"\nDejaVuSans.ttf\n', stderr=b""),
    snippet("matplotlib-own-directories", "python", b"""
import os
import matplotlib
from matplotlib import font_manager
d = matplotlib.get_cachedir()
print(d, os.path.isdir(d), os.access(d, os.W_OK), matplotlib.get_backend())
font_manager.json_dump(font_manager.fontManager, os.path.join(d, "fontlist-copy.json"))
print(os.path.getsize(os.path.join(d, "fontlist-copy.json")) > 1000)
""", b"/tmp/matplotlib True True agg\nTrue\n", stderr=b""),
    snippet("files-and-tmp", "python", b"""
import pathlib, tempfile, zipfile, gzip, shutil
work = pathlib.Path("results")
work.mkdir()
(work / "a.txt").write_text("alpha\\n")
with tempfile.TemporaryDirectory() as tmp:
    p = pathlib.Path(tmp) / "b.txt.gz"
    with gzip.open(p, "wt") as f:
        f.write("beta\\n")
    shutil.copy(p, work)
with zipfile.ZipFile("results.zip", "w") as z:
    for f in sorted(work.iterdir()):
        z.write(f)
print(zipfile.ZipFile("results.zip").namelist(), tempfile.gettempdir())
print(gzip.open("results/b.txt.gz", "rt").read(), end="")
""", b"['results/a.txt', 'results/b.txt.gz'] /tmp\nbeta\n", stderr=b""),
    snippet("argparse-args", "python", b"""
import argparse
p = argparse.ArgumentParser()
p.add_argument("n", type=int)
p.add_argument("--name", default="world")
a = p.parse_args()
print(f"hello {a.name} " * a.n)
""", b"hello brig hello brig \n", args=["2", "--name", "brig"], stderr=b""),
    snippet("word-count-collections", "python", b"""
import collections, re
text = "the cat and the hat and the bat"
print(collections.Counter(re.findall(r"\\w+", text)).most_common(2))
""", b"[('the', 3), ('and', 2)]\n", stderr=b""),
    snippet("exception-traceback", "python", b"""
def ratio(a, b):
    return a / b

print("before")
print(ratio(1, 0))
""", b"before\n", status="failed", exit_code=1, stderr=b"ZeroDivisionError: division by zero"),
    snippet("exit-status", "python", b"import sys\nprint('bye')\nsys.exit(3)\n", b"bye\n",
            status="failed", exit_code=3, stderr=b""),
]

OTHERS = [
    snippet("bash-tee-pipes", "bash", b"""set -euo pipefail
echo hello | tee out.txt | tr a-z A-Z
cat out.txt
seq 1 10 | awk '{s += $1} END {print s}'
printf 'b\\na\\nb\\n' | sort | uniq -c | sed 's/^ *//'
""", b"HELLO\nhello\n55\n1 a\n2 b\n"),
    snippet("bash-heredocs", "bash", b"""name=brig
cat <<EOF
hi $name
EOF
cat <<'EOF'
literal $name
EOF
python3 - <<'EOF'
print(sum(range(10)))
EOF
""", b"hi brig\nliteral $name\n45\n"),
    snippet("bash-dev-stdout-stderr", "bash", b"""echo out > /dev/stdout
echo err > /dev/stderr
echo err2 >&2
diff <(printf 'a\\n') <(printf 'a\\n') && echo same
""", b"out\nsame\n", stderr=b"err\nerr2\n"),
    snippet("bash-functions-arrays", "bash", b"""greet() { local who=$1; echo "hello, $who"; }
langs=(python node c)
for l in "${langs[@]}"; do greet "$l"; done
echo "${#langs[@]} ${langs[-1]}"
declare -A ages=([ada]=36)
echo "${ages[ada]}"
""", b"hello, python\nhello, node\nhello, c\n3 c\n36\n"),
    snippet("bash-stdin-to-eof", "bash", b"wc -l | tr -d ' '\n", b"3\n", stdin=b"a\nb\nc\n"),
    snippet("bash-find-xargs-dates", "bash", b"""mkdir -p src/a src/b
touch src/a/x.py src/b/y.py src/b/z.txt
find src -name '*.py' | sort | xargs -n1 basename
date -u -d @0 +%Y-%m-%dT%H:%M
TZ=Asia/Tokyo date -d @0 +%H:%M
""", b"x.py\ny.py\n1970-01-01T00:00\n09:00\n"),
    snippet("sh-posix", "sh", b"""i=0
while [ $i -lt 3 ]; do i=$((i + 1)); printf '%s ' $i; done
echo
case "brig" in b*) echo starts-with-b ;; esac
""", b"1 2 3 \nstarts-with-b\n"),
    snippet("node-fs", "javascript", b"""const fs = require('fs');
const path = require('path');
fs.mkdirSync('data', {recursive: true});
fs.writeFileSync(path.join('data', 'n.json'), JSON.stringify({n: [1, 2, 3]}));
const n = JSON.parse(fs.readFileSync('data/n.json', 'utf8')).n;
console.log(n.reduce((a, b) => a + b, 0), fs.readdirSync('data'));
fs.promises.readFile('data/n.json', 'utf8').then(t => console.log(t.length));
""", b"6 [ 'n.json' ]\n13\n"),
    snippet("node-child-process", "javascript", b"""const {execSync, spawnSync, exec} = require('child_process');
console.log(execSync('echo hi').toString().trim());
const r = spawnSync('sh', ['-c', 'echo err >&2; exit 2']);
console.log(r.status, r.stderr.toString().trim());
exec('seq 3 | paste -sd,', (err, out) => console.log(err, out.trim()));
""", b"hi\n2 err\nnull 1,2,3\n"),
    snippet("node-worker-threads", "javascript", b"""const {Worker} = require('worker_threads');
const code = `
const {parentPort, workerData} = require('worker_threads');
parentPort.postMessage(workerData.map(x => x * 2));
`;
const w = new Worker(code, {eval: true, workerData: [1, 2, 3]});
w.on('message', m => console.log('from worker', m));
w.on('exit', c => console.log('exit', c));
""", b"from worker [ 2, 4, 6 ]\nexit 0\n"),
    snippet("node-esm-top-level-await", "javascript", b"""import {readFile} from 'node:fs/promises';
import {setTimeout as sleep} from 'node:timers/promises';
await sleep(10);
const pkg = JSON.parse(await readFile('package.json', 'utf8'));
console.log(pkg.type, typeof require);
""", b"module undefined\n", files={"package.json": b'{"type": "module"}\n'}),
    snippet("node-mjs-stdin-to-eof", "javascript", b"""const {execFileSync} = require('child_process');
require('fs').writeFileSync('count.mjs', `
let text = '';
for await (const chunk of process.stdin) text += chunk;
console.log(text.split(/\\\\s+/).filter(Boolean).length);
`);
console.log(execFileSync('node', ['count.mjs'], {input: 'a b c\\nd e\\n'}).toString().trim());
""", b"5\n"),
    snippet("node-dev-stdout-stderr", "javascript", b"""const fs = require('fs');
fs.writeFileSync('/dev/stdout', 'to /dev/stdout\\n');
fs.writeFileSync('/dev/stderr', 'to /dev/stderr\\n');
console.error('console.error');
""", b"to /dev/stdout\n", stderr=b"to /dev/stderr\nconsole.error\n"),
    snippet("typescript-interfaces-generics", "typescript", b"""interface Shape {
  name: string;
  area(): number;
}
class Rect implements Shape {
  constructor(public name: string, private w: number, private h: number) {}
  area(): number { return this.w * this.h; }
}
function largest<T extends Shape>(shapes: T[]): T | undefined {
  return shapes.reduce<T | undefined>((best, s) => (!best || s.area() > best.area() ? s : best),
                                      undefined);
}
const shapes: Shape[] = [new Rect('a', 2, 3), new Rect('b', 4, 1)];
console.log(largest(shapes)?.name, shapes.map(s => s.area()));
""", b"a [ 6, 4 ]\n"),
    snippet("typescript-enums-async", "typescript", b"""enum Level { Low = 1, High = 3 }
enum Color { Red = 'red', Green = 'green' }
type Job = { id: number; level: Level };
const wait = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));
async function run(jobs: Job[]): Promise<string[]> {
  const out: string[] = [];
  for (const j of jobs) {
    await wait(5);
    out.push(`${j.id}:${Level[j.level]}`);
  }
  return out;
}
run([{id: 1, level: Level.High}, {id: 2, level: Level.Low}])
  .then(r => console.log(r.join(' '), Color.Green));
""", b"1:High 2:Low green\n"),
    snippet("typescript-classes-generics-map", "typescript", b"""class Stack<T> {
  private items: T[] = [];
  push(x: T): this { this.items.push(x); return this; }
  pop(): T | undefined { return this.items.pop(); }
  get size(): number { return this.items.length; }
}
const s = new Stack<number>().push(1).push(2).push(3);
const m = new Map<string, number>([['x', 1]]);
const readonlyPair: readonly [string, number] = ['y', 2];
m.set(...readonlyPair);
console.log(s.pop(), s.size, [...m.entries()]);
""", b"3 2 [ [ 'x', 1 ], [ 'y', 2 ] ]\n"),
    snippet("c-math", "c", b"""#include <math.h>
#include <stdio.h>

int main(void)
{
    double r = sqrt(2.0);
    printf("%.6f %.3f %.0f\\n", r, pow(r, 4), floor(-0.5));
    printf("%.4f\\n", atan2(1.0, 1.0) * 4);
    return 0;
}
""", b"1.414214 4.000 -1\n3.1416\n"),
    snippet("c-stdin-to-eof", "c", b"""#include <stdio.h>

int main(void)
{
    long bytes = 0, lines = 0;
    int c;
    while ((c = getchar()) != EOF) {
        bytes++;
        if (c == '\\n')
            lines++;
    }
    printf("%ld bytes, %ld lines\\n", bytes, lines);
    return 0;
}
""", b"12 bytes, 2 lines\n", stdin=b"hello\nworld\n"),
    snippet("c-compile-error", "c", b"int main(void) { return undeclared; }\n", b"",
            status="compile_error", stderr=b"undeclared (first use in this function)"),
]

# Each Python snippet cold and warm; the others as they come.
RUNS = [(s, mode) for s in PYTHON for mode in ("cold", "warm")] + [(s, "") for s in OTHERS]


def run_id(run):
    s, mode = run
    return f"{s['name']}-{mode}" if mode else s["name"]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Every run of the matrix, submitted at once to a worker with four
    slots: {run id: result}; also the worker and its broker."""
    tmp = tmp_path_factory.mktemp("first-hour")
    path = tmp
    while path != path.parent:
        path.chmod(path.stat().st_mode | 0o711)
        path = path.parent
    broker = Broker(partitions=4)
    client = Client(broker.bootstrap)
    worker = Worker(tmp, broker.bootstrap, "first-hour", concurrency=4, extra=[
        "--runtimes", str(warm_table(tmp, WARM_PRELOAD, name="python-warm"))])
    try:
        worker.wait_consuming()
        started = time.monotonic()
        ids = {}
        for run in RUNS:
            s, mode = run
            runtime = "python-warm" if mode == "warm" else s["runtime"]
            ids[run_id(run)] = client.submit(job(s["code"], runtime=runtime, limits=LIMITS,
                                                 **s["fields"]))
        probe = client.submit(job("import sys; print('matplotlib.pyplot' in sys.modules)",
                                  runtime="python-warm"))
        client.flush()
        results = client.wait([*ids.values(), probe], timeout=600)
        print(f"\nfirst hour: {len(ids)} runs in {time.monotonic() - started:.1f} s")
        yield {name: results[jid][-1] for name, jid in ids.items()}, results[probe][-1], broker
    finally:
        try:
            assert worker.stop() == 0, worker.log()
        finally:
            client.close()
            broker.stop()


@pytest.mark.parametrize("run", RUNS, ids=run_id)
def test_snippet(matrix, run):
    results, _, _ = matrix
    s, _ = run
    result = results[run_id(run)]
    expect = s["expect"]
    assert result["status"] == expect.get("status", "ok"), result
    if "exit_code" in expect or result["status"] == "ok":
        assert result.get("exit_code") == expect.get("exit_code", 0), result
    assert result["stdout"] == s["stdout"], result["stderr"].decode(errors="replace")
    if expect.get("stderr") == b"":
        assert result["stderr"] == b"", result["stderr"].decode(errors="replace")
    elif "stderr" in expect:
        assert expect["stderr"] in result["stderr"], result["stderr"].decode(errors="replace")


def decoded_png(data):
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()  # every row inflated and filtered: a truncated file fails here
    return image


def test_the_chart_comes_back_the_same_cold_and_warm(matrix):
    results, probe, _ = matrix
    cold = results["pandas-matplotlib-chart-cold"]["files"]["out/chart.png"]
    warm = results["pandas-matplotlib-chart-warm"]["files"]["out/chart.png"]
    assert decoded_png(cold).size == CHART_SIZE
    assert cold == warm
    # ... and the warm runs were warm: the server had matplotlib imported.
    assert probe["status"] == "ok" and probe["stdout"] == b"True\n", probe


def test_the_chart_job_works_as_typed(matrix, tmp_path):
    results, _, broker = matrix
    (tmp_path / "data.csv").write_bytes(DATA_CSV)
    (tmp_path / "plot.py").write_bytes(PLOT_PY)
    env = dict(os.environ, BRIG_BROKERS=broker.bootstrap)
    env.pop("BRIG_TOPIC_PREFIX", None)
    r = subprocess.run([bin_path("brig"), "run", "-f", "data.csv", "--collect", "out/*",
                        "--lang", "python", "plot.py"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == PLOT_STDOUT
    (saved,) = (tmp_path / "brig-out").glob("*/out/chart.png")
    assert saved.read_bytes() == results["pandas-matplotlib-chart-cold"]["files"]["out/chart.png"]
