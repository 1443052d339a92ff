"""Property-based fuzzing of the running API from its own OpenAPI document (schemathesis).

Every generated request, valid or not, must get an answer that the document describes:
no 5xx, a documented status code, a documented content type, a body matching the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.conftest import free_port
from tests.servers import gunicorn_argv, running

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory, model_dir: Any,
            redis_url: str) -> Iterator[str]:
    """The API under gunicorn on a free loopback port; sidecars deliberately absent."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("fuzz")
    env = {"MODEL_DIR": str(model_dir), "DATA_DIR": str(data_dir), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": f"fuzz-{port}:", "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_PER_MINUTE": "0",
           "HTTP_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
           "GRPC_SIDECAR_TARGET": f"127.0.0.1:{free_port()}"}
    with running(gunicorn_argv(port), env, f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


def test_api_answers_as_documented(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            case.call_and_validate()

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
