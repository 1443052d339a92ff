"""Run every benchmark and write benchmarks/results.md (the docs' Benchmarks page includes it).

Usage: python benchmarks/run_all.py [--quick]
Each benchmark is a script of its own that prints Markdown; this one runs them one after
another (never two at once: they would measure each other), with the machine's description.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.md"



@dataclass(frozen=True)
class Benchmark:
    """One benchmark script: its title, its arguments, and whether it prints Markdown."""

    title: str
    full: list[str]
    quick: list[str]
    markdown: bool = False


BENCHMARKS = [
    Benchmark("Classification: API vs bare ONNX, cache miss vs hit",
              ["benchmarks/bench_classify.py", "--requests", "2000", "--wrk"],
              ["benchmarks/bench_classify.py", "--requests", "300"], markdown=True),
    Benchmark("Classification: what one cache miss costs, part by part (CPU instructions)",
              ["benchmarks/bench_request_cost.py"],
              ["benchmarks/bench_request_cost.py", "--few", "50", "--many", "150"],
              markdown=True),
    Benchmark("Inference sidecars: REST vs gRPC, against a bare server of each framework",
              ["benchmarks/bench_sidecars.py", "--markdown"],
              ["benchmarks/bench_sidecars.py", "--markdown", "--duration", "1"], markdown=True),
    Benchmark("Semantic cache: lookup latency by cache size, hit vs miss through the API",
              ["benchmarks/bench_semantic_cache.py"],
              ["benchmarks/bench_semantic_cache.py", "--sizes", "1000", "10000",
               "--api-prompts", "2"]),
    Benchmark("Drift report time by rows", ["benchmarks/bench_drift.py"],
              ["benchmarks/bench_drift.py", "--rows", "1000", "--repeat", "1"]),
    Benchmark("Registry inference vs the local model", ["benchmarks/bench_registry.py"],
              ["benchmarks/bench_registry.py", "--requests", "100"]),
    Benchmark("Embedded LLM: tokens/s and the API's overhead",
              ["benchmarks/bench_llm.py", "--runs", "7"],
              ["benchmarks/bench_llm.py", "--runs", "2"]),
    Benchmark("MCP server: a tool call over stdio vs the direct service call",
              ["benchmarks/bench_mcp.py", "--calls", "300"],
              ["benchmarks/bench_mcp.py", "--calls", "50"]),
    Benchmark("Cold start of the API", ["benchmarks/bench_cold_start.py", "--runs", "5"],
              ["benchmarks/bench_cold_start.py", "--runs", "2"], markdown=True),
]


def machine() -> str:
    """One line describing the CPU, cores, memory and Python."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())
        memory = f", {int(match.group(1)) / 2**20:.0f} GiB" if match else ""
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def main() -> None:
    """Run the benchmarks in turn and write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    args = parser.parse_args()
    sections = [f"Machine: {machine()}. Run on "
                f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with "
                f"`python benchmarks/run_all.py{' --quick' if args.quick else ''}`."]
    for bench in BENCHMARKS:
        title = bench.title
        argv = bench.quick if args.quick else bench.full
        print(f"== {title}: {' '.join(argv)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True,
                                text=True, timeout=900, check=False)
        output = result.stdout.strip() if result.returncode == 0 else (
            f"failed with exit code {result.returncode}:\n```\n{result.stderr[-2000:]}\n```")
        if not bench.markdown and result.returncode == 0:
            output = f"```\n{output}\n```"
        sections.append(f"### {title}\n\n{output}\n\n"
                        f"(`python {' '.join(argv)}`, {time.perf_counter() - started:.0f} s)")
        print(output, flush=True)
    report = "\n\n".join(sections) + "\n"
    RESULTS.write_text(report)
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
