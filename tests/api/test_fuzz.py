"""Property-based fuzzing of the running API from its own OpenAPI document (schemathesis).

Every generated request, valid or not, must get an answer that the document describes:
no 5xx, a documented status code, a documented content type, a body matching the schema.
Under the server ``run.py`` starts (granian, the default), every operation; under
``python app.py`` (the development server, one thread per request: where Redis connections
used to leak after ~800 requests) every operation but generation, whose answers depend on
the model, not on the server, and which takes most of the time.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ai_backends.api.limits import LLM_PREFIXES
from ai_backends.classify.training import REFERENCE_FILE
from ai_backends.core.config import load_config
from ai_backends.core.webserver import api_command
from tests.conftest import free_port
from tests.oip.servers import both_sidecars
from tests.servers import running

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 40
# Generation is real (the embedded model): fewer examples, each asking for at most 4 tokens.
LLM_EXAMPLES_PER_OPERATION = 8
# Each answer here is a drift report (Evidently, in a child process of each API worker, kept
# between reports: DRIFT_JOB_LINGER_SECONDS below) or a benchmark run against both sidecars:
# few examples, the parameters are few too.
HEAVY_PREFIXES = ("/api/v1/drift-report", "/api/v1/classify-benchmark")
HEAVY_EXAMPLES_PER_OPERATION = 6
LLM_MAX_TOKENS = 4
# The injection guard refuses some well-formed prompts (documented 400, "prompt blocked"):
# there a schema-valid request may rightly be rejected.
SCREENED_PATHS = ("/api/v1/generate-secure",)
REQUEST_TIMEOUT = 90


@pytest.fixture(scope="module")
def sidecars(model_dir: Any) -> Iterator[dict[str, str]]:
    """Both sidecars, shared by the two servers of this module, as API settings."""
    with both_sidecars(model_dir) as settings:
        yield settings


@pytest.fixture(scope="module", params=["server", "app.py"])
def api_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            model_dir: Any, redis_url: str, trained: tuple[Any, Path], registry_uri: str,
            sidecars: dict[str, str]) -> Iterator[tuple[str, bool]]:
    """The API under the default server and under the development server on a free loopback
    port, with every dependency up: both sidecars, a registry with models, the drift
    reference; with whether it is the development server."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("fuzz")
    shutil.copy(trained[1] / REFERENCE_FILE, data_dir / REFERENCE_FILE)
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": f"fuzz-{port}:", "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_PER_MINUTE": "0", "MLFLOW_TRACKING_URI": registry_uri, **sidecars,
           "PORT": str(port),
           # Each worker keeps its drift job between the reports of this test, so Evidently
           # is imported once per worker, not per report (the default, a process per
           # report, is what tests/mlops/test_drift.py runs).
           "DRIFT_JOB_LINGER_SECONDS": "60"}
    served = request.param == "server"
    argv = (api_command(load_config({"HOST": "127.0.0.1", "PORT": port}),
                        "ai_backends.api.app:create_app()")
            if served else [sys.executable, "app.py"])
    with running(argv, env, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}", not served


def fuzz_operation(operation: Any) -> None:
    """Run hypothesis over one operation: every generated request must be answered as documented."""
    generates = operation.path.startswith(LLM_PREFIXES)
    examples = (LLM_EXAMPLES_PER_OPERATION if generates
                else HEAVY_EXAMPLES_PER_OPERATION if operation.path.startswith(HEAVY_PREFIXES)
                else EXAMPLES_PER_OPERATION)

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        if generates and isinstance(case.body, dict):
            case.body["max_tokens"] = LLM_MAX_TOKENS
        screened = operation.path.startswith(SCREENED_PATHS)
        # A generation may wait for the model (LLM_TIMEOUT_SECONDS, 60 s) on a busy machine;
        # schemathesis' own 10 s would fail a correct answer for being slow.
        case.call_and_validate(excluded_checks=[positive_data_acceptance] if screened else None,
                               timeout=REQUEST_TIMEOUT)

    fuzz()


def test_api_answers_as_documented(api_url: tuple[str, bool]) -> None:
    base, dev = api_url
    schema = schemathesis.openapi.from_url(f"{base}/openapi/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    if dev:
        operations = [op for op in operations
                      if not (op.method.upper() == "POST" and op.path.startswith(LLM_PREFIXES))]
    assert len(operations) >= 4
    for operation in operations:
        try:
            fuzz_operation(operation)
        except Exception as exc:  # collect every operation's failure, then report them all
            causes = "\n".join(repr(sub)[:1000] for sub in getattr(exc, "exceptions", []))
            failures[operation.label] = f"{str(exc)[:2000]}\n{causes}"
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
