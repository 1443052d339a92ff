"""What the MCP layer costs: classify_iris over stdio against the service called directly.

Starts ``scripts/mcp_server.py`` (stdio, services in-process) with the SDK's own client and
measures, sequentially, in one run:
- server start: spawn to ``initialize`` answered;
- ``ClassificationService.classify`` called in this process, one row (cache hit);
- ``classify_iris`` through MCP, one row (cache hit);
- ``tools/list`` through MCP.
Uses REDIS_URL if set, else the machine's Redis on 6379 (db 15), with its own key prefix.
Usage: python benchmarks/bench_mcp.py [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {"median_ms": statistics.median(ordered),
            "p99_ms": ordered[int(0.99 * (len(ordered) - 1))]}


def bench_service(env: dict[str, str], calls: int) -> dict[str, float]:
    """Time the service call the MCP tool makes, without MCP around it."""
    from ai_backends.services import build_services

    service = build_services(env).classification
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        service.classify([list(ROW.values())], "bench", "bench")
        times.append((time.perf_counter() - started) * 1000)
    return _summary(times)


async def bench_mcp(env: dict[str, str], calls: int) -> dict[str, Any]:
    """Start the stdio server and time its start, classify_iris and tools/list."""
    params = StdioServerParameters(command=sys.executable,
                                   args=[str(ROOT / "scripts" / "mcp_server.py")], env=env)
    started = time.perf_counter()
    with open(Path(env["DATA_DIR"]) / "mcp.log", "w") as log:
        async with stdio_client(params, errlog=log) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            start_ms = (time.perf_counter() - started) * 1000
            classify, listing = [], []
            for _ in range(calls):
                began = time.perf_counter()
                result = await session.call_tool("classify_iris", {"samples": [ROW]})
                classify.append((time.perf_counter() - began) * 1000)
                if result.is_error:
                    raise SystemExit(f"classify_iris failed: {result.content}")
                began = time.perf_counter()
                await session.list_tools()
                listing.append((time.perf_counter() - began) * 1000)
    return {"server_start_ms": start_ms, "classify_iris": _summary(classify),
            "tools_list": _summary(listing)}


def main() -> None:
    """Print the measurements as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            "MODEL_DIR": os.environ.get("MODEL_DIR", str(ROOT / "models")),
            "DATA_DIR": data_dir,
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
            "REDIS_KEY_PREFIX": f"bench-mcp-{uuid.uuid4().hex[:8]}:",
            "PYTHONPATH": str(ROOT),  # the script imports this checkout's ai_backends
        }
        service = bench_service(env, args.calls)
        mcp = anyio.run(bench_mcp, env, args.calls)
    ratio = mcp["classify_iris"]["median_ms"] / service["median_ms"]
    print(json.dumps({"python": platform.python_version(), "calls": args.calls,
                      "service_call": service, **mcp,
                      "classify_iris_median_vs_service": round(ratio, 1)}, indent=2))


if __name__ == "__main__":
    main()
