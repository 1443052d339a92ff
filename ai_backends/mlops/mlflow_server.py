"""``mlflow server`` as one process: ``python -m ai_backends.mlops.mlflow_server [options]``.

MLflow's CLI prepares the server's environment, then starts uvicorn as a child and waits for
it, so two Pythons with MLflow imported (about 250 MB each) stay resident. This entry point
runs the same CLI with the same options, but replaces itself with uvicorn instead of
starting it: one process, the same server, and signals reach it directly.

With ``--on-demand`` (first option) it first only listens on ``--host``/``--port``, with
nothing imported (about 12 MB), and starts MLflow when the first client connects: that
client waits the start-up (seconds), then uvicorn serves on the same socket (``--fd``), so
no connection is refused. run.py starts the UI this way when nothing but people use it (the
API reads the embedded store itself): the 250 MB of MLflow stay away until someone opens it.
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import sys
from typing import Any

ON_DEMAND = "--on-demand"
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


def wait_for_a_client(host: str, port: int) -> int:
    """Listen on host:port until a client connects; the socket's (inheritable) descriptor."""
    listener = socket.create_server((host, port), backlog=128)
    select.select([listener], [], [])  # the client stays in the backlog for uvicorn
    listener.set_inheritable(True)
    return listener.detach()


def main(args: list[str]) -> None:
    """Run ``mlflow server`` with ``args``, exec'ing its server process."""
    if args[:1] == [ON_DEMAND]:
        args = args[1:]
        print("MLflow UI starts on its first connection", flush=True)
        _listening["fd"] = wait_for_a_client(option(args, "--host", "127.0.0.1"),
                                             int(option(args, "--port", "5000")))
        print("first connection: starting MLflow", flush=True)
    import mlflow.server
    from mlflow.cli import cli

    mlflow.server._exec_cmd = _exec_server
    cli.main(args=["server", *args], prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
