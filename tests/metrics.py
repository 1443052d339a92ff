"""Read samples of the API's /metrics, the way a Prometheus scrape sees them."""

from __future__ import annotations

from typing import Any


def sample(text: str, name: str, **labels: str) -> float:
    """The value of ``name`` with (at least) ``labels`` in a /metrics text (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric(client: Any, name: str, **labels: str) -> float:
    """The value of ``name`` with (at least) ``labels`` in the client's /metrics now."""
    return sample(client.get("/metrics").get_data(as_text=True), name, **labels)
