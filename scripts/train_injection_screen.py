"""Train the injection screen's regressions from committed data; write their weights.

    python scripts/train_injection_screen.py [--out ai_backends/llm/data/injection_screen.npz]
    python scripts/train_injection_screen.py --window-chars 400 --out /tmp/one-size.npz

Training data (never the frozen test split, never another project's corpus):
tests/data/judgments/injection_train.csv plus the project's first hand-written sets
(ai_backends/llm/data/injection_train.csv and every split of tests/data/injection_eval.csv).
Each text is cut into sentence windows (ai_backends/llm/screen.py ``sentence_windows``: the
screen's windows without the extra ones it cuts from HTML comments, so that the folds below
do not move when the screen adds a view of the text); benign texts give negative
windows, attacks positive ones; of an instruction hidden in a document only the windows that
appear in no benign text count as positive (the carrier text is left out).

The threshold is chosen by 5-fold cross-validation grouped by text: the lowest out-of-fold
risk at which at most ``MAX_FP`` of the benign training texts from outside sources are
flagged, and in every such family at most ``MAX_FAMILY_FP`` of them (one text allowed in
families under 100). The project's own hand-written look-alikes are trained on but not
used to set the threshold (their numbers: ``evaluate_injection.py --set legacy``).
Regularisation: C=10, the middle of the trade-off among 1, 10 and 100 out of fold
(and of an MLP and models without n-grams: docs/judgments.md).

One regression is fitted per window size (400 and 160 characters unless ``--window-chars``
says otherwise), and a text is flagged when either flags it; their thresholds are chosen
together, on the same out-of-fold risks and under the same limits: the pair with the best
detection, then the fewest false positives. The file holds one weight vector per size
(``coef`` for the first, ``coef_<size>`` for the second) and a ``parts`` list in its header.

Each size also gets a gate: the same kind of regression on the window's static embedding
(the mean of MiniLM's token vectors, ``Embedder.embed_static``) instead of MiniLM's, which
costs no model run. A window the gate scores under its threshold is cleared without
embedding it. The gates' thresholds are chosen after the regressions', out of fold on the
same folds: every window of an attack that a regression flags must pass its gate, and among
such pairs the one that passes the fewest benign windows on to the model.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ai_backends.cache.embeddings import Embedder
from ai_backends.core.config import ROOT
from ai_backends.llm.injection import canonical
from ai_backends.llm.screen import (
    FAMILIES,
    HASH_FEATURES,
    SCREEN_MODEL,
    SHORT_WINDOW_CHARS,
    WINDOW_CHARS,
    Window,
    sentence_windows,
    window_features,
)

TRAIN = ROOT / "tests" / "data" / "judgments" / "injection_train.csv"
LEGACY = (ROOT / "ai_backends" / "llm" / "data" / "injection_train.csv",
          ROOT / "tests" / "data" / "injection_eval.csv")
CACHE = Path("/tmp/injection-screen-features")
STRENGTHS = (10.0,)
MAX_FP, MAX_FAMILY_FP = 0.005, 0.01
GRID = np.arange(0.05, 1.0, 0.01)
GATE_GRID = np.array([0.02, *np.arange(0.05, 1.0, 0.05)])


def training_rows() -> list[dict[str, str]]:
    """label, family, text of every training text."""
    with TRAIN.open(encoding="utf-8", newline="") as handle:
        rows = [{"label": r["label"], "family": r["family"], "text": r["text"]}
                for r in csv.DictReader(handle)]
    for path in LEGACY:
        with path.open(encoding="utf-8", newline="") as handle:
            for r in csv.DictReader(handle):
                rows.append({"label": r["label"], "family": "legacy:" + r.get("family", "-"),
                             "text": r["text"]})
    return rows


def window_examples(rows: list[dict[str, str]], size: int = WINDOW_CHARS
                    ) -> tuple[list[str], np.ndarray, np.ndarray, list[Window]]:
    """Window texts, their labels, the index of the row each came from and its span."""
    benign_text = "\n".join(r["text"] for r in rows if r["label"] == "benign")
    texts, labels, groups, spans = [], [], [], []
    for i, row in enumerate(rows):
        attack = row["label"] == "injection"
        for w in sentence_windows(row["text"], size):
            piece = row["text"][w.start:w.end]
            if attack and row["family"] == "indirect" and piece.strip() in benign_text:
                continue  # carrier text of a hidden instruction: not evidence either way
            texts.append(piece)
            labels.append(attack)
            groups.append(i)
            spans.append(w)
    return texts, np.array(labels), np.array(groups), spans


def cached_embeddings(texts: list[str], embedder: Embedder) -> np.ndarray:
    """MiniLM embeddings of the windows' canonical forms, kept on disk by window text
    (embedding is the slow part; a change of the windows embeds only the new ones)."""
    path = CACHE / "embeddings.npz"
    store: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as stored:
            store = dict(zip(stored["texts"].tolist(), stored["vectors"], strict=True))
    new = [t for t in dict.fromkeys(texts) if t not in store]
    if new:
        print(f"  embedding {len(new)} windows")
        store.update(zip(new, embedder.embed([canonical(t) or " " for t in new]), strict=True))
        CACHE.mkdir(exist_ok=True)
        np.savez(path, texts=np.array(list(store)), vectors=np.stack(list(store.values())))
    return np.stack([store[t] for t in texts])


def row_risk(window_risk: np.ndarray, groups: np.ndarray, n_rows: int) -> np.ndarray:
    """Risk of each row: the largest risk of its windows (0 for rows without windows)."""
    risk = np.zeros(n_rows)
    np.maximum.at(risk, groups, window_risk)
    return risk


def fp_limits(rows: list[dict[str, str]]) -> Callable[[np.ndarray], bool]:
    """A check of flags against the false-positive limits, overall and per benign family
    (only the benign texts from outside sources count)."""
    families = np.array([r["family"] for r in rows])
    benign = np.array([r["label"] == "benign" and not r["family"].startswith("legacy:")
                       for r in rows])
    masks = [benign & (families == f) for f in sorted(set(families[benign]))]
    per_family = [(mask, max(1, MAX_FAMILY_FP * mask.sum())) for mask in masks]

    def within(flagged: np.ndarray) -> bool:
        return bool(flagged[benign].mean() <= MAX_FP
                    and all(flagged[mask].sum() <= allowed for mask, allowed in per_family))

    return within


def pick_threshold(risk: np.ndarray, rows: list[dict[str, str]]) -> float:
    """Lowest threshold meeting the false-positive limits overall and per benign family."""
    within = fp_limits(rows)
    for threshold in GRID:
        if within(risk >= threshold):
            return round(float(threshold), 2)
    return 0.99


def pick_pair(risks: tuple[np.ndarray, np.ndarray], rows: list[dict[str, str]]
              ) -> tuple[float, float]:
    """Thresholds of two screens (a text is flagged when either flags it) with the best
    detection under the limits; among equals, the fewest false positives."""
    attack = np.array([r["label"] == "injection" for r in rows])
    within = fp_limits(rows)
    best: tuple[float, float, float, float] | None = None  # detection, -FP, first, second
    for first in GRID:
        for second in GRID:
            flagged = (risks[0] >= first) | (risks[1] >= second)
            if not within(flagged):
                continue
            score = (float(flagged[attack].mean()), -float(flagged[~attack].mean()),
                     round(float(first), 2), round(float(second), 2))
            if best is None or score[:2] > best[:2]:
                best = score
    return (best[2], best[3]) if best is not None else (0.99, 0.99)


def out_of_fold(features: Any, labels: np.ndarray, groups: np.ndarray,
                strength: float) -> np.ndarray:
    """Out-of-fold risk of every window (5 folds grouped by row)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(labels))
    for fit, held in GroupKFold(n_splits=5).split(features, labels, groups):
        model = LogisticRegression(C=strength, max_iter=3000, class_weight="balanced")
        model.fit(features[fit], labels[fit])
        out[held] = model.predict_proba(features[held])[:, 1]
    return out


