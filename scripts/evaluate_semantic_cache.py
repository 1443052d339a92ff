"""Evaluate the semantic cache's threshold and near-miss guard on labelled pair sets.

    python scripts/evaluate_semantic_cache.py                # frozen test split
    python scripts/evaluate_semantic_cache.py --set train    # the split thresholds are chosen on
    python scripts/evaluate_semantic_cache.py --set validation  # hand-written, checks the rules
    python scripts/evaluate_semantic_cache.py --set legacy   # tests/data/semantic_pairs.csv

Sets: ``test`` = tests/data/judgments/semantic_test.csv (frozen, held out: never used to
choose anything); ``train`` = tests/data/judgments/semantic_train.csv (rules and threshold
are developed on it); ``validation`` = tests/data/judgments/semantic_validation.csv (pairs
written after the guard's rules, to check that they generalise before the test split is
run); ``legacy`` = the project's first hand-written set. Prompts are embedded as the cache
embeds them (``phrasing.semantic_text``). Prints, at the configured threshold, the share of
paraphrases served and of must-not-hit pairs served, overall and per kind, with 95% Wilson
intervals; then hit and false-hit rates over a range of thresholds (with and without the
guard) and the threshold the chosen rule would pick on this set.
"""

import argparse

import numpy as np

from ai_backends.cache.embeddings import Embedder
from ai_backends.cache.evaluation import (
    choose_threshold,
    evaluate,
    pair_scores,
    read_pairs,
    served_by_kind,
)
from ai_backends.cache.nearmiss import near_miss_reason
from ai_backends.core.config import ROOT, load_config
from ai_backends.core.intervals import rate_with_interval

SETS = {
    "test": ROOT / "tests/data/judgments/semantic_test.csv",
    "train": ROOT / "tests/data/judgments/semantic_train.csv",
    "validation": ROOT / "tests/data/judgments/semantic_validation.csv",
    "legacy": ROOT / "tests/data/semantic_pairs.csv",
}


def main() -> None:
    """Run the evaluation and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="test")
    parser.add_argument("--pairs", help="another CSV (columns cached, asked, should_hit, kind)")
    parser.add_argument("--threshold", type=float, help="default: SEMANTIC_CACHE_THRESHOLD")
    parser.add_argument("--show-misses", action="store_true", help="list misjudged pairs")
    args = parser.parse_args()
    config = load_config()
    threshold = args.threshold or config["SEMANTIC_CACHE_THRESHOLD"]
    path = args.pairs or SETS[args.set]
    pairs = read_pairs(path)
    scores = pair_scores(pairs, Embedder(config["EMBEDDING_MODEL_DIR"]))
    positives = np.array([p.should_hit for p in pairs])
    print(f"{path}: {len(pairs)} pairs, {positives.sum()} should hit, "
          f"{(~positives).sum()} must not\n")

    served = np.array([s >= threshold and near_miss_reason(p.asked, p.cached) is None
                       for p, s in zip(pairs, scores, strict=True)])
    print(f"at threshold {threshold:.2f} (guard on)")
    hits, wrong = served[positives], served[~positives]
    print(f"  paraphrases served        {rate_with_interval(int(hits.sum()), len(hits))}")
    print(f"  must-not-hit pairs served {rate_with_interval(int(wrong.sum()), len(wrong))}")
    print(f"\n  {'kind':<24}{'label':<9}{'served':<34}{'vetoed':>7}")
    for kind in served_by_kind(pairs, scores, threshold):
        label = "hit" if kind.should_hit else "no-hit"
        share = rate_with_interval(kind.served, kind.total)
        print(f"  {kind.kind:<24}{label:<9}{share:<34}{kind.vetoed:>7}")

    thresholds = [round(t, 2) for t in np.arange(0.60, 0.96, 0.02)]
    print(f"\n{'threshold':>9} {'hit rate':>9} {'false hits':>10} | without guard: "
          f"{'hit rate':>8} {'false hits':>10}")
    for r in evaluate(pairs, scores, thresholds):
        print(f"{r.threshold:>9.2f} {r.hit_rate:>9.1%} {r.false_hit_rate:>10.1%} | "
              f"{'':>15}{r.hit_rate_without_guard:>8.1%} {r.false_hit_rate_without_guard:>10.1%}")
    chosen = choose_threshold(pairs, scores)
    best = evaluate(pairs, scores, [chosen])[0]
    print(f"\nthreshold the rule picks on this set: {chosen:.2f} (closest unvetoed must-not-hit "
          f"pair + 0.02): hit rate {best.hit_rate:.1%}, false-hit rate {best.false_hit_rate:.1%}")
    if chosen < threshold:
        print("  (the guard refuses every must-not-hit pair it is shown above this; the set "
              "bounds the threshold no further, it does not justify lowering it)")

    if args.show_misses:
        print(f"\nmisjudged at {threshold}:")
        for pair, score, ok in zip(pairs, scores, served, strict=True):
            if ok != pair.should_hit:
                verdict = "served" if ok else "missed"
                reason = near_miss_reason(pair.asked, pair.cached) or ""
                print(f"  {verdict} {score:.3f} [{pair.kind}] {pair.cached!r} / {pair.asked!r}"
                      f" {reason}")


if __name__ == "__main__":
    main()
