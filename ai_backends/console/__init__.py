"""The browser console at ``/``: one static page that calls the API with fetch.

A plain Flask blueprint, so it stays out of the OpenAPI document: it is a client of the
API, not part of it. Everything it needs is served from this package; the page makes no
request to any other host, which the Content-Security-Policy below also enforces.
"""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

bp = Blueprint("console", __name__, static_folder="static", static_url_path="/static/console")

# 'self' only: no CDN, no web fonts, no inline script; inline styles are not needed either.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@bp.get("/")
def index() -> Response:
    """The console page."""
    response = send_from_directory(bp.static_folder or "static", "index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-cache"
    return response
