"""Scores the semantic cache's decision rule on labelled prompt pairs and picks a threshold.

A pair is (cached prompt, asked prompt, should_hit). For a threshold, the cache would serve
the cached answer when cosine >= threshold and the near-miss guard has no objection:
- hit rate: share of should-hit pairs served;
- false-hit rate: share of must-not-hit pairs served (a wrong answer to a user).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ai_backends.cache.embeddings import Embedder
from ai_backends.cache.nearmiss import near_miss_reason
from ai_backends.cache.phrasing import semantic_text


@dataclass(frozen=True)
class LabelledPair:
    """A cached prompt, a new prompt, and whether the cached answer fits the new prompt."""

    cached: str
    asked: str
    should_hit: bool
    kind: str


@dataclass(frozen=True)
class ThresholdResult:
    """How the rule does at one threshold, with and without the guard."""

    threshold: float
    hit_rate: float
    false_hit_rate: float
    hit_rate_without_guard: float
    false_hit_rate_without_guard: float


def read_pairs(path: str | Path) -> list[LabelledPair]:
    """Read the labelled CSV (columns cached, asked, should_hit, kind; others ignored)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [LabelledPair(row["cached"], row["asked"], row["should_hit"] == "1", row["kind"])
                for row in csv.DictReader(handle)]


def pair_scores(pairs: list[LabelledPair], embedder: Embedder) -> np.ndarray:
    """Cosine similarity of each pair, as the cache computes it (of ``semantic_text``)."""
    cached = embedder.embed([semantic_text(p.cached) for p in pairs])
    asked = embedder.embed([semantic_text(p.asked) for p in pairs])
    return np.einsum("ij,ij->i", cached, asked)


def evaluate(pairs: list[LabelledPair], scores: np.ndarray, thresholds: list[float]
             ) -> list[ThresholdResult]:
    """Hit and false-hit rates at each threshold."""
    positive = np.array([p.should_hit for p in pairs])
    allowed = np.array([near_miss_reason(p.asked, p.cached) is None for p in pairs])
    results = []
    for threshold in thresholds:
        above = scores >= threshold
        served = above & allowed
        results.append(ThresholdResult(
            threshold=threshold,
            hit_rate=float(served[positive].mean()),
            false_hit_rate=float(served[~positive].mean()),
            hit_rate_without_guard=float(above[positive].mean()),
            false_hit_rate_without_guard=float(above[~positive].mean()),
        ))
    return results


def choose_threshold(pairs: list[LabelledPair], scores: np.ndarray, margin: float = 0.02
                     ) -> float:
    """Lowest threshold (to 0.01) a ``margin`` above every must-not-hit pair the guard lets by."""
    allowed = [near_miss_reason(p.asked, p.cached) is None for p in pairs]
    risky = [float(s) for p, s, ok in zip(pairs, scores, allowed, strict=True)
             if ok and not p.should_hit]
    return float(np.ceil((max(risky, default=0.0) + margin) * 100) / 100)


@dataclass(frozen=True)
class KindResult:
    """How often the pairs of one kind were served at one threshold (guard on)."""

    kind: str
    should_hit: bool
    served: int
    total: int
    vetoed: int  # above the threshold but refused by the guard


def served_by_kind(pairs: list[LabelledPair], scores: np.ndarray, threshold: float
                   ) -> list[KindResult]:
    """Served and vetoed counts per (kind, should_hit), sorted by kind."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault((pair.kind, pair.should_hit), []).append(i)
    results = []
    for (kind, should_hit), rows in sorted(groups.items()):
        above = [i for i in rows if scores[i] >= threshold]
        vetoed = sum(near_miss_reason(pairs[i].asked, pairs[i].cached) is not None
                     for i in above)
        results.append(KindResult(kind, should_hit, len(above) - vetoed, len(rows), vetoed))
    return results
