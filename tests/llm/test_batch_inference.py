"""ai-backends-batch (scripts/batch_inference.py): samples, a full run, a failing backend, interrupt and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ai_backends.llm import GenerationParams
from ai_backends.llm.batch import (
    SAMPLE_PROMPTS,
    local_runner,
    read_prompts,
    run_batch,
    write_samples,
)
from ai_backends.llm.cli import batch
from ai_backends.llm.service import GenerationService
from tests.conftest import free_port
from tests.fake_ollama import running

pytestmark = pytest.mark.integration
PARAMS = GenerationParams(max_tokens=4)


def test_samples_are_readable_as_text_and_csv(tmp_path: Path) -> None:
    text_file, csv_file = write_samples(tmp_path)
    assert read_prompts(text_file, as_csv=False) == SAMPLE_PROMPTS
    assert read_prompts(csv_file, as_csv=True) == SAMPLE_PROMPTS


def test_cli_runs_every_prompt_and_writes_records(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert batch(["--create-samples", "--samples-dir", str(tmp_path)]) == 0
    output = tmp_path / "results.json"
    with running() as server:
        monkeypatch.setenv("LLM_BACKEND", "ollama")
        monkeypatch.setenv("OLLAMA_BASE_URL", server.url)
        code = batch(["--input", str(tmp_path / "sample_prompts.csv"), "--csv",
                            "--output", str(output), "--max-tokens", "4", "--quiet"])
    assert code == 0
    body = json.loads(output.read_text())
    assert body["summary"]["complete"] and body["summary"]["succeeded"] == len(SAMPLE_PROMPTS)
    record = body["results"][0]
    assert record["prompt"] == SAMPLE_PROMPTS[0] and record["response"] == "Hello from the Ollama"
    assert record["completion_tokens"] == 4 and record["error"] is None
    assert record["backend"] == "ollama" and record["latency_ms"] >= 0


def test_failures_are_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    down = GenerationService("ollama", f"http://127.0.0.1:{free_port()}", timeout=2)
    summary = run_batch(SAMPLE_PROMPTS[:3], local_runner(down, PARAMS), output)
    assert summary["failed"] == 3 and summary["complete"]
    errors = [r["error"] for r in json.loads(output.read_text())["results"]]
    assert all(error and "Unavailable" in error for error in errors)
    with running() as server:
        service = GenerationService("ollama", server.url, timeout=5)
        summary = run_batch(SAMPLE_PROMPTS[:3], local_runner(service, PARAMS), output,
                            resume=True)
    assert summary["succeeded"] == 3 and summary["failed"] == 0


def test_interrupted_run_resumes_without_redoing_finished_prompts(tmp_path: Path) -> None:
    output = tmp_path / "results.json"

    def stop_after_three(done: int, total: int) -> None:
        if done >= 3:
            raise KeyboardInterrupt

    with running() as server:
        service = GenerationService("ollama", server.url, timeout=5)
        with pytest.raises(KeyboardInterrupt):
            run_batch(SAMPLE_PROMPTS, local_runner(service, PARAMS), output, concurrency=1,
                      progress=stop_after_three)
        partial = json.loads(output.read_text())  # a whole JSON document, not half a file
        assert partial["summary"]["complete"] is False
        finished = {r["index"] for r in partial["results"]}
        assert len(finished) == 3
        before = len(server.requests)
        summary = run_batch(SAMPLE_PROMPTS, local_runner(service, PARAMS), output,
                            concurrency=2, resume=True)
        assert len(server.requests) - before == len(SAMPLE_PROMPTS) - 3
    body = json.loads(output.read_text())
    assert summary["complete"] and summary["succeeded"] == len(SAMPLE_PROMPTS)
    assert [r["index"] for r in body["results"]] == list(range(len(SAMPLE_PROMPTS)))
    assert [r["prompt"] for r in body["results"]] == SAMPLE_PROMPTS


def test_resume_refuses_an_output_of_other_prompts(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    with running() as server:
        service = GenerationService("ollama", server.url, timeout=5)
        run_batch(["one prompt"], local_runner(service, PARAMS), output)
        with pytest.raises(ValueError, match="other prompts"):
            run_batch(["another prompt"], local_runner(service, PARAMS), output, resume=True)
