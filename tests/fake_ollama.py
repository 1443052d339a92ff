"""A small local server that speaks Ollama's HTTP API (/api/tags, /api/chat).

It stands in for an Ollama server at the external boundary only, so tests can drive the
real Ollama client code against a server that answers, one that is slow, and one that
breaks off in the middle of a stream.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = ["Hello", " from", " the", " Ollama", " server", "."]


class FakeOllama(ThreadingHTTPServer):
    """Ollama look-alike; ``mode`` is "ok", "slow" (waits ``delay`` s) or "break"."""

    daemon_threads = True

    def __init__(self, mode: str = "ok", model: str = "tinyllama", delay: float = 5.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.model = model
        self.delay = delay
        self.requests: list[dict[str, Any]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up (the slow and breaking modes provoke it)."""

    @property
    def url(self) -> str:
        """Base URL, as OLLAMA_BASE_URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOllama

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            name = f"{self.server.model}:latest"
            self._json(200, {"models": [{"name": name, "model": name, "size": 637700138}]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.server.requests.append(body)
        if self.path != "/api/chat":
            self._json(404, {"error": "not found"})
            return
        if body.get("model") != self.server.model:
            self._json(404, {"error": f"model '{body.get('model')}' not found"})
            return
        if self.server.mode == "slow":
            time.sleep(self.server.delay)
        limit = (body.get("options") or {}).get("num_predict") or len(ANSWER)
        pieces = ANSWER[:limit]
        prompt_count = sum(len(m["content"].split()) for m in body["messages"])
        final = {"model": self.server.model, "created_at": "2026-11-26T00:00:00Z",
                 "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "length" if limit < len(ANSWER) else "stop",
                 "prompt_eval_count": prompt_count, "eval_count": len(pieces),
                 "total_duration": 1000, "eval_duration": 500}
        if not body.get("stream", True):
            final["message"]["content"] = "".join(pieces)
            self._json(200, final)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for index, piece in enumerate(pieces):
            if self.server.mode == "break" and index == 2:
                self.wfile.flush()
                self.connection.shutdown(2)  # the server dies mid-answer
                return
            line = {"model": self.server.model, "created_at": "2026-11-26T00:00:00Z",
                    "message": {"role": "assistant", "content": piece}, "done": False}
            self.wfile.write((json.dumps(line) + "\n").encode())
            self.wfile.flush()
        self.wfile.write((json.dumps(final) + "\n").encode())


@contextmanager
def running(mode: str = "ok", **kwargs: Any) -> Iterator[FakeOllama]:
    """Run a FakeOllama on a free loopback port for the duration of the block."""
    server = FakeOllama(mode, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
