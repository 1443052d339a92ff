"""The application factory: ``create_app(config=None)`` builds the whole API."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from flask import redirect
from flask_openapi3 import Info, OpenAPI
from werkzeug.wrappers import Response

from . import __version__, extensions
from .api import problems
from .config import load_config
from .jsonenc import NumpyJSONProvider
from .schemas.common import Problem

DOCS_PATH = "/openapi/swagger"
SPEC_PATH = "/openapi/openapi.json"


def create_app(config: Mapping[str, Any] | None = None) -> OpenAPI:
    """Build the API: defaults, then environment variables, then ``config``."""
    settings = load_config(config)
    logging.basicConfig(level=settings["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = OpenAPI(
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

    problems.init_app(app)
    extensions.init_app(app)

    from .api.health import bp as health_bp
    from .api.v1 import bp as v1_bp

    app.register_api(health_bp)
    app.register_api(v1_bp)

    from .api.v2 import bp as v2_bp

    app.register_api(v2_bp)

    @app.get("/openapi.json", doc_ui=False)
    def openapi_document() -> Response:
        """The OpenAPI 3.1 document (also at /openapi/openapi.json)."""
        return redirect(SPEC_PATH)

    @app.get("/docs", doc_ui=False)
    def docs() -> Response:
        """The interactive API documentation."""
        return redirect(DOCS_PATH)

    return app
