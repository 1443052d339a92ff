"""The model host: one process that holds the embedded LLM and the embedding model for every
API worker of the machine, behind a subset of Ollama's HTTP API.

    python -m ai_backends.llm.host        (run.py starts it when the embedded LLM is in use)

Without it, each API worker loads its own llama.cpp model (about 190 MB) and its own MiniLM
session (about 200 MB). With it, the workers reach the one copy here through the clients
they already have for Ollama (``HostBackend``, ``RemoteEmbedder``); a crash of llama.cpp
takes down this process, not an API worker, and the supervisor restarts it.

Endpoints (as Ollama's): ``GET /api/version``, ``GET /api/tags``, ``POST /api/chat`` and
``POST /api/generate`` (NDJSON streams, one record per piece of text, or one JSON answer with
``"stream": false``), ``POST /api/embed``; and, not Ollama's, ``POST /drift-report``: the
API's drift reports, run in one child process per machine (not per worker) that ends
``DRIFT_JOB_LINGER_SECONDS`` after its last report, so Evidently and pandas do not stay.
Errors are ``{"error": ...}`` with 400 (bad request), 404 (unknown model or path) or 503
(busy, model missing); an error after a stream has begun is its last record, as Ollama does.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from ai_backends.cache.embeddings import MAX_INPUT_TOKENS, MODEL_NAME, Embedder
from ai_backends.core.errors import InvalidInput, Unavailable
from ai_backends.llm import Generation, GenerationParams
from ai_backends.llm.backends import LlamaCppBackend
from ai_backends.llm.service import check_params

VERSION = "0.1.0"  # of this Ollama subset, for GET /api/version
# Names under which /api/embed accepts the embedding model (Ollama's tag, ours, the hub's).
EMBEDDING_NAMES = {"all-minilm", "all-minilm:latest", "all-MiniLM-L6-v2", MODEL_NAME}
_ROLES = {"system", "user", "assistant"}


class HostError(Exception):
    """A request the host refuses: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def params_from(options: Any, default_max_tokens: int) -> GenerationParams:
    """Ollama's ``options`` as bounded GenerationParams; InvalidInput when out of bounds."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise InvalidInput("options must be an object")
    try:
        predict = options.get("num_predict")
        stop = options.get("stop") or ()
        params = GenerationParams(
            max_tokens=default_max_tokens if predict is None or int(predict) < 0
            else int(predict),
            temperature=float(options.get("temperature", 0.8)),
            seed=None if options.get("seed") is None else int(options["seed"]),
            top_p=float(options.get("top_p", 0.9)),
            stop=(stop,) if isinstance(stop, str) else tuple(str(s) for s in stop),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"invalid options: {exc}") from exc
    check_params(params)
    return params


def chat_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """The ``messages`` of an /api/chat body as role dicts; InvalidInput when malformed."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("messages must be a non-empty list")
    converted = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES \
                or not isinstance(message.get("content", ""), str):
            raise InvalidInput("each message needs a role (system, user, assistant) and "
                               "text content")
        converted.append({"role": message["role"], "content": message.get("content", "")})
    return converted


def generate_messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """The ``system`` and ``prompt`` of an /api/generate body as role dicts."""
    prompt, system = body.get("prompt"), body.get("system")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidInput("prompt must be a non-empty string")
    if system is not None and not isinstance(system, str):
        raise InvalidInput("system must be a string")
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]


