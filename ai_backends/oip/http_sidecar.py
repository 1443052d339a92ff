"""The REST sidecar: the Open Inference Protocol over HTTP/JSON, a plain WSGI app.

The protocol is the contract, so there is no OpenAPI layer and no framework: the
protocol's few routes under ``/v2``, matched by their path segments. In-process, Flask's
request machinery cost about 200 µs of CPU per one-row inference, 3.6 times the decoding,
model call and encoding it wrapped (``benchmarks/bench_sidecar_app.py --before``); answering
straight from the WSGI environ costs about 35 µs. Under granian that halved the server's
CPU per request (docs/performance.md, ``benchmarks/bench_peers.py --before``). Tensors go
through orjson, 10-20x faster than the standard library on a 1024-row batch. Errors leave
as the protocol says: ``{"error": "..."}`` with 400 for bad tensors, 404 for unknown models
and routes, 405 for a wrong method, 413 for a body over the limit, 503 when the model is
unavailable.
"""

from __future__ import annotations

import json as stdlib_json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import orjson

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.config import load_config
from ai_backends.core.errors import BadRequest, InvalidInput, ServiceError, Unavailable
from ai_backends.core.wsgi import CountedBody, WSGIApp, read_at_most
from ai_backends.oip import converters
from ai_backends.oip.access import DENIED, KEY_HEADER, key_matches
from ai_backends.oip.dataplane import DataPlane

log = logging.getLogger(__name__)
JSON = "application/json"
READ = ("GET", "HEAD")
PATH_SHOWN = 100  # characters of an unknown path repeated in its 404
_KEY_ENVIRON = "HTTP_" + KEY_HEADER.upper().replace("-", "_")
_BINARY_ENVIRON = "HTTP_" + converters.BINARY_HEADER.upper().replace("-", "_")
_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class HttpError(Exception):
    """An HTTP error other than a ``ServiceError``: a status, a reason and extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


Reply = tuple[int, bytes, str, list[tuple[str, str]]]  # status, body, media type, headers


def _status(exc: ServiceError) -> int:
    # The protocol knows one kind of bad request: a value problem is a bad tensor too.
    return 400 if isinstance(exc, BadRequest | InvalidInput) else exc.status


def _error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    return status, orjson.dumps({"error": message}), JSON, headers or []


def _health(ok: bool) -> Reply:
    # The protocol: 200 means true, a 4xx means false, and the body is empty.
    return 200 if ok else 400, b"", "", []


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise HttpError(405, f"{method} is not allowed here; use {', '.join(allowed)}",
                        [("Allow", ", ".join(allowed))])


def _no_route(path: str) -> HttpError:
    shown = path if len(path) <= PATH_SHOWN else path[:PATH_SHOWN] + "..."
    return HttpError(404, f"no route {shown}: the sidecar serves the /v2 protocol")


def _byte_count(value: str) -> int | None:
    """A header's count of bytes, or None when it is not one (``isdigit`` alone takes "²"
    and digit strings too long for ``int``)."""
    if value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    return None


def _path(environ: dict[str, Any]) -> str:
    """The request's path: WSGI hands it over as latin-1, and the names in it are UTF-8."""
    path: str = environ.get("PATH_INFO") or "/"
    try:
        return path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a server that decoded it already
        return path


def _body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole request body; 413 when it is longer than ``limit`` bytes."""
    length = _byte_count(environ.get("CONTENT_LENGTH") or "0")
    if length is None:
        raise HttpError(400, "Content-Length must be a number of bytes")
    if length > limit:
        raise HttpError(413, f"the request body is over the sidecar's limit of {limit} bytes")
    body = read_at_most(environ["wsgi.input"], length)
    if len(body) < length:
        raise HttpError(400, "the request body ended before its Content-Length")
    return body


def _split_body(raw: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON part of the request body, parsed, and the binary tensor data after it."""
    split = len(raw)
    if header_length is not None:
        given = _byte_count(header_length)
        if given is None or given > len(raw):
            raise BadRequest(f"{converters.BINARY_HEADER} must be a length within the body")
        split = given
    try:
        return orjson.loads(raw[:split]), raw[split:]
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard library also reads NaN and Infinity, so that such a tensor gets the
        # precise reason (values must be finite) instead of "not JSON".
        return stdlib_json.loads(raw[:split]), raw[split:]
    except ValueError as exc:
        raise BadRequest("the request body is not valid JSON") from exc
    except RecursionError as exc:  # nested deeper than orjson's 1024 and Python's stack
        raise BadRequest("the request body is nested too deeply") from exc


