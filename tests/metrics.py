"""Read one sample of the API's /metrics, the way a Prometheus scrape sees it."""

from __future__ import annotations

from typing import Any


def metric(client: Any, name: str, **labels: str) -> float:
    """The value of ``name`` with (at least) ``labels`` in the client's /metrics (0 if absent)."""
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
