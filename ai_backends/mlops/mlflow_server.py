"""``mlflow server`` as one process: ``python -m ai_backends.mlops.mlflow_server [options]``.

MLflow's CLI prepares the server's environment, then starts uvicorn as a child and waits for
it, so two Pythons with MLflow imported (about 250 MB each) stay resident. This entry point
runs the same CLI with the same options, but replaces itself with uvicorn instead of
starting it: one process, the same server, and signals reach it directly.

With ``--on-demand SECONDS`` (first option) it only listens on ``--host``/``--port``, with
nothing imported (about 12 MB), and starts MLflow's server as its child when a client
connects: that client waits for the start-up (seconds), then uvicorn serves on the same
socket (``--fd``), so no connection is refused. Once no connection has been open for
``SECONDS`` (0: never), the child is stopped and the listener waits for the next client.
run.py starts the UI this way when nothing but people use it (the API reads the embedded
store itself): the 250 MB of MLflow are there only while someone looks.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import socket

# Runs MLflow's server (this module again) as a child with our own options.
import subprocess  # nosec B404
import sys
import threading
import time
from pathlib import Path
from typing import Any

ON_DEMAND = "--on-demand"
SERVE_FD = "--serve-fd"
IDLE_CHECK_SECONDS = 5.0  # at most; a short idle time is checked 4 times as often
STOP_SECONDS = 20.0
_listening: dict[str, int] = {}  # "fd": the socket uvicorn takes over, when on demand


def _exec_server(cmd: str | list[str], *, extra_env: dict[str, str] | None = None,
                 **_: Any) -> None:
    """Stand-in for MLflow's ``_exec_cmd``: exec the server command (never returns)."""
    argv = shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]
    if "fd" in _listening:
        argv = with_socket(argv, _listening["fd"])
    sys.stdout.flush()
    sys.stderr.flush()
    # Our own server command, built by MLflow from our fixed options.
    os.execvpe(argv[0], argv, {**os.environ, **(extra_env or {})})  # nosec B606


def with_socket(argv: list[str], fd: int) -> list[str]:
    """uvicorn's command serving on the open socket ``fd`` instead of binding host:port."""
    served: list[str] = []
    skip = False
    for part in argv:
        if skip:
            skip = False
        elif part in ("--host", "--port"):
            skip = True
        else:
            served.append(part)
    uvicorn = served.index("uvicorn") + 1
    return [*served[:uvicorn], "--fd", str(fd), *served[uvicorn:]]


def option(args: list[str], name: str, default: str) -> str:
    """The value of ``--name value`` in ``args`` (``default`` when absent)."""
    return args[args.index(name) + 1] if name in args else default


def open_connections(port: int) -> int:
    """How many established TCP connections have ``port`` as their local port."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        count += sum(1 for line in lines if line.split()[3] == "01"
                     and int(line.split()[1].rsplit(":", 1)[1], 16) == port)
    return count


def serve_on_demand(args: list[str], idle_seconds: float) -> int:
    """Listen; on a client, run MLflow's server as a child on this socket; stop it after
    ``idle_seconds`` without a connection; again on the next client, until SIGTERM."""
    port = int(option(args, "--port", "5000"))
    listener = socket.create_server((option(args, "--host", "127.0.0.1"), port), backlog=128)
    listener.set_inheritable(True)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    check = min(IDLE_CHECK_SECONDS, idle_seconds / 4) if idle_seconds else IDLE_CHECK_SECONDS
    print("MLflow UI starts on its first connection", flush=True)
    while not stopping.is_set():
        if not select.select([listener], [], [], 0.5)[0]:
            continue  # the client stays in the backlog for uvicorn
        print("a client: starting MLflow", flush=True)
        server = subprocess.Popen(  # nosec B603 - ourselves, with our own options
            [sys.executable, "-m", "ai_backends.mlops.mlflow_server", SERVE_FD,
             str(listener.fileno()), *args],
            pass_fds=(listener.fileno(),))
        last_seen = time.monotonic()
        while not stopping.wait(check) and server.poll() is None:
            if open_connections(port):
                last_seen = time.monotonic()
            elif idle_seconds and time.monotonic() - last_seen > idle_seconds:
                print(f"no connection for {idle_seconds:g}s: stopping MLflow", flush=True)
                break
        _stop(server)
    return 0


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main(args: list[str]) -> None:
    """Run ``mlflow server`` with ``args``, exec'ing its server process."""
    if args[:1] == [ON_DEMAND]:
        sys.exit(serve_on_demand(args[2:], float(args[1])))
    if args[:1] == [SERVE_FD]:  # the child of serve_on_demand: serve on its socket
        _listening["fd"], args = int(args[1]), args[2:]
    import mlflow.server
    from mlflow.cli import cli

    mlflow.server._exec_cmd = _exec_server
    cli.main(args=["server", *args], prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
