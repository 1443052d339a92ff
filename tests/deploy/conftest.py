"""Helpers of the deployment checks: find a validator, run it, fail with its own message."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404 - runs the validators named in requirements-dev.txt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def find_tool(name: str, install_hint: str) -> str:
    """Path of a validator's executable (the virtualenv's first, then PATH), else skip."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed ({install_hint})")
    return found


def run_tool(argv: list[str], timeout: float = 120) -> str:
    """Run a validator; fail the test with everything it printed when it exits non-zero."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,  # nosec B603
                          cwd=ROOT, check=False)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{output}", pytrace=False)
    return output