class SidecarApp:
    """The REST sidecar's WSGI app around a ``DataPlane``; ``api_key`` guards all but health."""

    def __init__(self, plane: DataPlane, max_request_bytes: int, api_key: str) -> None:
        self.plane = plane
        self.max_request_bytes = max_request_bytes
        self.api_key = api_key

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one request: route it, run it, and map every error to the protocol's."""
        method = environ["REQUEST_METHOD"]
        try:
            status, body, media, headers = self._route(environ, method)
        except ServiceError as exc:
            status, body, media, headers = _error(
                _status(exc), exc.detail,
                [("Retry-After", str(exc.retry_after))] if isinstance(exc, Unavailable) else [])
        except HttpError as exc:
            status, body, media, headers = _error(exc.status, exc.message, exc.headers)
        except Exception as exc:
            log.exception("unhandled error in %s %s", method, environ.get("PATH_INFO"))
            status, body, media, headers = _error(500, f"internal error: {type(exc).__name__}")
        if media:
            headers.append(("Content-Type", media))
        headers.append(("Content-Length", str(len(body))))
        start_response(_STATUS_LINES[status], headers)
        return [b"" if method == "HEAD" else body]

    def _route(self, environ: dict[str, Any], method: str) -> Reply:
        path = _path(environ)
        if self.api_key and not path.startswith("/v2/health/") \
                and not key_matches(environ.get(_KEY_ENVIRON, ""), self.api_key):
            raise HttpError(401, DENIED)
        parts = path.split("/")[1:]  # "/v2/models/iris" -> ["v2", "models", "iris"]
        if parts[:1] != ["v2"] or not all(parts):
            raise _no_route(path)
        plane = self.plane
        if len(parts) == 1:
            _allow(method, READ)
            return 200, orjson.dumps(plane.server_metadata()), JSON, []
        if parts[1] == "health" and parts[2:] in (["live"], ["ready"]):
            _allow(method, READ)
            return _health(plane.live() if parts[2] == "live" else plane.ready())
        if parts[1] != "models" or len(parts) < 3:
            raise _no_route(path)
        name, rest, version = parts[2], parts[3:], ""
        if rest[:1] == ["versions"] and len(rest) >= 2:
            version, rest = rest[1], rest[2:]
        if not rest:
            _allow(method, READ)
            return 200, orjson.dumps(plane.model_metadata(name, version)), JSON, []
        if rest == ["ready"]:
            _allow(method, READ)
            return _health(plane.model_ready(name, version))
        if rest == ["infer"]:
            _allow(method, ("POST",))
            return self._infer(environ, name, version)
        raise _no_route(path)

    def _infer(self, environ: dict[str, Any], name: str, version: str) -> Reply:
        # Check the model first: an unknown model is a 404 whatever the body holds.
        self.plane.check_model(name, version)
        raw = _body(environ, self.max_request_bytes)
        decoded = converters.request_from_json(*_split_body(raw, environ.get(_BINARY_ENVIRON)))
        result = self.plane.infer(name, version, decoded.inputs, decoded.outputs, decoded.id)
        body, binary = converters.result_to_json(result, decoded.binary_outputs)
        header = orjson.dumps(body)
        if not binary:
            return 200, header, JSON, []
        return 200, header + binary, "application/octet-stream", \
            [(converters.BINARY_HEADER, str(len(header)))]


def create_http_app(plane: DataPlane, max_request_bytes: int = 16 * 1024 * 1024,
                    api_key: str = "") -> WSGIApp:
    """The WSGI app of the REST sidecar around ``plane``; ``api_key`` guards all but health."""
    return CountedBody(SidecarApp(plane, max_request_bytes, api_key), max_request_bytes)


def run_gunicorn(app: WSGIApp, options: dict[str, Any]) -> None:
    """Serve ``app`` with gunicorn and ``options`` (no config file, no argv) until stopped."""
    from gunicorn.app.base import BaseApplication

    settings = {
        # gunicorn >= 27 opens a control socket at one fixed path per user; several servers
        # on one machine would fight over it, and nothing here uses it.
        "control_socket_disable": True,
        "accesslog": None,
        **options,
    }

    class Server(BaseApplication):
        """gunicorn running our app object with our settings."""

        def load_config(self) -> None:
            for key, value in settings.items():
                if key in self.cfg.settings:  # older gunicorn lacks some settings
                    self.cfg.set(key, value)

        def load(self) -> WSGIApp:
            return app

    Server().run()


def sidecar_app() -> WSGIApp:
    """The REST sidecar's app with its model loaded, from the settings (a server's factory)."""
    settings = load_config()
    plane = DataPlane(OnnxClassifier(settings["MODEL_DIR"]))
    plane.ready()  # load the ONNX session in this worker before it takes requests
    return create_http_app(plane, settings["SIDECAR_MAX_REQUEST_BYTES"],
                           settings["SIDECAR_API_KEY"])


def serve_gunicorn(settings: dict[str, Any]) -> None:
    """Serve the REST sidecar with gunicorn's sync workers (``HTTP_SIDECAR_SERVER=gunicorn``)."""
    plane = DataPlane(OnnxClassifier(settings["MODEL_DIR"]))

    def load_model(worker: Any) -> None:  # noqa: ARG001 - gunicorn hook signature
        # Each worker loads its own ONNX session after the fork, before taking requests.
        plane.ready()

    run_gunicorn(create_http_app(plane, settings["SIDECAR_MAX_REQUEST_BYTES"],
                                 settings["SIDECAR_API_KEY"]), {
        "bind": f"{settings['HTTP_SIDECAR_HOST']}:{settings['HTTP_SIDECAR_PORT']}",
        # Sync workers: one request per process at a time, a new connection per request.
        # Threaded workers keep connections alive, and then every connection of a client
        # can land on the same process while the other idles.
        "workers": settings["HTTP_SIDECAR_WORKERS"],
        "worker_class": "sync",
        "graceful_timeout": settings["SIDECAR_GRACE_SECONDS"],
        "post_worker_init": load_model,
        "loglevel": settings["LOG_LEVEL"].lower(),
        "proc_name": "oip-http-sidecar",
    })
