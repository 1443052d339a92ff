"""Evaluate the semantic cache threshold on labelled pairs; ``ai-backends-evaluate-cache``."""

import sys

from ai_backends.cache.cli import evaluate_threshold

if __name__ == "__main__":
    sys.exit(evaluate_threshold())
