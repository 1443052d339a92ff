"""The OpenAPI document describes every endpoint, and every error as a problem body (as an
OpenAI error body on the OpenAI-compatible /v1 routes)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.integration

DOC_ROUTES = ("/openapi", "/openapi.json", "/docs", "/static")
CONSOLE_ROUTES = ("/",)  # the browser console (its files are under /static), not the API


def test_spec_lists_every_route(app: Any, client: Any) -> None:
    spec = client.get("/openapi/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOC_ROUTES) or rule.rule in CONSOLE_ROUTES:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)  # <int:v> -> {v}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the spec"


def test_error_responses_are_problem_json(client: Any) -> None:
    spec = client.get("/openapi/openapi.json").json
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                # The 503 of /health and /readyz is their own body (the state), not a problem.
                if int(status) < 400 or path in {"/health", "/readyz"}:
                    continue
                expected = "application/json" if path.startswith("/v1/") else (
                    "application/problem+json")
                assert list(response.get("content", {})) == [expected], (
                    f"{method.upper()} {path} {status}"
                )


def test_docs_page_is_served_locally(client: Any) -> None:
    page = client.get("/openapi/swagger")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger" in html.lower() and "https://" not in html.split("<body")[0]
    assert client.get("/docs").headers["Location"].endswith("/openapi/swagger")
