"""The console page is served at / from the package, locked to this origin, outside the spec."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_console_page_and_its_assets_are_served(client: Any) -> None:
    """/ is the HTML page; its script and stylesheet come from this server."""
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'src="/static/console/app.js"' in html
    assert "http://" not in html and "https://" not in html
    for asset, mimetype in (("app.js", "text/javascript"), ("app.css", "text/css")):
        response = client.get(f"/static/console/{asset}")
        assert response.status_code == 200
        assert response.mimetype == mimetype


def test_console_forbids_requests_to_other_origins(client: Any) -> None:
    """The Content-Security-Policy lets the page talk to its own origin only."""
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy


def test_console_is_not_part_of_the_openapi_document(client: Any) -> None:
    """The spec lists the API only: no route for / or the console's static files."""
    paths = client.get("/openapi/openapi.json").get_json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/static")]


def test_console_loads_without_an_api_key_when_keys_are_required(app_config: Any) -> None:
    """With API_KEYS set the page and its files stay public; the API itself answers 401."""
    from ai_backends.api.app import create_app

    client = create_app({**app_config, "API_KEYS": ["s3cret"]}).test_client()
    assert client.get("/").status_code == 200
    assert client.get("/static/console/app.js").status_code == 200
    denied = client.post("/api/v1/classify", json={})
    assert denied.status_code == 401
    assert denied.get_json()["title"] == "Unauthorized"
