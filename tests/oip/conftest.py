"""Fixtures of the sidecar tests: one real REST and one real gRPC sidecar per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import Sidecar, start_grpc_sidecar, start_http_sidecar


@pytest.fixture(scope="session")
def http_sidecar(model_dir: Path) -> Iterator[Sidecar]:
    """A real REST sidecar for the test session."""
    sidecar = start_http_sidecar(model_dir)
    yield sidecar
    sidecar.stop()


@pytest.fixture(scope="session")
def grpc_sidecar(model_dir: Path) -> Iterator[Sidecar]:
    """A real gRPC sidecar for the test session."""
    sidecar = start_grpc_sidecar(model_dir)
    yield sidecar
    sidecar.stop()
