"""Measure the prompt-injection screen on tests/data/; ``ai-backends-evaluate-injection``."""

import sys

from ai_backends.llm.cli import evaluate_injection

if __name__ == "__main__":
    sys.exit(evaluate_injection())
