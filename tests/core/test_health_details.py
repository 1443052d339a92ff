"""/health and error details name files and sockets for operators only (HEALTH_DETAILS).

With API keys set, /health answers anyone: by default its details (and those of 503
problems) then show a file's name, never its absolute path or the Redis socket's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ai_backends.api.app import create_app
from ai_backends.core.health import redact_paths

pytestmark = [pytest.mark.integration, pytest.mark.security]

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _texts(app_config: dict[str, Any], **settings: Any) -> str:
    """/health and a 503 from the (absent) registry, as one text."""
    client = create_app({**app_config, **settings}).test_client()
    headers = {"X-API-Key": "k1"}
    health = client.get("/health").get_data(as_text=True)
    unavailable = client.post("/api/v1/classify-registry", json=FLOWER, headers=headers)
    assert unavailable.status_code == 503
    return health + unavailable.get_data(as_text=True)


def test_with_keys_details_show_no_absolute_path(app_config: dict[str, Any],
                                                 tmp_path: Path) -> None:
    text = _texts(app_config, API_KEYS=["k1"])
    assert str(tmp_path) not in text
    assert "mlflow.db" in text  # still says which file


def test_full_details_for_operators(app_config: dict[str, Any], tmp_path: Path) -> None:
    assert str(tmp_path) in _texts(app_config, API_KEYS=["k1"], HEALTH_DETAILS="full")


def test_without_keys_details_stay_full_by_default(app_config: dict[str, Any],
                                                   tmp_path: Path) -> None:
    assert str(tmp_path) in _texts(app_config)


@pytest.mark.unit
@pytest.mark.parametrize(("text", "expected"), [
    ("unix:///tmp/ai-backends-stack-x/redis.sock answered PING", ".../redis.sock answered PING"),
    ("no reference data at /srv/data/reference_iris.csv; train",
     "no reference data at .../reference_iris.csv; train"),
    ("http://127.0.0.1:5002/v2/health/ready: ready", "http://127.0.0.1:5002/v2/health/ready: ready"),
    ("redis://127.0.0.1:6379/15 answered PING", "redis://127.0.0.1:6379/15 answered PING"),
])
def test_redact_paths_cuts_files_not_urls(text: str, expected: str) -> None:
    assert redact_paths(text) == expected
