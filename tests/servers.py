"""Start real server processes for tests and wait until they answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running(argv: list[str], env: dict[str, str], ready_url: str,
            timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (from the repository root) until the block ends; wait for ``ready_url``."""
    log = open(Path(env.get("DATA_DIR", "/tmp")) / f"server-{time.time_ns()}.log", "wb")
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited early; log: {log.name}")
            try:
                if requests.get(ready_url, timeout=1).status_code < 500:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{ready_url} did not answer within {timeout}s")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def gunicorn_argv(port: int, workers: int = 2, threads: int = 4) -> list[str]:
    """Command that serves the app factory under gunicorn on 127.0.0.1:``port``."""
    return [sys.executable, "-m", "gunicorn", "ai_backends.api.app:create_app()",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads)]
