"""Regenerate docs/configuration.md from ``Settings``; ``--check`` exits 1 when it is stale."""

import argparse
import sys

from ai_backends.core.config_docs import COMMAND, PAGE, render, write


def main() -> int:
    """Write the page (or, with --check, only compare it) and say what happened."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args()
    if args.check:
        stale = not PAGE.exists() or PAGE.read_text() != render()
        print(f"{PAGE.name} is {'out of date: run ' + COMMAND if stale else 'up to date'}")
        return 1 if stale else 0
    print(f"{'wrote' if write() else 'unchanged:'} {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
