"""Batch inference: run many prompts through the generation service, resumably.

Results go to one JSON file ``{"summary": {...}, "results": [...]}`` that is rewritten
atomically after every finished prompt, so an interrupted run leaves a complete file that
``resume`` continues from: prompts with a result are not run again, failed ones are retried.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ai_backends.classify.training import write_atomic
from ai_backends.core.errors import ServiceError
from ai_backends.llm import GenerationParams
from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT
from ai_backends.llm.service import GenerationService, single_turn

SAMPLE_PROMPTS = [
    "What is the capital of France?",
    "Explain overfitting in one sentence.",
    "Write a haiku about the sea.",
    "Give three tips for writing clear code.",
    "What is the difference between a list and a tuple in Python?",
    "Translate 'good morning' into Spanish.",
    "Name two uses of a hash map.",
    "Summarize the water cycle in two sentences.",
]


@dataclass
class Record:
    """The outcome of one prompt."""

    index: int
    prompt: str
    response: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    backend: str | None = None
    model: str | None = None
    error: str | None = None
    prompt_sha256: str = ""


Runner = Callable[[str], Record]


def write_samples(folder: Path) -> tuple[Path, Path]:
    """Write sample_prompts.txt (one per line) and sample_prompts.csv (id,prompt)."""
    folder.mkdir(parents=True, exist_ok=True)
    text_path, csv_path = folder / "sample_prompts.txt", folder / "sample_prompts.csv"
    write_atomic(text_path, ("\n".join(SAMPLE_PROMPTS) + "\n").encode())
    rows = ["id,prompt"] + [f'{n},"{p}"' for n, p in enumerate(SAMPLE_PROMPTS, 1)]
    write_atomic(csv_path, ("\n".join(rows) + "\n").encode())
    return text_path, csv_path


def read_prompts(path: Path, as_csv: bool) -> list[str]:
    """Prompts from a text file (one per line, blank lines and #comments skipped) or a CSV
    with a ``prompt`` column."""
    with path.open(encoding="utf-8", newline="") as handle:
        if as_csv:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "prompt" not in reader.fieldnames:
                raise ValueError(f"{path} has no 'prompt' column")
            return [row["prompt"] for row in reader if (row["prompt"] or "").strip()]
        return [line.rstrip("\n") for line in handle
                if line.strip() and not line.lstrip().startswith("#")]


def local_runner(service: GenerationService, params: GenerationParams) -> Runner:
    """Run prompts in this process through the service layer (as /api/v1/generate does)."""

    def run(prompt: str) -> Record:
        result = service.generate(single_turn(GENERATE_SYSTEM_PROMPT, prompt), params)
        return Record(0, prompt, result.text, result.prompt_tokens, result.completion_tokens,
                      round(result.latency_ms, 2), result.backend, result.model)

    return run


def http_runner(url: str, params: GenerationParams, timeout: float) -> Runner:
    """Run prompts against a running API's POST /api/v1/generate."""
    import requests

    endpoint = f"{url.rstrip('/')}/api/v1/generate"
    local = threading.local()  # one Session per worker thread: Sessions are not thread-safe

    def run(prompt: str) -> Record:
        body: dict[str, Any] = {"prompt": prompt, "temperature": params.temperature}
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.seed is not None:
            body["seed"] = params.seed
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(endpoint, json=body, timeout=timeout)
        data = response.json()
        if response.status_code != 200:
            raise ServiceError(f"HTTP {response.status_code}: {data.get('detail', data)}")
        return Record(0, prompt, data["response"], data["prompt_tokens"],
                      data["completion_tokens"], data["latency_ms"], data["backend"],
                      data["model"])

    return run


def _digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()


def _load_done(output: Path, prompts: list[str]) -> dict[int, Record]:
    """Successful records of an earlier run of the same prompts."""
    if not output.exists():
        return {}
    previous = json.loads(output.read_text(encoding="utf-8"))
    done = {}
    for item in previous.get("results", []):
        record = Record(**item)
        matches = record.index < len(prompts) and record.prompt_sha256 == _digest(
            prompts[record.index])
        if not matches:
            raise ValueError(f"{output} was written for other prompts (record {record.index}); "
                             "use another --output or drop --resume")
        if record.error is None:
            done[record.index] = record
    return done


def summarize(records: Iterable[Record], total: int, wall_seconds: float,
              complete: bool) -> dict[str, Any]:
    """Counts, token totals and latency statistics of the records so far."""
    records = list(records)
    ok = [r for r in records if r.error is None]
    latencies = [r.latency_ms for r in ok]
    completion = sum(r.completion_tokens for r in ok)
    return {
        "complete": complete,
        "prompts": total,
        "processed": len(records),
        "succeeded": len(ok),
        "failed": len(records) - len(ok),
        "prompt_tokens": sum(r.prompt_tokens for r in ok),
        "completion_tokens": completion,
        "latency_ms_mean": round(statistics.fmean(latencies), 2) if latencies else None,
        "latency_ms_median": round(statistics.median(latencies), 2) if latencies else None,
        "wall_seconds_this_run": round(wall_seconds, 2),
        "completion_tokens_per_second": round(
            sum(r.completion_tokens for r in ok) / sum(latencies) * 1000, 2)
        if latencies and sum(latencies) else None,
    }


def run_batch(prompts: list[str], runner: Runner, output: Path, concurrency: int = 2,
              resume: bool = False, progress: Callable[[int, int], Any] | None = None
              ) -> dict[str, Any]:
    """Run every prompt not finished yet; save all records after each one; return summary.

    ``progress(done, total)`` is called as prompts finish (e.g. to move a progress bar).
    """
    records = _load_done(output, prompts) if resume else {}
    todo = [i for i in range(len(prompts)) if i not in records]
    lock = threading.Lock()
    started = time.perf_counter()

    def save(complete: bool) -> dict[str, Any]:
        ordered = [records[i] for i in sorted(records)]
        summary = summarize(ordered, len(prompts), time.perf_counter() - started, complete)
        body = {"summary": summary, "results": [asdict(r) for r in ordered]}
        write_atomic(output, json.dumps(body, indent=2, ensure_ascii=False).encode())
        return summary

    def one(index: int) -> Record:
        prompt = prompts[index]
        began = time.perf_counter()
        try:
            record = runner(prompt)
        except Exception as exc:  # a failing prompt is recorded, never fatal
            record = Record(0, prompt, error=f"{type(exc).__name__}: {exc}",
                            latency_ms=round((time.perf_counter() - began) * 1000, 2))
        record.index, record.prompt_sha256 = index, _digest(prompt)
        return record

    if progress:
        progress(len(records), len(prompts))
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(one, index) for index in todo]
        try:
            for future in as_completed(futures):
                record = future.result()
                with lock:
                    records[record.index] = record
                    save(complete=False)
                if progress:
                    progress(len(records), len(prompts))
        except BaseException:
            for future in futures:  # on Ctrl-C: stop queued prompts, keep what finished
                future.cancel()
            raise
    return save(complete=True)
