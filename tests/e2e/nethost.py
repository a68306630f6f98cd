"""Test "hosts": network namespaces joined to this machine by a veth pair,
each reaching the Kafka brokers (which listen on 127.0.0.1) through a relay
on each side, so that a test can cut a host off by taking its link down and
put it back. Processes started with NetHost.command() run inside it."""
import itertools
import subprocess
import sys

from conftest import ROOT

_next_index = itertools.count(1)


def run(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


class NetHost:
    """A network namespace with a link to this machine, relaying the given
    127.0.0.1 ports (the brokers' advertised addresses) to this machine's."""

    def __init__(self, ports):
        self.index = next(_next_index) % 250 + 1
        self.name = f"brig-test-host{self.index}"
        self.host_if, self.ns_if = f"bth{self.index}h", f"bth{self.index}n"
        self.host_ip, self.ns_ip = f"10.231.{self.index}.1", f"10.231.{self.index}.2"
        self.relays = []
        self._teardown_links()
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        run("ip", "link", "set", self.ns_if, "netns", self.name)
        run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        self._in_ns("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
        self._in_ns("ip", "link", "set", self.ns_if, "up")
        self._in_ns("ip", "link", "set", "lo", "up")
        relay = str(ROOT / "tests" / "e2e" / "tcp_relay.py")
        self._start_relay([sys.executable, relay] +
                          [f"{self.host_ip}:{p}=127.0.0.1:{p}" for p in ports])
        self._start_relay(self.command([sys.executable, relay] +
                                       [f"127.0.0.1:{p}={self.host_ip}:{p}" for p in ports]))

    def _in_ns(self, *args):
        run("ip", "netns", "exec", self.name, *args)

    def _start_relay(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.relays.append(proc)
        assert proc.stdout.readline().strip() == "ready", f"relay {argv} did not start"

    def command(self, argv):
        """argv run inside the namespace. Through nsenter, which enters the
        network namespace only: `ip netns exec` also remounts /sys, and with
        it the cgroup file systems the jail needs."""
        return ["nsenter", f"--net=/run/netns/{self.name}", *argv]

    def cut(self):
        """Takes the link down: packets to and from the host are dropped."""
        run("ip", "link", "set", self.host_if, "down")

    def restore(self):
        run("ip", "link", "set", self.host_if, "up")

    def _teardown_links(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)

    def close(self):
        for proc in self.relays:
            proc.kill()
            proc.wait()
        self._teardown_links()
