"""The capacity model of docs/capacity.md: replicas, Redis shards, PostgreSQL load per rate.

Reads the per-request costs measured by benchmarks/bench_capacity.py (CPU per
classification, Redis CPU and commands per request, PostgreSQL CPU, WAL and disk per
prediction row, semantic-cache CPU and memory, CPU per generated token) and turns them into
the sizes a platform team provisions, for the rates asked. Every assumption that is not a
measurement is a flag, printed with the tables.

Usage: python scripts/capacity_model.py [--measured benchmarks/capacity_measured.json]
           [--rates 1000 10000 100000] [--token-rates 1000 10000] [--hit-ratio 0.0] ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ROOT / "benchmarks" / "capacity_measured.json"


def classification_rows(m: dict[str, Any], rates: list[int], a: argparse.Namespace
                        ) -> list[dict[str, Any]]:
    """Per classification rate: API cores and replicas, Redis shards, PostgreSQL load."""
    c, pg = m["classify"], m["postgres"]
    api_ms = a.hit_ratio * c["hit"]["api_cpu_ms_per_request"] + (1 - a.hit_ratio) * c["miss"][
        "api_cpu_ms_per_request"]
    redis_us = a.hit_ratio * c["hit"]["redis_cpu_us_per_request"] + (1 - a.hit_ratio) * c[
        "miss"]["redis_cpu_us_per_request"]
    commands = a.hit_ratio * c["hit"]["redis_commands_per_request"] + (1 - a.hit_ratio) * c[
        "miss"]["redis_commands_per_request"]
    rows = []
    for rate in rates:
        api_cores = rate * api_ms / 1000 / a.utilization
        redis_cores = rate * redis_us / 1e6 / a.redis_utilization
        writes = rate * c["prediction_log_rows_per_request"]
        single = writes * pg["one_row_per_commit"]["server_cpu_us_per_row"] / 1e6
        batched = writes * pg["100_rows_per_commit"]["server_cpu_us_per_row"] / 1e6
        rows.append({
            "rate": rate,
            "api_cores": api_cores,
            "replicas": max(a.min_replicas, math.ceil(api_cores / a.cores_per_replica)),
            "redis_ops": rate * commands,
            "redis_cores": redis_cores,
            "redis_masters": max(3 if a.cluster_minimum else 1, math.ceil(redis_cores)),
            "pg_writes": writes,
            "pg_cores_single": single,
            "pg_cores_batched": batched,
            "wal_mb_s": writes * pg["100_rows_per_commit"]["wal_bytes_per_row"] / 1e6,
            "disk_gb_day": writes * pg["disk_bytes_per_row"] * 86400 / 1e9,
        })
    return rows


def llm_rows(m: dict[str, Any], token_rates: list[int], a: argparse.Namespace
             ) -> list[dict[str, Any]]:
    """Per generated-token rate: CPU cores of the embedded model, and what a cache saves."""
    per_token = m["llm"]["cpu_ms_per_token"] / 1000
    return [{"rate": rate,
             "cores": rate * per_token / a.utilization,
             "cores_with_cache": rate * (1 - a.llm_cache_hit_ratio) * per_token / a.utilization}
            for rate in token_rates]


def semantic_rows(m: dict[str, Any], sizes: list[int], a: argparse.Namespace
                  ) -> list[dict[str, Any]]:
    """Per semantic-cache size: memory in every API worker, in each replica, and in Redis."""
    s = m["semantic"]
    return [{"entries": n,
             "worker_gb": n * s["replica_bytes_per_entry"] / 1e9,
             "replica_gb": n * s["replica_bytes_per_entry"] * a.workers_per_replica / 1e9,
             "redis_gb": n * s["redis_bytes_per_entry"] / 1e9} for n in sizes]


def fmt(value: float) -> str:
    """A number with sensible precision for a table."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(m: dict[str, Any], a: argparse.Namespace) -> str:
    """The Markdown tables of docs/capacity.md."""
    c, pg, s = m["classify"], m["postgres"], m["semantic"]
    out = [f"Measured on {m['machine']}:", ""]
    for part in ("classify", "postgres", "semantic", "llm"):
        out.append(f"- {part}: `{m[part]['command']}`, {m[part]['run_at']} "
                   f"(load average {m[part]['load_average']} on the shared machine)")
    out.append("")
    out += ["| measured input | value |", "|---|---|",
            f"| API CPU per classification, cache miss / hit | "
            f"{c['miss']['api_cpu_ms_per_request']} / {c['hit']['api_cpu_ms_per_request']} ms |",
            f"| Redis commands per classification, miss / hit | "
            f"{c['miss']['redis_commands_per_request']} / "
            f"{c['hit']['redis_commands_per_request']} |",
            f"| Redis CPU per classification, miss / hit | "
            f"{c['miss']['redis_cpu_us_per_request']} / "
            f"{c['hit']['redis_cpu_us_per_request']} µs |",
            f"| prediction-store rows per classification | "
            f"{c['prediction_log_rows_per_request']} |",
            f"| PostgreSQL CPU per row, 1 row per commit / 100 rows per commit | "
            f"{pg['one_row_per_commit']['server_cpu_us_per_row']} / "
            f"{pg['100_rows_per_commit']['server_cpu_us_per_row']} µs |",
            f"| PostgreSQL commit wall time per row, 1 / 100 rows per commit | "
            f"{pg['one_row_per_commit']['wall_us_per_row']} / "
            f"{pg['100_rows_per_commit']['wall_us_per_row']} µs |",
            f"| WAL / disk (table + indexes) per row | "
            f"{pg['100_rows_per_commit']['wal_bytes_per_row']} / {pg['disk_bytes_per_row']} B |",
            f"| embedding one prompt (1 thread) | {s['embedding_cpu_ms']} ms CPU |",
            f"| semantic lookup at {s['entries']:,} entries (HNSW + rescoring + guard) | "
            f"{s['lookup_cpu_ms']} ms CPU, {s['lookup_redis_commands']} Redis commands |",
            f"| semantic cache memory per entry: API worker / Redis | "
            f"{s['replica_bytes_per_entry']:,} / {s['redis_bytes_per_entry']:,} B |",
            f"| embedded LLM ({m['llm']['model']}, {m['llm']['threads']} thread) | "
            f"{m['llm']['cpu_ms_per_token']} ms CPU per generated token |", ""]
    out += [f"Assumptions: CPU target {a.utilization:.0%} per API replica of "
            f"{a.cores_per_replica} cores (at least {a.min_replicas} replicas); Redis masters "
            f"kept below {a.redis_utilization:.0%} of their one command thread"
            f"{' (a Redis Cluster has at least 3)' if a.cluster_minimum else ''}; exact-cache "
            f"hit ratio {a.hit_ratio:.0%}; one prediction-store row per classification.", ""]
    out += ["| classifications/s | API cores | API replicas | Redis ops/s | Redis cores | "
            "Redis masters | PostgreSQL rows/s | PG cores, 1 row/commit | "
            "PG cores, 100 rows/commit | WAL MB/s | disk GB/day |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in classification_rows(m, a.rates, a):
        out.append(f"| {r['rate']:,} | {fmt(r['api_cores'])} | {r['replicas']} | "
                   f"{fmt(r['redis_ops'])} | {fmt(r['redis_cores'])} | {r['redis_masters']} | "
                   f"{fmt(r['pg_writes'])} | {fmt(r['pg_cores_single'])} | "
                   f"{fmt(r['pg_cores_batched'])} | {fmt(r['wal_mb_s'])} | "
                   f"{fmt(r['disk_gb_day'])} |")
    out += ["", f"LLM generation on CPU with the embedded model (CPU target {a.utilization:.0%};"
            f" a cache answering {a.llm_cache_hit_ratio:.0%} of the tokens):", "",
            "| generated tokens/s | CPU cores | CPU cores with the cache |", "|---|---|---|"]
    for r in llm_rows(m, a.token_rates, a):
        out.append(f"| {r['rate']:,} | {fmt(r['cores'])} | {fmt(r['cores_with_cache'])} |")
    out += ["", f"Semantic-cache memory ({a.workers_per_replica} gunicorn workers per replica, "
            "each holding its own index):", "",
            "| entries | per API worker | per API replica | in Redis (all shards) |",
            "|---|---|---|---|"]
    for r in semantic_rows(m, a.cache_sizes, a):
        out.append(f"| {r['entries']:,} | {fmt(r['worker_gb'])} GB | {fmt(r['replica_gb'])} GB "
                   f"| {fmt(r['redis_gb'])} GB |")
    return "\n".join(out)


def main() -> int:
    """Print the tables for the measured inputs and the assumptions given."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measured", default=str(MEASURED))
    parser.add_argument("--rates", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--token-rates", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--cache-sizes", type=int, nargs="*",
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--hit-ratio", type=float, default=0.0,
                        help="exact-cache hit ratio of classifications (0: every one a miss)")
    parser.add_argument("--llm-cache-hit-ratio", type=float, default=0.3,
                        help="share of generated tokens the exact + semantic caches answer")
    parser.add_argument("--utilization", type=float, default=0.6,
                        help="CPU share an API replica may use (the HPA target leaves headroom)")
    parser.add_argument("--cores-per-replica", type=int, default=2)
    parser.add_argument("--workers-per-replica", type=int, default=2)
    parser.add_argument("--min-replicas", type=int, default=3)
    parser.add_argument("--redis-utilization", type=float, default=0.5,
                        help="share of a master's command thread to plan for (failover headroom)")
    parser.add_argument("--no-cluster-minimum", dest="cluster_minimum", action="store_false")
    args = parser.parse_args()
    measured = json.loads(Path(args.measured).read_text())
    missing = [part for part in ("classify", "postgres", "semantic", "llm")
               if part not in measured or "skipped" in measured[part]]
    if missing:
        print(f"not measured: {missing}; run benchmarks/bench_capacity.py", file=sys.stderr)
        return 1
    print(render(measured, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
