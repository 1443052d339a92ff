"""Time the two judgments: the injection screen on 2 KB prompts, the near-miss guard per pair.

    python scripts/benchmark_judgments.py [--runs 200] [--model FILE [--derive-long]]

Screen: prompts of about 2,000 characters (texts of the frozen test split joined), each
screened ``--runs`` times in one process after a warm-up; prints p50/p95/p99 wall time and
CPU time per prompt, and the same for the patterns alone (the cheapest part) for a ratio.
Guard: ``near_miss_reason`` over every pair of the frozen semantic test split; prints the
p50/p95/p99 time per call next to the rewriting of a prompt before embedding
(``semantic_text``) and the embedding of one prompt (what a lookup costs anyway).
``--model`` times another screen weights file (a candidate), ``--derive-long`` its variant
that embeds only the shortest windows (see ``scripts/evaluate_injection.py``). The
embedding runs in this process, as in the API without a model host (with one, the same
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
    parser.add_argument("--derive-long", action="store_true", default=None,
                        help="embed only the shortest windows; longer ones get their mean")
    parser.add_argument("--skip-guard", action="store_true", help="time the screen only")
    args = parser.parse_args()
    embedder = Embedder(load_config()["EMBEDDING_MODEL_DIR"])
    screen = InjectionScreen(embedder, args.model, derive_long=args.derive_long)
    prompts = prompts_2kb(50)
    sizes = [len(p) for p in prompts]
    analyze(prompts[0], 8000, screen=screen)  # warm-up: model and weights load
    batch = [prompts[i % len(prompts)] for i in range(args.runs)]
    print(f"injection screen: {len(batch)} prompts of {min(sizes)}-{max(sizes)} characters")
    print(line("screen (analyze, all windows)", *timed(
        lambda p: analyze(p, 8000, screen=screen), batch)))
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