def choose(features: Any, labels: np.ndarray, groups: np.ndarray,
           rows: list[dict[str, str]]) -> tuple[float, float, dict[str, float], np.ndarray]:
    """Strength and threshold with the best out-of-fold detection under the FP limits, and
    the out-of-fold risk of every window."""
    attack = np.array([r["label"] == "injection" for r in rows])
    best: tuple[float, float, dict[str, float], np.ndarray] | None = None
    for strength in STRENGTHS:
        window_risk = out_of_fold(features, labels, groups, strength)
        risk = row_risk(window_risk, groups, len(rows))
        threshold = pick_threshold(risk, rows)
        benign = ~attack
        detection = float((risk[attack] >= threshold).mean())
        stats = {"C": strength, "threshold": threshold, "detection": round(detection, 4),
                 "false_positive": round(float((risk[benign] >= threshold).mean()), 4)}
        print(f"  C={strength:<5} threshold {threshold:.2f}: out-of-fold detection "
              f"{detection:.1%}, false positives {stats['false_positive']:.2%}")
        if best is None or detection > best[2]["detection"]:
            best = (strength, threshold, stats, window_risk)
    assert best is not None
    return best


def fit(features: Any, labels: np.ndarray, strength: float) -> tuple[np.ndarray, float]:
    """Weights and intercept of the regression fitted on every window."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=strength, max_iter=3000, class_weight="balanced")
    model.fit(features, labels)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def fit_size(rows: list[dict[str, str]], size: int, embedder: Embedder) -> dict[str, Any]:
    """Cross-validate and fit the regression for one window size and its gate: weights,
    threshold, out-of-fold statistics, and the out-of-fold risk of every window (of the
    regression and of the gate)."""
    texts, labels, groups, _ = window_examples(rows, size)
    print(f"{size}-character windows: {len(rows)} training texts, {len(texts)} windows "
          f"({labels.sum()} positive)")
    forms = [canonical(x) or " " for x in texts]
    vectors = cached_embeddings(texts, embedder)
    features = window_features(texts, embedder, vectors=vectors)
    strength, threshold, stats, window_risk = choose(features, labels, groups, rows)
    coef, intercept = fit(features, labels, strength)
    gate_features = window_features(texts, embedder, vectors=embedder.embed_static(forms))
    gate_risk = out_of_fold(gate_features, labels, groups, strength)
    gate_coef, gate_intercept = fit(gate_features, labels, strength)
    return {"window_chars": size, "threshold": threshold, "cross_validation": stats,
            "intercept": intercept, "coef": coef, "window_risk": window_risk,
            "groups": groups, "risk": row_risk(window_risk, groups, len(rows)),
            "gate": {"coef": gate_coef, "intercept": gate_intercept, "risk": gate_risk}}


def joint_thresholds(parts: list[dict[str, Any]], rows: list[dict[str, str]]) -> None:
    """Set the two parts' thresholds together (see the module docstring) and print the
    out-of-fold result of flagging a text when either part flags it."""
    first, second = pick_pair((parts[0]["risk"], parts[1]["risk"]), rows)
    flagged = (parts[0]["risk"] >= first) | (parts[1]["risk"] >= second)
    attack = np.array([r["label"] == "injection" for r in rows])
    new = np.array([not r["family"].startswith("legacy:") for r in rows])
    stats = {"thresholds": [first, second],
             "detection": round(float(flagged[attack].mean()), 4),
             "false_positive": round(float(flagged[~attack].mean()), 4),
             "detection_new": round(float(flagged[attack & new].mean()), 4),
             "false_positive_new": round(float(flagged[~attack & new].mean()), 4)}
    for part, threshold in zip(parts, (first, second), strict=True):
        part["threshold"] = threshold
        part["cross_validation"]["joint"] = stats
    print(f"  either of {parts[0]['window_chars']} (from {first:.2f}) and "
          f"{parts[1]['window_chars']} (from {second:.2f}): out-of-fold detection "
          f"{stats['detection']:.1%} (new {stats['detection_new']:.1%}), false positives "
          f"{stats['false_positive']:.2%} (new {stats['false_positive_new']:.2%})")


def cascade_flags(parts: list[dict[str, Any]], gates: tuple[float, ...], n_rows: int
                  ) -> np.ndarray:
    """Out of fold, the rows the screen flags when each part's gate (at ``gates``) decides
    which windows reach the regression."""
    flagged = np.zeros(n_rows, dtype=bool)
    for part, gate in zip(parts, gates, strict=True):
        passes = part["gate"]["risk"] >= gate
        np.logical_or.at(flagged, part["groups"], passes & (part["window_risk"]
                                                            >= part["threshold"]))
    return flagged


def choose_gates(parts: list[dict[str, Any]], rows: list[dict[str, str]]) -> None:
    """The gates' thresholds: out of fold, every window of an attack that its regression
    flags must pass its gate (not only one per attack text: a margin for attacks unlike the
    training ones); among such, the fewest benign windows passed on to the model. Each gate
    stays below its part's threshold, so that a cleared window never counts as flagged."""
    attack = np.array([r["label"] == "injection" for r in rows])
    benign = np.concatenate([~attack[part["groups"]] for part in parts])
    flagged_attack = [attack[part["groups"]] & (part["window_risk"] >= part["threshold"])
                      for part in parts]
    best: tuple[float, tuple[float, ...]] = (1.0, tuple(0.0 for _ in parts))
    for gates in itertools.product(GATE_GRID, repeat=len(parts)):
        if any(gate >= part["threshold"] for gate, part in zip(gates, parts, strict=True)):
            continue
        passes = [part["gate"]["risk"] >= gate for part, gate in zip(parts, gates, strict=True)]
        if all(p[f].all() for p, f in zip(passes, flagged_attack, strict=True)):
            rate = float(np.concatenate(passes)[benign].mean())
            if rate < best[0]:
                best = (rate, gates)
    rate, gates = best
    flagged = cascade_flags(parts, gates, len(rows))
    for part, gate in zip(parts, gates, strict=True):
        part["gate"]["threshold"] = round(float(gate), 2)
        part["cross_validation"]["gate"] = {
            "benign_windows_passed": round(rate, 4),
            "detection": round(float(flagged[attack].mean()), 4),
            "false_positive": round(float(flagged[~attack].mean()), 4)}
    print("  gates from " + ", ".join(f"{g:.2f}" for g in gates) + f": {rate:.2%} of benign "
          f"windows reach the model; out-of-fold detection {flagged[attack].mean():.1%}, "
          f"false positives {flagged[~attack].mean():.2%}")


