"""The stack the contract examples run against: embedded defaults, real parts.

A scratch checkout state: the model trained and registered as ``run.py``'s bootstrap does
on a fresh machine (``scripts/train_iris_model.py --register-if-missing`` into an embedded
SQLite MLflow store), both sidecars running for real, the embedded LLM, the real Redis
(own key prefix), the local embedding model. Only ``LLM_DEFAULT_MAX_TOKENS`` differs from the
defaults (short answers: the LLM's speed is not what these tests check).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.oip.servers import both_sidecars

ROOT = Path(__file__).resolve().parents[2]
# The documented bodies give no max_tokens; the operator's default bounds the answers, kept
# short here so a shared 2-core machine answers the dozen LLM examples in seconds.
MAX_TOKENS = 12


@dataclass
class Stack:
    """The app under test and the places a reader's commands touch."""

    app: Any
    client: Any
    env: dict[str, str]
    data_dir: Path
    tracking_uri: str


def script_env(model_dir: Path, data_dir: Path, tracking_uri: str,
               redis_url: str, prefix: str) -> dict[str, str]:
    """Environment of the documented scripts: the stack's folders, store and Redis."""
    return {**os.environ, "MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir),
            "MLFLOW_TRACKING_URI": tracking_uri, "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix, "LLM_BACKEND": "llamacpp",
            "LLM_DEFAULT_MAX_TOKENS": str(MAX_TOKENS),
            "PYTHONPATH": str(ROOT)}


def run_script(argv: list[str], env: dict[str, str], cwd: Path,
               timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python <argv>`` as documented (scripts/... resolved in the repository)."""
    script = str(ROOT / argv[0])
    return subprocess.run([sys.executable, script, *argv[1:]], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    """Train + register as the bootstrap does, start both sidecars, build the app."""
    from ai_backends.api.app import create_app
    from ai_backends.api.context import services_of

    base = tmp_path_factory.mktemp("contract")
    model_dir, data_dir = base / "models", base / "data"
    model_dir.mkdir()
    data_dir.mkdir()
    tracking_uri = f"sqlite:///{data_dir / 'mlflow.db'}"
    prefix = f"test-contract-{uuid.uuid4().hex[:8]}:"
    env = script_env(model_dir, data_dir, tracking_uri, redis_url, prefix)
    bootstrap = run_script(["scripts/train_iris_model.py", "--register-if-missing"], env, base)
    assert bootstrap.returncode == 0, bootstrap.stderr
    with both_sidecars(model_dir) as sidecars:
        app = create_app({
            "MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir),
            "MLFLOW_TRACKING_URI": tracking_uri, "REGISTRY_REFRESH_SECONDS": 0,
            "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix, **sidecars,
            "LLM_BACKEND": "llamacpp", "LLM_TIMEOUT_SECONDS": 120.0,
            "LLM_DEFAULT_MAX_TOKENS": MAX_TOKENS,
            "RATE_LIMIT_PER_MINUTE": 0, "TESTING": True,
        })
        yield Stack(app, app.test_client(), env, data_dir, tracking_uri)
        services_of(app).classification.cache.clear()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
