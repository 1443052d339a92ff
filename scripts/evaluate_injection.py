"""Measure the prompt-injection detector on the labelled set in tests/data/.

    python scripts/evaluate_injection.py [--split dev|test|all] [--show-errors]

Prints detection rate (injections flagged) and false-positive rate (benign prompts
flagged), overall and per family/variant. Splits: ``dev`` (patterns tuned and classifier
trained on it); ``test`` (held out from the start, split by a hash of each text);
``fresh`` and ``fresh2`` (each written after a version of the detector was frozen).
"""

import argparse
import csv
from collections import defaultdict

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.llm.injection import PATTERNS_ONLY_THRESHOLD, analyze

DATASET = _path.ROOT / "tests" / "data" / "injection_eval.csv"
MAX_CHARS = 8000


def load(split: str) -> list[dict[str, str]]:
    """Rows of the labelled set, optionally only one split."""
    with DATASET.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if split == "all" or row["split"] == split]


def rate(hits: int, total: int) -> str:
    """'hits/total (pct%)'."""
    return f"{hits}/{total} ({hits / total:.1%})" if total else "0/0"


def evaluate(split: str, show_errors: bool, patterns_only: bool = False) -> dict[str, float]:
    """Print the report for one split; return detection and false-positive rates."""
    rows = load(split)
    groups: dict[str, list[bool]] = defaultdict(list)
    detected = {"injection": 0, "benign": 0}
    totals = {"injection": 0, "benign": 0}
    errors = []
    for row in rows:
        if patterns_only:
            analysis = analyze(row["text"], MAX_CHARS, PATTERNS_ONLY_THRESHOLD,
                               use_classifier=False)
        else:
            analysis = analyze(row["text"], MAX_CHARS)
        flagged = analysis.injection_detected
        totals[row["label"]] += 1
        detected[row["label"]] += flagged
        key = row["family"] if row["variant"] == "plain" else f"{row['family']}/{row['variant']}"
        groups[f"{row['label']}: {key}"].append(flagged)
        if flagged != (row["label"] == "injection"):
            errors.append(row)
    mode = "patterns only" if patterns_only else "classifier (patterns explain)"
    print(f"== split: {split} ({len(rows)} prompts), {mode} ==")
    print(f"detection rate      {rate(detected['injection'], totals['injection'])}")
    print(f"false-positive rate {rate(detected['benign'], totals['benign'])}")
    for name in sorted(groups):
        print(f"  {name:48s} flagged {rate(sum(groups[name]), len(groups[name]))}")
    if show_errors:
        for row in errors:
            kind = "missed" if row["label"] == "injection" else "false alarm"
            print(f"  {kind:11s} #{row['id']}: {row['text'][:90]!r}")
    return {"detection": detected["injection"] / max(1, totals["injection"]),
            "false_positive": detected["benign"] / max(1, totals["benign"])}


def main() -> None:
    """Parse options and print the report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "fresh", "fresh2", "all"],
                        default="fresh2")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    parser.add_argument("--patterns-only", action="store_true",
                        help="score with the pattern list alone (no classifier)")
    args = parser.parse_args()
    evaluate(args.split, args.show_errors, args.patterns_only)


if __name__ == "__main__":
    main()
