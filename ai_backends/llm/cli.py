"""Command lines of the LLM package: batch generation and the injection-screen evaluation.

``ai-backends-batch`` (``scripts/batch_inference.py``) runs a file of prompts through the
LLM; ``ai-backends-evaluate-injection`` (``scripts/evaluate_injection.py``) measures the
prompt-injection screen on the labelled set in tests/data/.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ai_backends.core.config import load_config
from ai_backends.llm import GenerationParams
from ai_backends.llm.batch import (
    Runner,
    http_runner,
    local_runner,
    read_prompts,
    run_batch,
    write_samples,
)
from ai_backends.llm.injection import PATTERNS_ONLY_THRESHOLD, analyze
from ai_backends.llm.service import check_params, service_from_config

BATCH_HELP = """Run a file of prompts through the LLM and save every answer with its cost.

    ai-backends-batch --create-samples
    ai-backends-batch --input sample_prompts.txt --output results.json
    ai-backends-batch --input sample_prompts.csv --csv --output results.json
    ai-backends-batch --input prompts.txt --output results.json --resume
    ai-backends-batch --input prompts.txt --output r.json --url http://127.0.0.1:5001

In-process by default (the same service layer as the API, backend chosen by LLM_BACKEND);
with --url, against a running API. The output is rewritten atomically after each prompt,
so Ctrl-C loses nothing and --resume carries on from there.
"""
INJECTION_HELP = """Measure the prompt-injection detector on the labelled set in tests/data/.

    ai-backends-evaluate-injection [--split dev|test|all] [--show-errors]

Prints detection rate (injections flagged) and false-positive rate (benign prompts
flagged), overall and per family/variant. Splits: ``dev`` (patterns tuned and classifier
trained on it); ``test`` (held out from the start, split by a hash of each text);
``fresh`` and ``fresh2`` (each written after a version of the detector was frozen).
"""


def parse_batch_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="ai-backends-batch", description=BATCH_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--create-samples", action="store_true",
                        help="write sample_prompts.txt and sample_prompts.csv and stop")
    parser.add_argument("--samples-dir", type=Path, default=Path("."),
                        help="where --create-samples writes (default: current folder)")
    parser.add_argument("--input", type=Path, help="prompts: one per line, or CSV with --csv")
    parser.add_argument("--csv", action="store_true", help="input is CSV with a 'prompt' column")
    parser.add_argument("--output", type=Path, default=Path("results.json"))
    parser.add_argument("--url", help="base URL of a running API (default: in-process)")
    parser.add_argument("--concurrency", type=int, default=2, help="prompts in flight (1-16)")
    parser.add_argument("--resume", action="store_true",
                        help="keep finished results in --output and run only the rest")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="most tokens per answer (default: LLM_DEFAULT_MAX_TOKENS, 128)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds per request with --url")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.create_samples and args.input is None:
        parser.error("give --input FILE (or --create-samples)")
    if not 1 <= args.concurrency <= 16:
        parser.error("--concurrency must be between 1 and 16")
    return args


def batch(argv: Sequence[str] | None = None) -> int:
    """Run the batch; print the summary; exit 1 when any prompt failed."""
    args = parse_batch_args(argv)
    if args.create_samples:
        for path in write_samples(args.samples_dir):
            print(f"wrote {path}")
        return 0
    params = GenerationParams(args.max_tokens, args.temperature, args.seed)
    check_params(params)
    prompts = read_prompts(args.input, args.csv)
    runner: Runner
    if args.url:
        runner = http_runner(args.url, params, args.timeout)
    else:
        runner = local_runner(service_from_config(load_config()), params)
    bar = tqdm(total=len(prompts), unit="prompt", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    try:
        summary = run_batch(prompts, runner, args.output, args.concurrency, args.resume,
                            progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted; finished prompts are in {args.output} (use --resume)",
              file=sys.stderr)
        return 130
    bar.close()
    print(json.dumps(summary, indent=2))
    print(f"results written to {args.output}")
    return 1 if summary["failed"] else 0


# The labelled set lives with the tests of a source checkout.
DATASET = Path(__file__).resolve().parents[2] / "tests" / "data" / "injection_eval.csv"
MAX_CHARS = 8000


def load(split: str, dataset: Path = DATASET) -> list[dict[str, str]]:
    """Rows of the labelled set, optionally only one split."""
    with dataset.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if split == "all" or row["split"] == split]


def rate(hits: int, total: int) -> str:
    """'hits/total (pct%)'."""
    return f"{hits}/{total} ({hits / total:.1%})" if total else "0/0"


def evaluate(split: str, show_errors: bool, patterns_only: bool = False,
             dataset: Path = DATASET) -> dict[str, float]:
    """Print the report for one split; return detection and false-positive rates."""
    rows = load(split, dataset)
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


def evaluate_injection(argv: Sequence[str] | None = None) -> int:
    """Parse options and print the report."""
    parser = argparse.ArgumentParser(prog="ai-backends-evaluate-injection",
                                     description=INJECTION_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "fresh", "fresh2", "all"],
                        default="fresh2")
    parser.add_argument("--show-errors", action="store_true", help="list every miss")
    parser.add_argument("--patterns-only", action="store_true",
                        help="score with the pattern list alone (no classifier)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="labelled CSV")
    args = parser.parse_args(argv)
    evaluate(args.split, args.show_errors, args.patterns_only, args.dataset)
    return 0



if __name__ == "__main__":  # python -m ai_backends.llm.cli [batch options]
    sys.exit(batch())
