"""docker/ without a Docker engine: the compose file is complete (every
service, image, volume and file it names exists or is defined), runs Kafka
in KRaft mode with room for brig's largest messages, creates the topics the
workers use, and starts two worker replicas in one group; the Dockerfile
builds with mk/deps.sh and make (no package list of its own for the build),
and its runtime stage installs Debian packages that exist and that cover
every shared library of the programs and every command of the runtime
table."""
import base64
import json
import os
import pathlib
import re
import shlex
import subprocess

import pytest
import yaml

from conftest import BUILD, ROOT, bin_path

DOCKER = ROOT / "docker"
TIMEOUT = 300


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def environment(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def worker_services(compose):
    """The services built from docker/Dockerfile."""
    return {name: s for name, s in compose["services"].items()
            if s.get("build", {}).get("dockerfile", "") == "docker/Dockerfile"}


def producer_message_max_bytes():
    """What the worker's producer sends at most (worker/kafka.h)."""
    found = re.search(r"#define KAFKA_MESSAGE_MAX (\d+)", (ROOT / "worker/kafka.h").read_text())
    assert found, "worker/kafka.h no longer defines KAFKA_MESSAGE_MAX"
    return int(found.group(1))


def test_every_reference_resolves(compose):
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context.is_dir(), name
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        depends = service.get("depends_on", {})
        for dependency, condition in (depends.items() if isinstance(depends, dict)
                                      else ((d, {}) for d in depends)):
            assert dependency in services, f"{name} depends on unknown {dependency}"
            wanted = condition.get("condition", "service_started")
            assert wanted in ("service_started", "service_healthy",
                              "service_completed_successfully"), wanted
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], dependency
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared_volumes, f"{name} uses undeclared volume {source}"
    used = {(v.split(":")[0] if isinstance(v, str) else v["source"])
            for s in services.values() for v in s.get("volumes", [])}
    assert declared_volumes <= used, declared_volumes - used


def kafka_service(compose):
    """(name, service) of the Kafka broker: the apache/kafka service that runs
    a node (the topics service uses the same image for its tools)."""
    kafka = [(n, s) for n, s in compose["services"].items()
             if s.get("image", "").startswith("apache/kafka:")
             and "KAFKA_PROCESS_ROLES" in environment(s)]
    assert len(kafka) == 1
    return kafka[0]


def internal_bootstrap(compose):
    """The address Kafka advertises to the other containers."""
    env = environment(kafka_service(compose)[1])
    return re.search(r"PLAINTEXT://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]).group(1)


def test_kafka_runs_kraft_with_room_for_large_messages(compose):
    name, kafka = kafka_service(compose)
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env)
    # The quorum is this node, on its controller listener.
    listeners = dict(re.findall(r"(\w+)://[^:,]*:(\d+)", env["KAFKA_LISTENERS"]))
    node, address = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert node == env["KAFKA_NODE_ID"]
    assert address == f"{name}:{listeners[env['KAFKA_CONTROLLER_LISTENER_NAMES']]}"
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16  # a UUID
    assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 1
    largest = producer_message_max_bytes()
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= largest
    assert int(env["KAFKA_REPLICA_FETCH_MAX_BYTES"]) >= largest


def test_two_worker_replicas_share_one_group_and_the_uid_locks(compose):
    workers = worker_services(compose)
    replicas = sum(s.get("deploy", {}).get("replicas", 1) for s in workers.values())
    assert replicas == 2
    groups = {environment(s).get("BRIG_GROUP", "brig-workers") for s in workers.values()}
    assert len(groups) == 1
    internal = internal_bootstrap(compose)
    drain = re.search(r"--drain-timeout T .*\(default (\d+)s\)",
                      subprocess.run([bin_path("brig-worker"), "--help"], capture_output=True,
                                     text=True, timeout=TIMEOUT).stdout)
    assert drain
    for name, service in workers.items():
        env = environment(service)
        assert env["BRIG_BROKERS"] == internal, name
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert service.get("privileged") is True and service.get("cgroup") == "private", name
        # brig-worker must be alone in the container's root cgroup (v2).
        assert not service.get("init"), name
        # Stopping outlasts the drain and the delivery of its results (10 s).
        grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
        assert grace and int(grace.group(1)) > int(drain.group(1)) + 10, name
        targets = {v.split(":")[1] for v in service["volumes"]}
        assert {"/var/lib/brig", "/run/brig/uids", "/run/brig/session-uids"} <= targets, name


def test_topics_service_creates_what_the_workers_use(compose):
    topics = compose["services"]["topics"]
    script = "\n".join(topics["command"])
    assert "kafka-topics.sh" in script and "--create" in script
    assert f"--bootstrap-server {internal_bootstrap(compose)}" in script
    size = re.search(r"max\.message\.bytes=(\d+)", script)
    assert size and int(size.group(1)) >= producer_message_max_bytes()
    created = set(re.findall(r"^\s*create (\S+) \d+$", script, re.M))
    for service in worker_services(compose).values():
        prefix = environment(service).get("BRIG_TOPIC_PREFIX", "brig")
        assert created == {f"{prefix}.{t}" for t in ("jobs", "results", "logs", "dlq")}


