"""Command lines of the LLM package: batch generation and the injection-screen evaluation.

``ai-backends-batch`` (``scripts/batch_inference.py``) runs a file of prompts through the
LLM; ``ai-backends-evaluate-injection`` (``scripts/evaluate_injection.py``) measures the
prompt-injection screen on the labelled set in tests/data/.
"""

from __future__ import annotations

import argparse
import json
import sys
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
if __name__ == "__main__":  # python -m ai_backends.llm.cli [batch options]
    sys.exit(batch())
