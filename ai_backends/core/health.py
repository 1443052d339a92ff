"""Health probes: each dependency answers up or down, which implementation, in how long.

Each service offers a probe (``probe(timeout) -> ProbeResult``); ``build_services`` lists
them as ``Dependency`` entries and ``check_health`` runs them all in parallel, each bounded
by the probe timeout, so /health answers quickly even when every dependency is down.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


@dataclass(frozen=True)
class ProbeResult:
    """What one probe found (returned by probe functions, without the latency)."""

    up: bool
    implementation: str
    detail: str


Probe = Callable[[float], ProbeResult]


@dataclass(frozen=True)
class Dependency:
    """A probed dependency; a ``required`` one that is down makes /health answer 503."""

    probe: Probe
    required: bool = False


def check_health(dependencies: dict[str, Dependency],
                 timeout: float) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Run every probe in parallel; return (all required up, status per dependency)."""
    started = time.perf_counter()
    futures = {name: _pool.submit(_timed, dep.probe, timeout)
               for name, dep in dependencies.items()}
    report: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        remaining = max(0.0, timeout + 0.2 - (time.perf_counter() - started))
        try:
            result, latency_ms = future.result(timeout=remaining)
        except FutureTimeout:
            result = ProbeResult(False, "unknown", f"probe timed out after {timeout:g}s")
            latency_ms = timeout * 1000
        report[name] = {
            "up": result.up,
            "implementation": result.implementation,
            "detail": result.detail,
            "required": dependencies[name].required,
            "latency_ms": round(latency_ms, 2),
        }
    serving = all(entry["up"] for entry in report.values() if entry["required"])
    return serving, report


def _timed(probe: Probe, timeout: float) -> tuple[ProbeResult, float]:
    started = time.perf_counter()
    try:
        result = probe(timeout)
    except Exception as exc:  # a probe that fails reports the dependency as down
        result = ProbeResult(False, "unknown", f"{type(exc).__name__}: {exc}")
    return result, (time.perf_counter() - started) * 1000


def probe_http(url: str, implementation: str) -> Probe:
    """Probe that GETs ``url`` and is up on a 2xx answer."""

    def probe(timeout: float) -> ProbeResult:
        try:
            response = requests.get(url, timeout=timeout)
        except requests.RequestException as exc:
            return ProbeResult(False, implementation, f"{url} unreachable: {type(exc).__name__}")
        return ProbeResult(response.ok, implementation, f"{url} answered {response.status_code}")

    return probe


def describe_url(url: str) -> str:
    """A URL without credentials, safe to show in /health."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# An absolute file path (not the path part of an http URL), with or without unix://.
_PATH = re.compile(r"(?:unix://|(?<![\w:/.]))/(?:[^\s/'\",;:]+/)+([^\s/'\",;:]+)")


def redact_paths(text: str) -> str:
    """``text`` with absolute file paths and unix sockets cut to their last part."""
    return _PATH.sub(r".../\1", text)


def minimal_details(config: Mapping[str, Any]) -> bool:
    """Whether /health and error details hide file paths (HEALTH_DETAILS; auto: when keys
    are set, since /health answers without a key and the details are for operators)."""
    mode = str(config.get("HEALTH_DETAILS", "auto"))
    return mode == "minimal" or (mode == "auto" and bool(config.get("API_KEYS")))
