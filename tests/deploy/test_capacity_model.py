"""scripts/capacity_model.py: the capacity page's tables follow from the measured inputs."""

from __future__ import annotations

import argparse
import importlib.util
import json
from typing import Any

import pytest

from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.unit
spec = importlib.util.spec_from_file_location("capacity_model", ROOT / "scripts" /
                                              "capacity_model.py")
assert spec and spec.loader
capacity_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(capacity_model)


def _args(**overrides: Any) -> argparse.Namespace:
    defaults = {"rates": [1_000, 10_000, 100_000], "token_rates": [1_000], "hit_ratio": 0.0,
                "llm_cache_hit_ratio": 0.3, "utilization": 0.5, "cores_per_replica": 2,
                "workers_per_replica": 2, "min_replicas": 3, "redis_utilization": 0.5,
                "cluster_minimum": True, "cache_sizes": [1_000_000]}
    return argparse.Namespace(**{**defaults, **overrides})


def _measured() -> dict[str, Any]:
    part = {"command": "bench", "run_at": "now", "load_average": 1.0}
    return {
        "machine": "test",
        "classify": {**part, "miss": {"api_cpu_ms_per_request": 1.0,
                                      "redis_cpu_us_per_request": 50.0,
                                      "redis_commands_per_request": 2.0},
                     "hit": {"api_cpu_ms_per_request": 0.5, "redis_cpu_us_per_request": 20.0,
                             "redis_commands_per_request": 1.0},
                     "prediction_log_rows_per_request": 1.0},
        "postgres": {**part, "one_row_per_commit": {"server_cpu_us_per_row": 200.0,
                                                    "wall_us_per_row": 5000.0},
                     "100_rows_per_commit": {"server_cpu_us_per_row": 10.0,
                                             "wal_bytes_per_row": 500,
                                             "wall_us_per_row": 100.0},
                     "disk_bytes_per_row": 300},
        "semantic": {**part, "embedding_cpu_ms": 5.0, "entries": 1000, "lookup_cpu_ms": 0.5,
                     "lookup_redis_commands": 2.0, "replica_bytes_per_entry": 2500,
                     "redis_bytes_per_entry": 3000},
        "llm": {**part, "model": "m.gguf", "threads": 1, "cpu_ms_per_token": 5.0},
    }


def test_replicas_shards_and_writes_follow_the_per_request_costs() -> None:
    rows = capacity_model.classification_rows(_measured(), [10_000], _args())
    [row] = rows
    assert row["api_cores"] == pytest.approx(20.0)      # 10k/s x 1 ms / 50%
    assert row["replicas"] == 10                        # 20 cores / 2 per replica
    assert row["redis_ops"] == pytest.approx(20_000)
    assert row["redis_masters"] == 3                    # 1 core needed, a cluster has 3
    assert row["pg_writes"] == pytest.approx(10_000)
    assert row["pg_cores_single"] == pytest.approx(2.0)
    assert row["pg_cores_batched"] == pytest.approx(0.1)


def test_cache_hits_make_classifications_cheaper() -> None:
    cold = capacity_model.classification_rows(_measured(), [100_000], _args())[0]
    warm = capacity_model.classification_rows(_measured(), [100_000],
                                              _args(hit_ratio=1.0))[0]
    assert warm["api_cores"] == pytest.approx(cold["api_cores"] / 2)
    assert warm["redis_masters"] < cold["redis_masters"]


def test_semantic_memory_is_per_worker() -> None:
    [row] = capacity_model.semantic_rows(_measured(), [1_000_000], _args())
    assert row["worker_gb"] == pytest.approx(2.5)
    assert row["replica_gb"] == pytest.approx(5.0)


def test_the_committed_measurements_render() -> None:
    measured = json.loads((ROOT / "benchmarks" / "capacity_measured.json").read_text())
    text = capacity_model.render(measured, _args())
    assert "| 100,000 |" in text and "per generated token" in text
