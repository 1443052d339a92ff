"""Generation speed through the API and the model host against the bare llama.cpp call.

    python benchmarks/bench_model_host.py [--runs 7] [--max-tokens 64]

Starts what run.py starts for generation — the model host (``python -m
ai_backends.llm.host``) and the API under its web server with ``MODEL_HOST_URL`` — on free
ports, then times the same greedy answer two ways, interleaved run by run so that machine
noise hits them alike:

  bare      llama-cpp-python's create_chat_completion in this process (its own model copy)
  api       POST /api/v1/generate with "stream": true through the API worker and the host

Tokens/s counts the completion tokens each path reports over the wall time of the whole
request (median and best run); as the machine's speed drifts by 10-20% from minute to
minute, the line under the table compares each API run with the bare run just before it
(the median of those ratios, and the middle half of them). CPU per token is read from
``/proc`` for each process that works on a path: this one (the bare model, or the API's
client), the API (its web server and workers) and the model host; on two cores, every
millisecond outside llama.cpp's own threads is taken from them.

Both paths send the same system prompt and question; the API also puts its canary line in
the system prompt (a few more prompt tokens). Each model sees one prompt again and again,
so both reuse it from llama.cpp's KV cache alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess  # nosec B404 - our own entry points with fixed arguments
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_classify import _free_port  # noqa: E402
from benchmarks.bench_servers import tree_cpu_seconds  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {seconds:g}s")


def main() -> int:
    """Start the host and the API, time the three paths, print a table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from llama_cpp import Llama

    from ai_backends.core.config import load_config
    from ai_backends.core.webserver import api_command
    from ai_backends.llm.backends import LlamaCppBackend
    from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT

    data = Path(tempfile.mkdtemp(prefix="bench-model-host-"))
    ports = {name: _free_port() for name in ("api", "host")}
    host_url = f"http://127.0.0.1:{ports['host']}"
    env = {**os.environ, "MODEL_HOST_PORT": str(ports["host"]), "MODEL_HOST_URL": host_url,
           "LLM_BACKEND": "llamacpp", "PORT": str(ports["api"]), "DATA_DIR": str(data),
           "RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    host_env = {k: v for k, v in env.items() if k != "MODEL_HOST_URL"}
    config = load_config({"PORT": ports["api"]})
    children = [
        subprocess.Popen([sys.executable, "-m", "ai_backends.llm.host"], cwd=ROOT,  # nosec B603
                         env=host_env, stdout=subprocess.DEVNULL),
        subprocess.Popen(api_command(config), cwd=ROOT, env=env,  # nosec B603
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    api = f"http://127.0.0.1:{ports['api']}"
    try:
        _wait(f"{host_url}/api/version", children[0])
        _wait(f"{api}/health", children[1])
        embedded = LlamaCppBackend()
        llama = Llama(model_path=embedded.model_path, n_ctx=embedded.context_tokens,
                      n_threads=embedded.threads, flash_attn=True, verbose=False)
        chat = [{"role": "system", "content": GENERATE_SYSTEM_PROMPT},
                {"role": "user", "content": PROMPT}]

        def bare() -> int:
            out = llama.create_chat_completion(chat, max_tokens=args.max_tokens,
                                               temperature=0.0, seed=0)
            return int(out["usage"]["completion_tokens"])

        session = requests.Session()

        def through_api() -> int:
            body = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 0.0,
                    "seed": 0, "stream": True}
            # The stream is read as it comes but only its last record parsed: a client
            # elsewhere parses on its own CPU, not on the two cores llama.cpp runs on.
            with session.post(f"{api}/api/v1/generate", json=body, stream=True,
                              timeout=300) as response:
                tail = b""
                for chunk in response.raw.stream(65536, decode_content=False):
                    tail = (tail + chunk)[-4096:]
                last = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])
            if "completion_tokens" not in last:
                raise SystemExit(f"the API answered {last}")
            return int(last["completion_tokens"])

        ways: dict[str, Callable[[], int]] = {"bare": bare, "api": through_api}
        for way in ways.values():  # warm-up: loads the host's model and the worker's clients
            way()
        times: dict[str, list[float]] = {name: [] for name in ways}
        tokens: dict[str, list[int]] = {name: [] for name in ways}
        parts = {"this process": time.process_time,
                 "API": lambda: tree_cpu_seconds(children[1].pid),
                 "model host": lambda: tree_cpu_seconds(children[0].pid)}
        cpu = {name: dict.fromkeys(parts, 0.0) for name in ways}
        for _ in range(args.runs):
            for name, way in ways.items():
                before = {part: read() for part, read in parts.items()}
                began = time.perf_counter()
                tokens[name].append(way())
                times[name].append(time.perf_counter() - began)
                for part, read in parts.items():
                    cpu[name][part] += read() - before[part]
                print(f"# {name}: {tokens[name][-1] / times[name][-1]:.1f} tokens/s",
                      file=sys.stderr)
        rates = {name: [n / t for n, t in zip(tokens[name], times[name], strict=True)]
                 for name in ways}
        base, best_base = statistics.median(rates["bare"]), max(rates["bare"])
        print(f"{args.runs} interleaved runs of up to {args.max_tokens} new tokens (greedy); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        print("| path | tokens | median tokens/s | vs bare | best tokens/s | vs bare |")
        print("|---|---|---|---|---|---|")
        for name in ways:
            median, best = statistics.median(rates[name]), max(rates[name])
            print(f"| {name} | {statistics.median(tokens[name]):.0f} | {median:.1f} | "
                  f"{median / base - 1:+.1%} | {best:.1f} | {best / best_base - 1:+.1%} |")
        paired = sorted(api / bare for api, bare in zip(rates["api"], rates["bare"], strict=True))
        quarter = len(paired) // 4
        print(f"\nPaired runs (each API run against the bare run just before it): API/bare "
              f"median {statistics.median(paired) - 1:+.1%}, middle half "
              f"{paired[quarter] - 1:+.1%} to {paired[-1 - quarter] - 1:+.1%}")
        print("\n| path | CPU ms per token: " + " | ".join(parts) + " | total |")
        print("|---|" + "---|" * (len(parts) + 1))
        for name in ways:
            count = sum(tokens[name])
            spent = [cpu[name][part] * 1000 / count for part in parts]
            print(f"| {name} | " + " | ".join(f"{ms:.2f}" for ms in spent)
                  + f" | {sum(spent):.2f} |")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