class ModelThread:
    """Runs every generation on one long-lived thread, one after the other.

    llama.cpp parallelizes each token with an OpenMP thread team that belongs to the calling
    thread. Called from a new HTTP thread per connection, every caller gets a team of its
    own and the idle ones keep spinning on the two cores: generation measured about a
    quarter slower. One calling thread keeps one team.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Iterator[Any]], queue.Queue[Any],
                                      threading.Event]] = queue.Queue()
        threading.Thread(target=self._run, name="model", daemon=True).start()

    def stream(self, start: Callable[[], Iterator[Any]], timeout: float) -> Iterator[Any]:
        """Items of ``start()`` run on the model thread; Unavailable if it is not started
        within ``timeout`` (the model is busy with earlier requests)."""
        out: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        self._jobs.put((start, out, cancel))
        try:
            wait: float | None = timeout
            while True:
                try:
                    kind, value = out.get(timeout=wait)
                except queue.Empty:
                    raise Unavailable(f"embedded LLM busy: no turn within {timeout:g}s",
                                      retry_after=max(1, int(timeout // 4))) from None
                wait = None  # started: the generation's own deadline bounds it from here
                if kind == "item":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            cancel.set()  # a caller that went away stops its generation within a token

    def _run(self) -> None:
        while True:
            start, out, cancel = self._jobs.get()
            if cancel.is_set():
                continue  # its caller gave up waiting
            try:
                items = start()
                try:
                    for item in items:
                        out.put(("item", item))
                        if cancel.is_set():
                            break
                finally:
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
            except Exception as exc:  # handed to the caller's thread, raised there
                out.put(("error", exc))
            else:
                out.put(("end", None))


class ModelHost:
    """The models of the host and what each endpoint does with them (no HTTP here)."""

    def __init__(self, llm: LlamaCppBackend, embedder: Embedder, timeout: float,
                 default_max_tokens: int = 128, data_dir: str | Path = "data",
                 drift_linger: float = 0.0) -> None:
        self.llm = llm
        self.embedder = embedder
        self.drift = DriftReports(data_dir, drift_linger)
        self.timeout = timeout
        self.default_max_tokens = default_max_tokens
        self.model_thread = ModelThread()

    def tags(self) -> dict[str, Any]:
        """GET /api/tags: the LLM and the embedding model."""
        return {"models": [
            {"name": self.llm.model, "model": self.llm.model, "modified_at": _now(),
             "details": {"format": "gguf", "family": "llama",
                         "quantization_level": self.llm.quantization,
                         "loaded": self.llm.loaded}},
            {"name": "all-minilm", "model": MODEL_NAME, "modified_at": _now(),
             "details": {"format": "onnx", "family": "bert", "quantization_level": "int8",
                         "loaded": self.embedder.loaded}},
        ]}

    def _check_model(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in {self.llm.model, f"{self.llm.model}:latest"}:
            raise HostError(404, f"model '{model}' not found")

    def generation(self, path: str,
                   body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """The records of a /api/chat or /api/generate answer, streamed piece by piece."""
        self._check_model(body)
        messages = chat_messages(body) if path == "/api/chat" else generate_messages(body)
        params = params_from(body.get("options"), self.default_max_tokens)
        pieces = self.model_thread.stream(
            lambda: self.llm.stream_roles(messages, params, self.timeout), self.timeout)
        return self._records(path, pieces)

    def _records(self, path: str, pieces: Iterator[str | Generation]
                 ) -> Generator[dict[str, Any], None, None]:
        def record(text: str) -> dict[str, Any]:
            if path == "/api/chat":
                return {"model": self.llm.model, "created_at": _now(),
                        "message": {"role": "assistant", "content": text}}
            return {"model": self.llm.model, "created_at": _now(), "response": text}

        try:
            for piece in pieces:
                if isinstance(piece, Generation):
                    nanoseconds = int(piece.latency_ms * 1e6)
                    yield {**record(""), "done": True, "done_reason": piece.finish_reason,
                           "total_duration": nanoseconds, "load_duration": 0,
                           "prompt_eval_count": piece.prompt_tokens,
                           "eval_count": piece.completion_tokens, "eval_duration": nanoseconds}
                else:
                    yield {**record(piece), "done": False}
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # the model's lock is free at once, not when collected

    def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/embed: one unit vector per input text."""
        if body.get("model") not in EMBEDDING_NAMES:
            raise HostError(404, f"model '{body.get('model')}' not found")
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise InvalidInput("input must be a string or a non-empty list of strings")
        started = time.perf_counter()
        counts = self.embedder.count_tokens(texts)
        vectors = self.embedder.embed(texts)
        return {"model": body["model"], "embeddings": vectors.tolist(),
                "total_duration": int((time.perf_counter() - started) * 1e9),
                "load_duration": 0,
                "prompt_eval_count": sum(min(n, MAX_INPUT_TOKENS) for n in counts)}


class DriftReports:
    """Drift reports for the API workers (``POST /drift-report``), one at a time, computed
    in a child process (``mlops/drift_job.py``) that ends ``linger`` seconds after its last
    report: Evidently and pandas (about 280 MB) are never kept by the host itself. Reference
    and HTML are the host's own ``DATA_DIR`` files; a request sends only the logged rows."""

    def __init__(self, data_dir: str | Path, linger: float = 0.0) -> None:
        from ai_backends.mlops.drift import DriftJobs

        self.data_dir = Path(data_dir)
        self.jobs = DriftJobs(linger)  # one report at a time: they share one HTML file

    def report(self, body: dict[str, Any]) -> dict[str, Any]:
        """The summary of one report on ``body["rows"]``."""
        from ai_backends.classify.training import REFERENCE_FILE
        from ai_backends.mlops.drift import HTML_FILE

        rows = body.get("rows")
        if not isinstance(rows, list) or not rows:
            raise InvalidInput("rows must be a non-empty list")
        return self.jobs.run(rows, self.data_dir / REFERENCE_FILE, self.data_dir / HTML_FILE)


