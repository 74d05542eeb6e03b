"""A Redis server behind a network namespace of the test's own, so a test can cut or slow the
network path to it: a veth pair (host side in the root namespace, peer inside), a private
/30 on it, and `redis-server` started inside with `ip netns exec`.

Faults: `blackhole()` takes the peer link down (every packet to the server is dropped: a
connection attempt hangs until its timeout, as behind a dead host or a firewall), `heal()`
brings it back; `netem(...)` adds delay and loss with `tc qdisc ... netem` on the host side,
when the kernel has the netem scheduler (`netem_missing()` says why not). Names and addresses
derive from the process id, so tests of several workers do not collide; `close()` removes
everything it made.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
IP = shutil.which("ip")
TC = shutil.which("tc")


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=check)


def unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if IP is None:
        return "the `ip` command (iproute2) is missing"
    return None


class NamespacedRedis:
    """One Redis server inside a network namespace reached over a veth pair."""

    def __init__(self, directory: Path, port: int = 6390) -> None:
        tag = f"{os.getpid() % 100000}{time.monotonic_ns() % 1000:03d}"
        self.namespace = f"ragops-t{tag}"
        self.host_link, self.peer_link = f"rgh{tag}"[:15], f"rgp{tag}"[:15]
        octet = os.getpid() % 250
        slot = (time.monotonic_ns() // 1000) % 60 * 4
        self.host_ip, self.peer_ip = f"10.{200 + octet % 50}.{slot}.1", ""
        self.peer_ip = f"10.{200 + octet % 50}.{slot}.2"
        self.port = port
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.peer_ip}:{self.port}/0"

    def start(self) -> NamespacedRedis:
        assert IP is not None
        _run(IP, "netns", "add", self.namespace)
        _run(IP, "link", "add", self.host_link, "type", "veth", "peer", "name", self.peer_link)
        _run(IP, "link", "set", self.peer_link, "netns", self.namespace)
        _run(IP, "addr", "add", f"{self.host_ip}/30", "dev", self.host_link)
        _run(IP, "link", "set", self.host_link, "up")
        inside = (IP, "netns", "exec", self.namespace, IP)
        _run(*inside, "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_link)
        _run(*inside, "link", "set", self.peer_link, "up")
        _run(*inside, "link", "set", "lo", "up")
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [IP, "netns", "exec", self.namespace, REDIS_SERVER, "--port", str(self.port),
             "--bind", self.peer_ip, "--protected-mode", "no", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((self.peer_ip, self.port), timeout=0.5):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start in the namespace") from None
                time.sleep(0.05)

    def blackhole(self) -> None:
        """Drop every packet to the server (its link goes down; connections hang)."""
        assert IP is not None
        _run(IP, "netns", "exec", self.namespace, IP, "link", "set", self.peer_link, "down")

    def heal(self) -> None:
        """Bring the link back and remove any netem discipline."""
        assert IP is not None
        _run(IP, "netns", "exec", self.namespace, IP, "link", "set", self.peer_link, "up")
        if TC is not None:
            _run(TC, "qdisc", "del", "dev", self.host_link, "root", check=False)

    def netem_missing(self) -> str | None:
        """Why `netem()` cannot work here (no tc, or the kernel lacks sch_netem), or None."""
        if TC is None:
            return "the `tc` command (iproute2) is missing"
        probe = _run(TC, "qdisc", "add", "dev", self.host_link, "root", "netem", "delay", "1ms",
                     check=False)  # fmt: skip
        if probe.returncode != 0:
            return f"the kernel has no netem qdisc (sch_netem): tc said {probe.stderr.strip()!r}"
        _run(TC, "qdisc", "del", "dev", self.host_link, "root", check=False)
        return None

    def netem(self, *, delay_ms: int = 0, loss_percent: float = 0.0) -> None:
        """Delay and drop packets from the host to the server (`tc qdisc ... netem`)."""
        assert TC is not None
        args = [TC, "qdisc", "replace", "dev", self.host_link, "root", "netem"]
        if delay_ms:
            args += ["delay", f"{delay_ms}ms"]
        if loss_percent:
            args += ["loss", f"{loss_percent}%"]
        _run(*args)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if IP is not None:
            _run(IP, "link", "del", self.host_link, check=False)
            _run(IP, "netns", "del", self.namespace, check=False)