def main() -> None:
    """Cross-validate, fit on all training windows, write the weights."""
    from ai_backends.core.config import load_config

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(SCREEN_MODEL))
    parser.add_argument("--window-chars", type=int, nargs="+",
                        default=[WINDOW_CHARS, SHORT_WINDOW_CHARS],
                        help="one window size, or two scored together (the default)")
    args = parser.parse_args()
    if len(args.window_chars) > 2:
        parser.error("at most two window sizes")
    embedder = Embedder(load_config()["EMBEDDING_MODEL_DIR"])
    rows = training_rows()
    parts = [fit_size(rows, size, embedder) for size in args.window_chars]
    if len(parts) == 2:
        joint_thresholds(parts, rows)
    choose_gates(parts, rows)
    main_part = parts[0]
    meta: dict[str, Any] = {
        "about": "injection screen: logistic regression on all-MiniLM-L6-v2 window embeddings, "
                 "pattern-family weights and hashed character n-grams, each window size "
                 "behind a gate on static token embeddings; "
                 "see scripts/train_injection_screen.py",
        "features": ["embedding_0..383", *(f"pattern_{f}" for f in FAMILIES),
                     f"char_3_5_gram_hash_0..{HASH_FEATURES - 1}"],
        "window_chars": main_part["window_chars"],
        "threshold": main_part["threshold"],
        "cross_validation": main_part["cross_validation"],
        "intercept": main_part["intercept"],
    }
    keys = ["coef"] + [f"coef_{part['window_chars']}" for part in parts[1:]]
    weights = {key: part["coef"] for part, key in zip(parts, keys, strict=True)}
    weights |= {f"gate_{part['window_chars']}": part["gate"]["coef"] for part in parts}
    meta["parts"] = [{key: part[key] for key in
                      ("window_chars", "threshold", "intercept", "cross_validation")}
                     | {"coef": key,
                        "gate": {"coef": f"gate_{part['window_chars']}",
                                 "intercept": part["gate"]["intercept"],
                                 "threshold": part["gate"]["threshold"]}}
                     for part, key in zip(parts, keys, strict=True)]
    np.savez_compressed(args.out, meta=np.array(json.dumps(meta)), **weights)
    print(f"wrote {args.out}: " + ", ".join(
        f"{part['window_chars']}-character windows from {part['threshold']} (gate from "
        f"{part['gate']['threshold']})" for part in parts))


if __name__ == "__main__":
    main()
