"""Benchmark the semantic cache: lookup latency by cache size, and hit vs miss through the API.

    python benchmarks/bench_semantic_cache.py [--sizes 1000 10000 100000] [--api-prompts 5]

Part 1 fills a cache in Redis (db 15 by default, own prefix, removed afterwards) with N
entries, then a fresh cache instance (a restarted worker) loads its index from Redis and
answers queries. Reported per size: the reload time, the in-memory search (HNSW + exact
rescoring, the part that grows with N) and the whole lookup (event check in Redis, search,
guard, hit record); embedding time is measured once, since it does not depend on N.
The stored vectors are real embeddings of the labelled prompts plus noisy copies of them
(cosine ~0.6-0.9 to their source), so the index sees clustered data like real prompts.

Part 2 runs the API in-process on the embedded LLM and times chat-semantic requests: a
miss (generation), a paraphrase (semantic hit) and a repeat (exact hit).
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np
import redis

from ai_backends.cache.embeddings import Embedder
from ai_backends.cache.evaluation import read_pairs
from ai_backends.cache.semantic import NewEntry, SemanticCache, scope_of
from ai_backends.core.config import load_config

PARAMS = {"max_tokens": 32, "temperature": 0.0, "seed": None}
SCOPE = scope_of("benchmark-model", PARAMS)


def median_ms(samples: list[float]) -> str:
    """Median and 95th percentile of seconds, as milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:7.3f} ms  p95 {p95 * 1000:7.3f} ms"


def fill(cache: SemanticCache, base: np.ndarray, prompts: list[str], size: int) -> None:
    """Insert ``size`` entries: the real vectors, then noisy copies of them."""
    rng = np.random.default_rng(0)
    batch: list[NewEntry] = []
    for i in range(size):
        source = base[i % len(base)]
        vector = source if i < len(base) else source + rng.normal(0, 0.035, source.shape)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        batch.append(NewEntry(f"{prompts[i % len(prompts)]} #{i}", vector, "answer",
                              "benchmark-model", PARAMS, SCOPE, 1000.0))
        if len(batch) == 1000:
            cache.insert_many(batch)
            batch = []
    if batch:
        cache.insert_many(batch)


def bench_sizes(sizes: list[int], redis_url: str, embedder: Embedder, prompts: list[str],
                queries: list[str]) -> None:
    """Part 1: reload, search and lookup latency at each cache size."""
    base = embedder.embed(prompts)
    query_vectors = []
    embed_times = []
    for query in queries:
        started = time.perf_counter()
        query_vectors.append(embedder.embed_one(query))
        embed_times.append(time.perf_counter() - started)
    print(f"embedding one prompt (all-MiniLM-L6-v2 int8): {median_ms(embed_times)}\n")
    client = redis.Redis.from_url(redis_url)
    for size in sizes:
        prefix = f"bench-semantic-{uuid.uuid4().hex[:8]}:"
        try:
            writer = SemanticCache(client, prefix, 0.8, size + 1, 3600)
            fill_started = time.perf_counter()
            fill(writer, base, prompts, size)
            fill_s = time.perf_counter() - fill_started
            worker = SemanticCache(client, prefix, 0.8, size + 1, 3600)
            reload_started = time.perf_counter()
            worker.sync()
            reload_s = time.perf_counter() - reload_started
            # The alternative without an index: one contiguous float32 matrix, brute force.
            matrix = np.stack([meta.vector for meta in worker._meta.values()])
            searches, lookups, scans = [], [], []
            for _ in range(5):
                for query, vector in zip(queries, query_vectors, strict=True):
                    t = time.perf_counter()
                    worker.search(vector, SCOPE)
                    searches.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    worker.lookup(query, vector, SCOPE)
                    lookups.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    np.argpartition(-(matrix @ vector), 8)[:8]
                    scans.append(time.perf_counter() - t)
            print(f"{size:>7} entries: filled in {fill_s:6.1f} s, restart reload {reload_s:6.2f} s")
            print(f"{'':>17}search {median_ms(searches)}  (HNSW + exact rescoring)")
            print(f"{'':>17}numpy  {median_ms(scans)}  (brute force, for comparison)")
            print(f"{'':>17}lookup {median_ms(lookups)}  (events, search, guard, hit)")
        finally:
            for key in client.scan_iter(match=f"{prefix}*", count=5000):
                client.delete(key)


def bench_api(config: dict, pairs: list, count: int) -> None:
    """Part 2: chat-semantic miss, semantic hit and exact hit through the API."""
    from ai_backends.api.app import create_app

    app = create_app({**config, "REDIS_KEY_PREFIX": f"bench-api-{uuid.uuid4().hex[:8]}:"})
    api = app.test_client()
    api.post("/api/v1/chat-semantic", json={"prompt": "warm up", "max_tokens": 1})
    api.delete("/api/v1/cache?which=all")
    times: dict[str, list[float]] = {"miss": [], "semantic": [], "exact": []}
    paraphrases = [p for p in pairs if p.kind == "paraphrase"][::2][:count]
    for pair in paraphrases:
        for prompt, expected in ((pair.cached, "miss"), (pair.asked, "semantic"),
                                 (pair.cached, "exact")):
            t = time.perf_counter()
            body = api.post("/api/v1/chat-semantic",
                            json={"prompt": prompt, **PARAMS}).get_json()
            elapsed = time.perf_counter() - t
            if "cache_info" not in body:  # e.g. 503 when the model is busy on a loaded machine
                print(f"  skipped {prompt!r}: {body.get('status')} {body.get('detail')}")
                continue
            kind = body["cache_info"]["cache_type"]
            kind = "miss" if kind in (None, "none") else kind  # a miss is "none"
            if kind == expected:
                times[kind].append(elapsed)
    for kind, samples in times.items():
        if samples:
            print(f"  {kind:>8} ({len(samples)} requests): median "
                  f"{statistics.median(samples) * 1000:9.1f} ms  min {min(samples) * 1000:9.1f}"
                  f" ms  max {max(samples) * 1000:9.1f} ms")
    miss = statistics.median(times["miss"])
    for kind in ("semantic", "exact"):
        if times[kind]:
            ratio = miss / statistics.median(times[kind])
            print(f"  the median {kind} hit is {ratio:,.0f}x faster than the median miss")
    api.delete("/api/v1/cache?which=all")


def main() -> None:
    """Run both parts and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000],
                        help="cache sizes to measure (none: only the API part)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--api-prompts", type=int, default=5, help="0 skips the API part")
    args = parser.parse_args()
    config = load_config({"REDIS_URL": args.redis_url, "LLM_BACKEND": "llamacpp",
                          "LLM_TIMEOUT_SECONDS": 300.0})
    pairs = read_pairs(ROOT / "tests/data/semantic_pairs.csv")
    prompts = sorted({p.cached for p in pairs} | {p.asked for p in pairs})
    queries = [p.asked for p in pairs][:40]
    embedder = Embedder(config["EMBEDDING_MODEL_DIR"])
    print("== semantic lookup by cache size ==")
    bench_sizes(args.sizes, args.redis_url, embedder, prompts, queries)
    if args.api_prompts:
        print("\n== chat-semantic through the API (embedded LLM, max_tokens 32) ==")
        bench_api(config, pairs, args.api_prompts)


if __name__ == "__main__":
    main()
