"""``mlflow server`` as one process: ``python -m ai_backends.mlops.mlflow_server [options]``.

MLflow's CLI prepares the server's environment, then starts uvicorn as a child and waits for
it, so two Pythons with MLflow imported (about 250 MB each) stay resident. This entry point
runs the same CLI with the same options, but replaces itself with uvicorn instead of
starting it: one process, the same server, and signals reach it directly.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any


def _exec_server(cmd: str | list[str], *, extra_env: dict[str, str] | None = None,
                 **_: Any) -> None:
    """Stand-in for MLflow's ``_exec_cmd``: exec the server command (never returns)."""
    argv = shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]
    sys.stdout.flush()
    sys.stderr.flush()
    # Our own server command, built by MLflow from our fixed options.
    os.execvpe(argv[0], argv, {**os.environ, **(extra_env or {})})  # nosec B606


def main(args: list[str]) -> None:
    """Run ``mlflow server`` with ``args``, exec'ing its server process."""
    import mlflow.server
    from mlflow.cli import cli

    mlflow.server._exec_cmd = _exec_server
    cli.main(args=["server", *args], prog_name="mlflow")


if __name__ == "__main__":
    main(sys.argv[1:])
