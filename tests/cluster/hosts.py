"""Several hosts on one machine: Linux network namespaces on two bridges, cleaned up by PID.

Topology (private addresses of these test hosts only)::

    front 10.231.1.0/24:  client .50   api-1 .31   api-2 .32
    back  10.231.2.0/24:  client .50   api-1 .31   api-2 .32   store .10   inference .20

Clients reach the API hosts on the front network; the API hosts reach the stores and the
sidecars on the back network, so cutting an API host's back link cuts it off from the
stores while the client can still ask it. The test process joins the client namespace in
the threads of ``Host.pool`` (``setns``), so its requests leave from the client host.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess  # nosec B404 - runs ip and our own entry points with fixed arguments
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

FRONT = "10.231.1"
BACK = "10.231.2"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` (root namespace)."""
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,  # nosec
                          timeout=10)


def _join_namespace(name: str) -> None:
    """Move the calling thread into network namespace ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


@dataclass
class Host:
    """One namespace: its name, its addresses and the processes started in it."""

    name: str
    netns: str
    front: str | None
    back: str | None
    links: dict[str, str] = field(default_factory=dict)  # network -> root-side veth name
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _pool: ThreadPoolExecutor | None = None

    @property
    def prefix(self) -> list[str]:
        """Prefix that runs a command on this host."""
        return ["ip", "netns", "exec", self.netns]

    def start(self, argv: Sequence[str], env: dict[str, str], log: Path,
              cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host in a session of its own (``ip netns exec`` execs, so
        the PID is the program's); its output goes to ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen(  # nosec B603
                [*self.prefix, *argv], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, argv: Sequence[str], env: dict[str, str], timeout: float,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on this host to completion."""
        return subprocess.run([*self.prefix, *argv], env=env, cwd=cwd,  # nosec B603
                              capture_output=True, text=True, timeout=timeout)

    def pool(self, threads: int = 8) -> ThreadPoolExecutor:
        """Threads that live in this host's namespace (for the test's own requests)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(threads, initializer=_join_namespace,
                                            initargs=(self.netns,))
        return self._pool

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` from this host and return its result."""
        return self.pool().submit(function, *args).result()

    def link(self, network: str, up: bool) -> None:
        """Take this host's link to ``network`` down or up (from the switch's side)."""
        ip("link", "set", self.links[network], "up" if up else "down")

    def stop(self) -> None:
        """Stop every process started here: SIGTERM to its session, SIGKILL after 3 s
        (everything here is throwaway; MLflow and gunicorn would wait much longer)."""
        for process in self.processes:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    pass  # reported by the namespace's leftover PIDs below
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the session we started (the program and its children), else the process."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
    except ProcessLookupError:
        pass


class Network:
    """The namespaces, bridges and links of one test; ``close`` removes them all."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:5]
        self.bridges = {"front": f"scf{self.tag}", "back": f"scb{self.tag}"}
        self.hosts: dict[str, Host] = {}

    def create(self, layout: dict[str, tuple[int | None, int | None]]) -> dict[str, Host]:
        """Bridges, then one namespace per host with a veth link to each of its networks."""
        for bridge in self.bridges.values():
            ip("link", "add", bridge, "type", "bridge")
            ip("link", "set", bridge, "up")
        for number, (name, (front, back)) in enumerate(layout.items()):
            netns = f"sc{self.tag}-{name}"
            ip("netns", "add", netns)
            host = Host(name, netns, front and f"{FRONT}.{front}", back and f"{BACK}.{back}")
            self.hosts[name] = host
            ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")
            for index, (network, address) in enumerate((("front", host.front),
                                                        ("back", host.back))):
                if address is None:
                    continue
                outside = f"sc{self.tag}h{number}{network[0]}"  # at most 15 characters
                ip("link", "add", outside, "type", "veth", "peer", "name", f"eth{index}",
                   "netns", netns)
                ip("link", "set", outside, "master", self.bridges[network])
                ip("link", "set", outside, "up")
                ip("netns", "exec", netns, "ip", "addr", "add", f"{address}/24", "dev",
                   f"eth{index}")
                ip("netns", "exec", netns, "ip", "link", "set", f"eth{index}", "up")
                host.links[network] = outside
        return self.hosts

    def close(self) -> None:
        """Stop every process by PID, then delete the namespaces and bridges."""
        for host in self.hosts.values():
            try:
                host.stop()
            except Exception:  # nosec B110 - keep cleaning up; leftovers are killed below
                pass
        for host in self.hosts.values():
            # Anything still running in the namespace was started by this test: by PID.
            pids = ip("netns", "pids", host.netns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for host in self.hosts.values():
            for outside in host.links.values():
                ip("link", "del", outside, check=False)
            ip("netns", "del", host.netns, check=False)
        for bridge in self.bridges.values():
            ip("link", "del", bridge, check=False)


def namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs as root)"
    probe = f"scprobe{uuid.uuid4().hex[:6]}"
    try:
        result = ip("netns", "add", probe, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run ip: {exc}"
    if result.returncode != 0:
        return f"ip netns add failed: {result.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None