def dockerfile_stages():
    """[(name, base, [(instruction, arguments), ...]), ...] of docker/Dockerfile."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = arguments.split()
            stages.append((words[2] if len(words) == 3 else None, words[0], []))
        else:
            stages[-1][2].append((instruction, arguments))
    return stages


def shell_commands(stage):
    """The simple commands of a stage's RUN instructions."""
    return [shlex.split(command) for instruction, arguments in stage[2] if instruction == "RUN"
            for command in re.split(r"&&|;", arguments) if command.strip()]


def test_build_stage_uses_the_projects_own_scripts():
    stages = dockerfile_stages()
    assert len(stages) == 2
    build, runtime = stages
    assert build[1] == runtime[1] == "debian:bookworm"
    commands = shell_commands(build)
    assert ["mk/deps.sh"] in commands
    assert not any(c[:2] == ["apt-get", "install"] for c in commands), \
        "the build stage must get its packages from mk/deps.sh"
    makes = [c for c in commands if c[0] == "make"]
    assert any("install" not in c for c in makes)
    install = next(c for c in makes if "install" in c)
    assert "DESTDIR=/out" in install
    prefix = next(a.split("=", 1)[1] for a in install if a.startswith("PREFIX="))
    assert ("COPY", f"--from={build[0]} /out/ /") in runtime[2]
    entrypoint = json.loads(next(a for i, a in runtime[2] if i == "ENTRYPOINT"))
    assert entrypoint == [f"{prefix}/sbin/brig-worker"]


def runtime_packages():
    commands = shell_commands(dockerfile_stages()[1])
    install = next(c for c in commands if c[:2] == ["apt-get", "install"]
                   or (c[0].startswith("DEBIAN_FRONTEND=") and c[1:3] == ["apt-get", "install"]))
    return [word for word in install[install.index("install") + 1:] if not word.startswith("-")]


def apt_lists_present():
    lists = pathlib.Path("/var/lib/apt/lists")
    return lists.is_dir() and any("Packages" in p.name for p in lists.iterdir())


needs_apt = pytest.mark.skipif(not apt_lists_present(),
                               reason="no apt package lists here (run apt-get update)")


@needs_apt
def test_runtime_packages_exist_in_debian_bookworm():
    packages = runtime_packages()
    madison = subprocess.run(["apt-cache", "madison", *packages], capture_output=True,
                             text=True, timeout=TIMEOUT).stdout
    from_debian = set(re.findall(r"^\s*(\S+) \|.*\| \S*debian\.org/debian\S* bookworm",
                                 madison, re.M))
    assert set(packages) <= from_debian, f"not Debian bookworm packages: {set(packages) - from_debian}"


@pytest.fixture(scope="module")
def image_packages():
    """The packages the runtime image ends up with."""
    return package_closure(runtime_packages())


def package_closure(packages):
    """What installing the packages brings, as apt resolves it on a system
    that has nothing installed, plus Debian's essential set (always in the
    base image)."""
    simulated = subprocess.run(["apt-get", "--simulate", "-o", "Dir::State::status=/dev/null",
                                "install", "--no-install-recommends", *packages],
                               capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    closure = set(re.findall(r"^Inst (\S+)", simulated, re.M))
    essential = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Essential}\n"],
                               capture_output=True, text=True, check=True).stdout
    return closure | {line.split()[0] for line in essential.splitlines() if line.endswith(" yes")}


def owning_package(path):
    """The installed package that owns path, looking through the merged /usr."""
    candidates = [path, os.path.realpath(path)]
    candidates += [p[4:] if p.startswith("/usr/") else "/usr" + p for p in list(candidates)]
    for candidate in candidates:
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if not line.startswith("diversion "):
                return line.split(":")[0].split(",")[0].strip()
    pytest.fail(f"no installed package owns {path}")


@needs_apt
def test_runtime_stage_has_every_shared_library_of_the_programs(image_packages):
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for program in ("brig", "brig-jail", "brig-worker", "brig-zygote", "brig-image"):
        dynamic = subprocess.run(["readelf", "-d", str(BUILD / "bin" / program)],
                                 capture_output=True, text=True, check=True).stdout
        for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic):
            path = re.search(rf"^\s+{re.escape(soname)} \(libc6,x86-64\) => (\S+)$", cache, re.M)
            assert path, f"{soname} is not in the linker cache"
            package = owning_package(path.group(1))
            assert package in image_packages, f"{program} needs {soname} from {package}"


@needs_apt
def test_runtime_stage_has_every_command_of_the_runtime_table(image_packages):
    table = json.loads((ROOT / "sandbox/runtimes.json").read_text())
    for runtime in table["runtimes"]:
        argvs = [runtime["run"], runtime["version"], runtime.get("compile", {}).get("argv")]
        for argv in filter(None, argvs):
            command = argv[0]
            if command.startswith("/work/"):
                continue  # built by the job itself
            path = command if command.startswith("/") else f"/usr/bin/{command}"
            package = owning_package(path)
            assert package in image_packages, f"runtime {runtime['name']} runs {command} from {package}"
