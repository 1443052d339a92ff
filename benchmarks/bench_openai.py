"""Benchmark what the OpenAI-compatible surface adds to a generation, side by side.

    python benchmarks/bench_openai.py [--runs 9] [--max-tokens 64] [--port 0]

Starts the API under gunicorn (1 worker, so one model copy) on a free loopback port and
asks the same greedy question of the same model through four paths, interleaved round by
round (the order reversed every other round) so machine noise hits them alike:

  generate        POST /api/v1/generate                    (the project's own JSON)
  chat            POST /v1/chat/completions                 (same system prompt + prompt)
  chat stream     POST /v1/chat/completions, "stream": true (read to data: [DONE])
  completions     POST /v1/completions                      (answered as /api/v1/generate)

Every path must generate exactly --max-tokens tokens of the same prompt. Prints the median
wall time, the ratio to /api/v1/generate and the server's CPU per request (utime + stime of
the gunicorn processes from /proc, read around each request).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_seconds(pgid: int) -> float:
    """utime + stime of every process in the process group ``pgid`` (the server)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    """gunicorn with the app factory on 127.0.0.1:port, in its own process group."""
    env = {**os.environ, "LLM_BACKEND": "llamacpp", "RATE_LIMIT_PER_MINUTE": "0",
           "LOG_LEVEL": "WARNING", "DATA_DIR": data_dir, "API_KEYS": ""}
    argv = [sys.executable, "-m", "gunicorn", "ai_backends.api.app:create_app()",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500:
                return process
        except requests.RequestException:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("the server did not answer within 120 s")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(port, data_dir)
        try:
            run(url, server.pid, args.runs, args.max_tokens)
            print()
            run(url, server.pid, args.runs * 3, 1)  # the fixed cost of each path
        finally:
            server.terminate()
            server.wait(timeout=30)


def _ok(answer: requests.Response) -> dict[str, Any]:
    if answer.status_code != 200:
        raise SystemExit(f"{answer.request.path_url} answered {answer.status_code}: "
                         f"{answer.text[:500]}")
    body: dict[str, Any] = answer.json()
    return body


def run(url: str, pgid: int, runs: int, max_tokens: int) -> None:
    """Interleave the four paths ``runs`` times and print medians and ratios."""
    session = requests.Session()
    greedy = {"max_tokens": max_tokens, "temperature": 0, "seed": 0}
    model = session.get(f"{url}/v1/models", timeout=30).json()["data"][0]["id"]
    messages = [{"role": "system", "content": GENERATE_SYSTEM_PROMPT},
                {"role": "user", "content": PROMPT}]

    def generate() -> tuple[int, str]:
        body = _ok(session.post(f"{url}/api/v1/generate", json={"prompt": PROMPT, **greedy},
                                timeout=600))
        return body["completion_tokens"], body["response"]

    def chat() -> tuple[int, str]:
        body = _ok(session.post(f"{url}/v1/chat/completions", timeout=600,
                                json={"model": model, "messages": messages, **greedy}))
        return body["usage"]["completion_tokens"], body["choices"][0]["message"]["content"]

    def chat_stream() -> tuple[int, str]:
        text, tokens = "", 0
        with session.post(f"{url}/v1/chat/completions", stream=True, timeout=600,
                          json={"model": model, "messages": messages, "stream": True,
                                "stream_options": {"include_usage": True}, **greedy}) as answer:
            for line in answer.iter_lines():
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                for choice in chunk["choices"]:
                    text += choice["delta"].get("content") or ""
        return tokens, text

    def completions() -> tuple[int, str]:
        body = _ok(session.post(f"{url}/v1/completions", timeout=600,
                                json={"model": model, "prompt": PROMPT, **greedy}))
        return body["usage"]["completion_tokens"], body["choices"][0]["text"]

    paths: dict[str, Callable[[], tuple[int, str]]] = {
        "generate": generate, "chat": chat, "chat stream": chat_stream,
        "completions": completions}
    reference = generate()  # loads the model; also the answer every path must give
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(runs):
        order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
        for name in order:
            cpu_before, began = group_cpu_seconds(pgid), time.perf_counter()
            tokens, text = paths[name]()
            wall[name].append((time.perf_counter() - began) * 1000)
            cpu[name].append((group_cpu_seconds(pgid) - cpu_before) * 1000)
            if tokens != max_tokens or text != reference[1]:
                raise SystemExit(f"{name} generated {tokens} tokens / another text; the "
                                 f"comparison needs the same {max_tokens}-token answer")
    base = statistics.median(wall["generate"])
    print(f"model {model}; {runs} interleaved rounds of {max_tokens} greedy tokens; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'path':14s} {'median ms':>10s} {'vs generate':>12s} {'tokens/s':>9s} "
          f"{'CPU ms/req':>11s} {'mean CPU ms':>12s} {'CPU vs generate':>16s}")
    base_mean_cpu = statistics.mean(cpu["generate"])
    for name in paths:
        median, median_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        mean_cpu = statistics.mean(cpu[name])  # CPU ticks are 10 ms: the mean resolves more
        print(f"{name:14s} {median:10.1f} {median / base:12.3f} "
              f"{max_tokens / median * 1000:9.1f} {median_cpu:11.1f} {mean_cpu:12.1f} "
              f"{mean_cpu / base_mean_cpu:16.3f}")
    ratio = statistics.median(wall["chat"]) / base
    cpu_ratio = statistics.mean(cpu["chat"]) / base_mean_cpu
    # Each round ran both paths back to back: the median of the per-round ratios cancels
    # the slow drift of the machine's load better than a ratio of medians.
    paired = statistics.median(c / g for c, g in zip(wall["chat"], wall["generate"],
                                                     strict=True))
    print(f"OpenAI chat / generate at {max_tokens} tokens: median wall time {ratio:.3f} "
          f"({(ratio - 1) * 100:+.1f}%), per-round pairs {paired:.3f} "
          f"({(paired - 1) * 100:+.1f}%), server CPU {cpu_ratio:.3f} "
          f"({(cpu_ratio - 1) * 100:+.1f}%); budget +5%")


if __name__ == "__main__":
    main()
