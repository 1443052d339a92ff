"""Benchmark the embedded LLM: latency, tokens/s, and what the service and API add.

    python benchmarks/bench_llm.py [--runs 7] [--max-tokens 32] [--url http://127.0.0.1:5001]

Three ways of producing the same greedy answer, interleaved run by run so machine noise
hits them alike (medians, and the best run, which is least disturbed by other load):

  direct   llama-cpp-python's create_chat_completion on the loaded model
  service  GenerationService.generate (our token loop, lock, counting)
  api      POST /api/v1/generate through the Flask app in-process (routing, validation,
           JSON); with --url also over HTTP against a running API (its own model copy)

All three send the same prompt, so llama.cpp's KV cache holds it for every path alike (the
1-token rows time everything but the prompt). For that the in-process app runs with the
canary line off (``LLM_CANARY=false``): the line makes the service's prompt differ from the
direct call's, and the path that ran the same prompt just before would skip its evaluation
(a running API given by --url keeps its own setting).
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from ai_backends.api.app import create_app
from ai_backends.api.context import services_of
from ai_backends.core.config import load_config
from ai_backends.llm import GenerationParams
from ai_backends.llm.prompts import GENERATE_SYSTEM_PROMPT
from ai_backends.llm.service import single_turn

PROMPT = "Write a long story about a lighthouse keeper and a storm."


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--url", help="also time a running API over HTTP")
    args = parser.parse_args()

    app = create_app({**load_config(), "LLM_BACKEND": "llamacpp", "LLM_CANARY": False,
                      "TESTING": True})
    service = services_of(app).llm
    backend = service._llamacpp  # the embedded backend, to reach its llama.cpp model
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.0, seed=0)
    messages = single_turn(GENERATE_SYSTEM_PROMPT, PROMPT)
    chat = [{"role": "system", "content": GENERATE_SYSTEM_PROMPT},
            {"role": "user", "content": PROMPT}]
    client = app.test_client()
    body = {"prompt": PROMPT, "max_tokens": args.max_tokens, "temperature": 0.0, "seed": 0}

    started = time.perf_counter()
    first = service.generate(messages, params)  # loads the model
    load_and_first_ms = (time.perf_counter() - started) * 1000

    def direct() -> int:
        with backend._lock:
            out = backend._llama.create_chat_completion(
                chat, max_tokens=params.max_tokens, temperature=0.0, seed=0)
        return int(out["usage"]["completion_tokens"])

    def via_service() -> int:
        return service.generate(messages, params).completion_tokens

    def via_api() -> int:
        response = client.post("/api/v1/generate", json=body)
        if response.status_code != 200:
            raise SystemExit(f"API answered {response.status_code}: {response.get_json()}")
        return int(response.get_json()["completion_tokens"])

    ways: dict[str, Callable[[], int]] = {"direct": direct, "service": via_service,
                                          "api (in-process)": via_api}
    if args.url:
        import requests

        def via_http() -> int:
            response = requests.post(f"{args.url.rstrip('/')}/api/v1/generate", json=body,
                                     timeout=300)
            response.raise_for_status()
            return int(response.json()["completion_tokens"])

        ways["api (HTTP)"] = via_http

    def measure(runs: int) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
        times: dict[str, list[float]] = {name: [] for name in ways}
        tokens: dict[str, list[int]] = {name: [] for name in ways}
        for _ in range(runs):
            for name, way in ways.items():
                began = time.perf_counter()
                tokens[name].append(way())
                times[name].append((time.perf_counter() - began) * 1000)
        return times, tokens

    print(f"model {first.model} on {first.backend}; prompt {first.prompt_tokens} tokens; "
          f"load + first answer {load_and_first_ms:.0f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for label, new_tokens, runs in [("generation", args.max_tokens, args.runs),
                                    ("overhead (1 new token)", 1, args.runs * 3)]:
        params = GenerationParams(max_tokens=new_tokens, temperature=0.0, seed=0)
        body["max_tokens"] = new_tokens
        times, tokens = measure(runs)
        base = statistics.median(times["direct"])
        best_base = min(times["direct"])
        print(f"\n{label}: {runs} interleaved runs of {new_tokens} new tokens (greedy)")
        print(f"{'path':18s} {'median ms':>10s} {'tokens/s':>9s} {'vs direct':>22s} "
              f"{'best ms':>9s} {'tokens/s':>9s} {'vs direct':>9s}")
        for name in ways:
            median, best = statistics.median(times[name]), min(times[name])
            count = statistics.median(tokens[name])
            print(f"{name:18s} {median:10.1f} {count / median * 1000:9.1f} "
                  f"{median - base:+10.1f} ms ({median / base - 1:+7.1%}) "
                  f"{best:9.1f} {count / best * 1000:9.1f} {best - best_base:+6.1f} ms")


if __name__ == "__main__":
    main()
