"""Time the two judgments: the injection screen on 2 KB prompts, the near-miss guard per pair.

    python scripts/benchmark_judgments.py [--runs 200] [--model FILE]

Screen: prompts of about 2,000 characters (texts of the frozen test split joined), each
screened ``--runs`` times in one process after a warm-up; prints p50/p95/p99 wall time and
CPU time per prompt, and the same for the patterns alone (the cheapest part) for a ratio.
Guard: ``near_miss_reason`` over every pair of the frozen semantic test split; prints the
p50/p95/p99 time per call next to the rewriting of a prompt before embedding
(``semantic_text``) and the embedding of one prompt (what a lookup costs anyway).
The screen is timed twice in the same run, interleaved: with its gates (as configured by
default) and without (``INJECTION_SCREEN_GATES=false``: every window embedded); the output
also says how many of the prompts had a window that the gates passed on to the model (those
pay for embedding it). ``--model`` times another screen weights file (a candidate).
The embedding runs in this process, as in the API without a model host (with one, the same
work runs in the host).
"""

from __future__ import annotations

import argparse
import csv
import time
from typing import Any

import numpy as np

from ai_backends.cache.embeddings import Embedder
from ai_backends.cache.evaluation import read_pairs
from ai_backends.cache.nearmiss import near_miss_reason
from ai_backends.cache.phrasing import semantic_text
from ai_backends.core.config import ROOT, load_config
from ai_backends.llm.injection import analyze, pattern_score
from ai_backends.llm.screen import SCREEN_MODEL, InjectionScreen

TEST = ROOT / "tests" / "data" / "judgments"


def prompts_2kb(count: int) -> list[str]:
    """``count`` prompts of about 2,000 characters from the frozen benign texts."""
    with (TEST / "injection_test.csv").open(encoding="utf-8", newline="") as handle:
        texts = [r["text"] for r in csv.DictReader(handle) if r["label"] == "benign"]
    out, current = [], ""
    for text in texts:
        current = f"{current}\n{text}" if current else text
        if len(current) >= 2000:
            out.append(current[:2048])
            current = ""
        if len(out) == count:
            break
    return out


def timed(fn: Any, items: list[Any]) -> tuple[np.ndarray, float]:
    """Wall milliseconds of each call, and CPU milliseconds per call."""
    walls = []
    cpu_start = time.process_time()
    for item in items:
        started = time.perf_counter()
        fn(item)
        walls.append((time.perf_counter() - started) * 1000)
    return np.array(walls), (time.process_time() - cpu_start) * 1000 / len(items)


def line(name: str, walls: np.ndarray, cpu: float) -> str:
    """One result row."""
    p50, p95, p99 = np.percentile(walls, [50, 95, 99])
    return f"{name:34s} p50 {p50:7.3f} ms  p95 {p95:7.3f} ms  p99 {p99:7.3f} ms  cpu {cpu:7.3f} ms"


def main() -> None:
    """Run both benchmarks and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--model", default=str(SCREEN_MODEL), help="screen weights file")
    parser.add_argument("--skip-guard", action="store_true", help="time the screen only")
    args = parser.parse_args()
    embedder = Embedder(load_config()["EMBEDDING_MODEL_DIR"])
    gated = InjectionScreen(embedder, args.model)
    ungated = InjectionScreen(embedder, args.model, gates=False)
    prompts = prompts_2kb(50)
    sizes = [len(p) for p in prompts]
    analyze(prompts[0], 8000, screen=gated)  # warm-up: model and weights load
    embedder.embed(["warm-up"])
    batch = [prompts[i % len(prompts)] for i in range(args.runs)]
    slow = sum(gated.judge(p).embedded > 0 for p in prompts)
    print(f"injection screen: {len(batch)} prompts of {min(sizes)}-{max(sizes)} characters; "
          f"{slow} of the {len(prompts)} distinct prompts have a window the gates pass on to "
          "the model")
    times: dict[bool, list[tuple[np.ndarray, float]]] = {True: [], False: []}
    for start in range(0, len(batch), 10):  # interleaved, ten prompts at a time
        for gates, screen in ((True, gated), (False, ungated)):
            times[gates].append(timed(lambda p, s=screen: analyze(p, 8000, screen=s),
                                      batch[start:start + 10]))
    for gates, name in ((True, "screen (analyze), gates"), (False, "screen (analyze), no gates")):
        walls = np.concatenate([w for w, _ in times[gates]])
        print(line(name, walls, float(np.mean([cpu for _, cpu in times[gates]]))))
    print(line("patterns only", *timed(pattern_score, batch)))
    print(line("embedding of the 2 KB prompt", *timed(lambda p: embedder.embed([p]), batch)))
    if args.skip_guard:
        return

    pairs = read_pairs(TEST / "semantic_test.csv")
    print(f"\nnear-miss guard: {len(pairs)} pairs")
    near_miss_reason("Can cats eat grapes?", "Can dogs eat grapes?")  # warm-up: lexicons load
    print(line("near_miss_reason", *timed(lambda p: near_miss_reason(p.asked, p.cached),
                                          pairs)))
    print(line("semantic_text (before embedding)", *timed(lambda p: semantic_text(p.asked),
                                                          pairs)))
    print(line("embedding one prompt (a lookup)", *timed(lambda p: embedder.embed_one(p.asked),
                                                         pairs[:100])))


if __name__ == "__main__":
    main()
