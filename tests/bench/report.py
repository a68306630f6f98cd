"""make bench's report: the rows and commands bench.py collects, and
RESULTS.md as render() writes it."""
import json
import shlex

import agent_pace
import kafka_load


class Report:
    def __init__(self, workdir):
        self.workdir = workdir
        # What differs from run to run, as the reader should type it.
        self.placeholders = {workdir: "$WORK"}
        self.rows = []      # (section, measurement, n, median, p99, figure, target, verdict)
        self.commands = []  # (what, command line)
        self.phases = []    # (label, {phase: ms})
        self.notes = []
        self.profiles = []  # (title, text lines)
        self.pace = []      # (section, [(driver, stats)]) from agent_pace.py

    def row(self, section, measurement, n="", median="", p99="", figure="", target="",
            verdict=""):
        self.rows.append((section, measurement, str(n), median, p99, figure, target, verdict))
        print(f"  {measurement}: n={n} median={median} p99={p99} {figure} {target} {verdict}",
              flush=True)

    def command(self, what, argv):
        """Records argv with the run's own paths and addresses as placeholders."""
        line = shlex.join(str(a) for a in argv)
        for value, placeholder in self.placeholders.items():
            line = line.replace(value, placeholder)
        self.commands.append((what, line))


def verdict(value, limit, higher_is_better=False):
    if value is None:
        return "MISS (no figure)"
    ok = value >= limit if higher_is_better else value <= limit
    if ok:
        return "PASS"
    factor = limit / value if higher_is_better else value / limit
    return f"MISS ({factor:.2f}× off)"


def ms(value_ms):
    return "" if value_ms is None else f"{value_ms:.2f} ms"



