"""Confidence intervals for rates measured on evaluation sets."""

from __future__ import annotations

import math


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95% by default) for ``successes`` out of ``total``."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_with_interval(successes: int, total: int) -> str:
    """'k/n  p% [lo%, hi%]' with the 95% Wilson interval."""
    if total == 0:
        return "0/0"
    low, high = wilson(successes, total)
    return f"{successes}/{total} {successes / total:6.1%} [{low:.1%}, {high:.1%}]"