class HostServer(ThreadingHTTPServer):
    """The HTTP server of one ModelHost (a thread per connection, keep-alive)."""

    daemon_threads = True

    def __init__(self, host: ModelHost, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.model_host = host

    @property
    def url(self) -> str:
        """Base URL, as MODEL_HOST_URL."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up (an API worker that stopped reading)."""


class _Handler(BaseHTTPRequestHandler):
    server: HostServer
    protocol_version = "HTTP/1.1"  # keep-alive: a worker reuses its connection

    def log_message(self, format: str, *args: Any) -> None:  # the API logs requests
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)  # compact, as Ollama's
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path == "/api/version":
            self._json(200, {"version": VERSION, "pid": os.getpid()})
        elif self.path == "/api/tags":
            self._json(200, self.server.model_host.tags())
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise InvalidInput("the body must be a JSON object")
        except (ValueError, InvalidInput) as exc:
            self._json(400, {"error": f"invalid JSON body: {exc}"})
            return
        try:
            self._answer(body)
        except HostError as exc:
            self._json(exc.status, {"error": str(exc)})
        except InvalidInput as exc:
            self._json(400, {"error": exc.detail})
        except Unavailable as exc:
            self._json(503, {"error": exc.detail})
        except Exception as exc:  # a bug, not a reason to drop the connection unanswered
            self._json(500, {"error": f"model host error: {type(exc).__name__}: {exc}"})

    def _answer(self, body: dict[str, Any]) -> None:
        host = self.server.model_host
        if self.path == "/api/embed":
            self._json(200, host.embed(body))
            return
        if self.path == "/drift-report":  # ours, not Ollama's
            self._json(200, host.drift.report(body))
            return
        if self.path not in {"/api/chat", "/api/generate"}:
            raise HostError(404, "not found")
        records = host.generation(self.path, body)
        # The first record decides the status: a busy model, a missing file or a prompt
        # too long for the context is an HTTP error, not a stream that fails.
        first = next(records)
        if body.get("stream") is False:
            self._json(200, _collected(first, records))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._chunk(first)
            try:
                for record in records:
                    self._chunk(record)
            except (InvalidInput, Unavailable) as exc:  # Ollama's way: an error record
                self._chunk({"error": exc.detail})
            except (BrokenPipeError, ConnectionResetError):
                raise
            except Exception as exc:  # the headers are out: an error record, not a 500
                self._chunk({"error": f"model host error: {type(exc).__name__}: {exc}"})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the worker hung up; closing ends the generation
        finally:
            records.close()  # releases the model at once, also when the client went away


def _collected(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """One answer from a stream of records (``"stream": false``)."""
    records = [first, *rest]
    final = dict(records[-1])
    if "message" in final:
        text = "".join(r["message"]["content"] for r in records)
        final["message"] = {"role": "assistant", "content": text}
    else:
        final["response"] = "".join(r["response"] for r in records)
    return final


def host_from_config(config: dict[str, Any]) -> ModelHost:
    """A ModelHost with the models the settings name (nothing loads until first use)."""
    llm = LlamaCppBackend(config["LLM_MODEL_PATH"], config["LLM_THREADS"],
                          config["LLM_CONTEXT_TOKENS"], config["LLM_TIMEOUT_SECONDS"])
    return ModelHost(llm, Embedder(config["EMBEDDING_MODEL_DIR"]),
                     config["LLM_TIMEOUT_SECONDS"], config["LLM_DEFAULT_MAX_TOKENS"],
                     config["DATA_DIR"], config["DRIFT_JOB_LINGER_SECONDS"])


def serve(config: dict[str, Any]) -> None:
    """Serve the model host on 127.0.0.1:MODEL_HOST_PORT until SIGTERM or Ctrl-C."""
    server = HostServer(host_from_config(config), ("127.0.0.1", int(config["MODEL_HOST_PORT"])))

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"model host on {server.url} ({server.model_host.llm.describe()})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    from ai_backends.core.config import load_config

    serve(load_config())
