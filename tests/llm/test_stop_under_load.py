"""Ctrl-C of ``run.py`` with four 1,024-token generations streaming: every stream ends with
a record the client can read, and nothing is left behind (no process, no temp folder).

Before, the API did not stop within run.py's deadline, was killed, the embedded
redis-server survived with parent 1, and streams ended on a bare ``{"token": ...}`` line.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from ai_backends.classify.training import REFERENCE_FILE
from tests.stack import ctrl_c_leaves_nothing, launch_stack, wait

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STREAMS = 4
STOP_TIMEOUT = 60.0  # run.py: 20 s per stop step; measured ~10-20 s with streams open


def _stream(url: str, lines: list[Any], started: threading.Event) -> None:
    """One streamed generation of up to 1,024 tokens; every line lands in ``lines``."""
    try:
        with requests.post(f"{url}/api/v1/generate", stream=True, timeout=120, json={
                "prompt": "Tell a very long story about a dragon who learns to sail.",
                "max_tokens": 1024, "temperature": 0.9, "stream": True}) as response:
            lines.append(response.status_code)
            for raw in response.iter_lines():
                if raw:
                    lines.append(json.loads(raw))
                    started.set()
    except requests.RequestException as exc:  # a cut without a word: what must not happen
        lines.append(f"{type(exc).__name__}: {exc}")


def test_ctrl_c_under_llm_load_ends_every_stream_with_a_record(
        tmp_path_factory: pytest.TempPathFactory, model_dir: Path, registry_uri: str,
        trained: tuple[Any, Path]) -> None:
    with launch_stack(tmp_path_factory, model_dir, registry_uri, trained[1] / REFERENCE_FILE,
                      "llm-stop", WEB_WORKERS="2") as stack:
        results: list[list[Any]] = [[] for _ in range(STREAMS)]
        started = [threading.Event() for _ in range(STREAMS)]
        threads = [threading.Thread(target=_stream, args=(stack.url, results[i], started[i]))
                   for i in range(STREAMS)]
        for thread in threads:
            thread.start()
        # Both workers generate (each model serves one stream at a time; the rest queue).
        wait(lambda: sum(event.is_set() for event in started) >= 2, 90, "two streams to start")
        took = ctrl_c_leaves_nothing(stack, STOP_TIMEOUT)
        for thread in threads:
            thread.join(30)
    print(f"run.py stopped in {took:.1f}s with {STREAMS} streams open;",
          [(lines[0], len(lines), lines[-1]) for lines in results])
    cut = 0
    for lines in results:
        assert lines and lines[0] in (200, 503), lines[:3]
        if lines[0] == 503:
            continue  # never started: an ordinary problem response
        last = lines[-1]
        assert isinstance(last, dict) and ("done" in last or "error" in last), lines[-3:]
        if "error" in last:
            assert last["error"]["status"] == 503
            assert "shutting down" in last["error"]["detail"]
            cut += 1
    assert cut >= 1  # a stream still generating was cut, and said so
