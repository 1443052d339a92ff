"""The application factory: ``create_app(config=None, services=None)`` builds the API."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from flask import redirect
from flask_openapi3 import Info, OpenAPI
from werkzeug.wrappers import Response

from ai_backends import __version__
from ai_backends.api import auth, limits, observability, problems
from ai_backends.api.context import SERVICES_KEY
from ai_backends.api.openai import errors as openai_errors
from ai_backends.core.jsonenc import NumpyJSONProvider
from ai_backends.core.logs import configure_logging
from ai_backends.core.schemas import Problem, problem_responses
from ai_backends.core.webserver import adapt_to_server
from ai_backends.core.wsgi import CountedBody
from ai_backends.services import Services, build_services

SECURITY_SCHEMES = {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "bearer": {"type": "http", "scheme": "bearer"}}
DOCS_PATH = "/openapi/swagger"
SYNC_FUNCTIONS_KEPT = 512
SPEC_PATH = "/openapi/openapi.json"


class ServiceAPI(OpenAPI):
    """flask-openapi3's app, with its automatic 422 responses made truthful.

    The library documents a 422 on every operation as a JSON array; ours is one
    problem+json body, and operations without parameters or body cannot answer 422 at all.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's check for ``async def`` (run for every hook of every request), done once
        per function (up to a bound: ``after_this_request`` makes new functions each time)."""
        known = self._sync_functions.get(func)
        if known is None:
            known = super().ensure_sync(func)
            if len(self._sync_functions) < SYNC_FUNCTIONS_KEPT:
                self._sync_functions[func] = known
        return known

    @cached_property
    def _sync_functions(self) -> dict[Callable[..., Any], Callable[..., Any]]:
        return {}

    def generate_spec_json(self) -> None:
        """Build the spec, then fix the 422 responses and add what the edge hooks can answer."""
        super().generate_spec_json()
        self.spec_json["components"]["securitySchemes"] = SECURITY_SCHEMES
        validation = problem_responses(422)[422]
        for path, path_item in self.spec_json["paths"].items():
            for method, operation in path_item.items():
                responses = operation["responses"]
                if not path.startswith(auth.PUBLIC_PREFIXES):
                    # Keys are optional (API_KEYS); the empty requirement says "or none".
                    operation["security"] = [{"apiKey": []}, {"bearer": []}, {}]
                    responses.update(problem_responses(401))
                if method == "post" and path.startswith(limits.LIMITED_PREFIXES):
                    responses.update(problem_responses(429))
                if "application/json" not in responses.get("422", {}).get("content", {}):
                    continue  # declared by the route itself
                if "requestBody" in operation or operation.get("parameters"):
                    responses["422"] = validation
                else:
                    del responses["422"]
        openai_errors.document(self.spec_json)  # /v1: OpenAI's error bodies, not problems


def create_app(config: Mapping[str, Any] | None = None,
               services: Services | None = None) -> ServiceAPI:
    """Build the API on ``services`` (default: ``build_services(config)``).

    Settings come from defaults, then environment variables, then ``config``; tests pass
    services of their own.
    """
    if services is None:
        services = build_services(config)
    settings = services.config
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    app = ServiceAPI(
        __name__,
        info=Info(title="ai-backends-py", version=__version__,
                  description="A reference AI back end: ONNX classification, a local LLM, "
                              "caching, drift monitoring and a model registry."),
        doc_prefix="/openapi",
        validation_error_status=422,
        validation_error_model=Problem,
        validation_error_callback=problems.validation_problem,
    )
    app.config.update(settings)
    app.config["STARTED_AT"] = time.time()
    app.json = NumpyJSONProvider(app)
    app.json.sort_keys = False
    app.wsgi_app = adapt_to_server(  # type: ignore[method-assign,assignment]
        CountedBody(app.wsgi_app, settings["MAX_CONTENT_LENGTH"]))

    observability.init_app(app)  # first: every later hook and log line has a request id
    auth.init_app(app)
    problems.init_app(app)
    app.extensions[SERVICES_KEY] = services
    limits.init_app(app)
    openai_errors.init_app(app)  # problems under /v1/ leave in OpenAI's error shape

    from ai_backends.api.health import bp as health_bp
    from ai_backends.api.v1 import bp as v1_bp

    app.register_api(health_bp)
    app.register_api(v1_bp)

    from ai_backends.api.v2 import bp as v2_bp

    app.register_api(v2_bp)

    from ai_backends.api.openai import bp as openai_bp

    app.register_api(openai_bp)

    from ai_backends.console import (
        bp as console_bp,  # the browser console at /, not part of the spec
    )

    app.register_blueprint(console_bp)

    @app.get("/openapi.json", doc_ui=False)
    def openapi_document() -> Response:
        """The OpenAPI 3.1 document (also at /openapi/openapi.json)."""
        return redirect(SPEC_PATH)

    @app.get("/docs", doc_ui=False)
    def docs() -> Response:
        """The interactive API documentation."""
        return redirect(DOCS_PATH)

    return app