def render(report, machine_facts, warm_preload):
    """RESULTS.md: the machine, the table, where the time goes, how each
    figure is measured and the exact commands."""
    lines = ["# brig benchmarks", "",
             "Written by `make bench` (tests/bench/run.sh → tests/bench/bench.py). "
             "Comparisons are measured side by side in the same run, interleaved, and given "
             "as ratios; durations are the median and the 99th percentile (nearest rank) "
             "over N.", "", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine_facts]
    lines += ["", "## Results", "",
              "| measurement | N | median | p99 | figure | target | verdict |",
              "|---|---|---|---|---|---|---|"]
    section = None
    for row in sorted(report.rows, key=lambda row: row[0]):
        if row[0] != section:
            section = row[0]
            lines.append(f"| **{section}** | | | | | | |")
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row[1:]) + " |")
    lines += ["", "## Where an end-to-end job's time goes (medians)", "",
              "From the result's own received/started/finished times (wall clock, "
              "millisecond resolution) and the client's clock.", "",
              "| run | " + " | ".join(kafka_load.PHASE_NAMES[p] for p in kafka_load.PHASES)
              + " |", "|---|" + "---|" * len(kafka_load.PHASES)]
    for label, phases in report.phases:
        lines.append(f"| {label} | " + " | ".join(ms(phases[p]) for p in kafka_load.PHASES)
                     + " |")
    if report.pace:
        lines += ["", "## Per-call overhead at an agent's pace", "",
                  "Client-observed time minus the job's own wall time (usage.wall_us), per "
                  f"call, for python `{agent_pace.CODE}`: one call, then "
                  f"{agent_pace.IDLE_S[0]:g} to {agent_pace.IDLE_S[1]:g} s of idle (uniform, "
                  "seeded), against a warm worker with a slot per client. Every client's "
                  "driver runs at the same time; a call is *alone* when no other driver's "
                  "call was in flight during it (calls that overlap share the two CPUs). "
                  "p99.9 is the largest of fewer than 1000 calls.", ""]
        lines += agent_pace.table(report.pace)
        lines += ["", "Where a call's time goes (medians; the result's own times, wall clock "
                  "to the millisecond):", ""]
        lines += agent_pace.phase_table(report.pace)
        lines += ["", "What the overhead was made of, and what each fix took off (medians "
                  "and tails measured with agent_pace.py before and after the fix, "
                  "commands below):", ""]
        lines += agent_pace.causes_table()
    lines += ["", "## How", "",
              "- Start-up and in-worker times: fork, exec and wait timed with "
              "CLOCK_MONOTONIC (tests/bench/spawn.c, tests/bench/jail_run.c), after 10 "
              "unmeasured rounds. jail_run() as the worker runs it: its jail_context has the "
              "worker's brig-zygote --cold spawner (which clones the jails) and a pool of "
              "ready network namespaces; the plain context clones in the calling process and "
              "each jail makes its own namespaces. The three are interleaved.",
              "- jail_run() 50 ms after the last: N/5 more calls after 50 ms of sleep each, "
              "not interleaved: what a worker at a moderate rate pays. The cause of the "
              "difference is not established; it is not the cgroup v1 attach, which a "
              "fork-attach-exit test timed at about 0.2 ms both back to back and 50 ms "
              "apart, whether the parent wrote the pid to cgroup.procs or the child wrote 0 "
              "to tasks (which skips the kernel's cgroup_threadgroup_rwsem).",
              "- End to end: tests/bench/kafka_load.py submits msgpack jobs with "
              "confluent-kafka (linger.ms=0) on a fixed schedule (open loop) and times each "
              "result from just before produce() to the moment poll() returns it, keyed by "
              "job id, with the monotonic clock. The client's consumer uses "
              f"fetch.wait.max.ms={kafka_load.CLIENT_FETCH_WAIT_MS}: librdkafka's mock "
              "broker holds an empty fetch for that long even when data arrives, so up to "
              f"{kafka_load.CLIENT_FETCH_WAIT_MS} ms of each latency is the client's.",
              "- Jobs (msgpack maps): `{v: 1, id, argv: [/bin/sh, -c, true]}`, "
              "`{v: 1, id, runtime: python, code: print(1)}` and, for the memory reading, "
              "`{v: 1, id, argv: [/bin/sleep, 2]}`. Each worker first answers 20 sh jobs "
              "(and 3 Python jobs before the Python run) that are not measured; c is its "
              "--concurrency.",
              "- Throughput: jobs submitted at once; jobs/s = answered / (last result − "
              "first submission).",
              "- CPU per job: utime + stime of the worker process itself (/proc/PID/stat, "
              "all its threads, and the embedded broker's when it has one) and of the "
              "brig-zygote servers it started (the jail spawner, which clones every jail for it) "
              "before and after the run, divided by the jobs answered. The jails' CPU is not in it: it goes "
              "to the worker's cutime/cstime when it reaps them, which is not counted.",
              "- Memory: VmHWM and VmRSS of the worker process (/proc/PID/status).",
              "- Audit: build/helpers/bench_audit (tests/bench/audit.c) records each job as "
              "the worker does: message, job, final-result lookup, attempt begin and end.",
              "- Warm starts: build/helpers/bench_warm (tests/bench/warm.c) times jail_run() of "
              "`python3 -c CODE` from one jail_context, without and with a brig-zygote that "
              "preloaded " + " and ".join(warm_preload) + ", interleaved, after 3 unmeasured "
              "rounds of each; every isolation layer is on in both. End to end, the worker's "
              "runtime table adds python-warm: the shipped python runtime with "
              "`\"warm\": {\"preload\": " + json.dumps(warm_preload) + "}`.",
              "- TypeScript: `brig run` of a TypeScript hello as a user types it (the client's "
              "start, the job through the embedded broker, the compile step and node in the "
              "jail, the result), timed from fork to exit with the monotonic clock, each run "
              "right after a bare `node -e 0` on the host, node's own start; after one "
              "unmeasured run of each runtime. The default runtime transpiles with esbuild; "
              "typescript-checked runs tsc, as every TypeScript job did before.",
              "- Agent pace: tests/bench/agent_pace.py starts each client's driver (a "
              "program that reads one job per JSON line on stdin and answers one JSON line "
              "per result; agent_pace.py describes the protocol) and times each call in the "
              "driver: `brig run` from its spawn to its exit (driver_brig_run.py, the job's "
              "wall time read from its summary line), libbrig from just before brig_submit() "
              "to brig_wait()'s return (driver_c.c), the other clients as their drivers say. "
              f"{agent_pace.WARM_CALLS} unmeasured calls per driver first. BENCH_CALLS and "
              "BENCH_KAFKA_CALLS set the calls per driver.",
              "- Profiles: perf record's samples (on-CPU time only: waits such as the cgroup "
              "v1 attach do not show), as perf report's flat profile."]
    lines += [f"- {note}" for note in report.notes]
    if report.profiles:
        lines += ["", "## Profiles", ""]
        for title, text in report.profiles:
            lines += [f"{title}:", "", "```", *text, "```", ""]
    lines += ["", "## Commands", "",
              "Run from the repository root; $WORK is a fresh directory of mode 0711 (the "
              "jails reach their state directory in it as unprivileged host uids) and "
              "$BOOTSTRAP the address the test broker (in section 7, the worker's embedded "
              "broker) prints. The end-to-end load comes from tests/bench/kafka_load.py, "
              "driven by tests/bench/bench.py.", ""]
    for what, command in report.commands:
        lines += [f"- {what}:", "", "  ```", f"  {command}", "  ```"]
    return "\n".join(lines) + "\n"
