"""Compare /classify with /classify-registry (ONNX and sklearn) in-process, in a temp store.

    python benchmarks/bench_registry.py [--requests 500]

Trains and registers into a throwaway SQLite registry, then sends the same flower through
the Flask test client (no network, no cache for /classify: every row is new) and prints
the median latency of each route and the first (model-loading) registry request.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ai_backends.api.app import create_app
from ai_backends.classify.training import REFERENCE_FILE, train_model
from ai_backends.core.config import load_config
from ai_backends.mlops.registry import ModelRegistry


def main() -> None:
    """Register, warm up, time each route, print medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        trained = train_model(root / "models", root / "data")
        uri = f"sqlite:///{root / 'data' / 'mlflow.db'}"
        ModelRegistry(uri, root / "data", load_config()).register_trained(
            trained, root / "data" / REFERENCE_FILE)
        app = create_app({"MODEL_DIR": str(root / "models"), "DATA_DIR": str(root / "data"),
                          "MLFLOW_TRACKING_URI": uri, "CACHE_ENABLED": False})
        client = app.test_client()
        routes = {
            "/api/v1/classify": "/api/v1/classify",
            "registry onnx": "/api/v1/classify-registry?model_format=onnx",
            "registry sklearn": "/api/v1/classify-registry?model_format=sklearn",
        }
        for name, url in routes.items():
            started = time.perf_counter()
            first = client.post(url, json=_flower(0))
            first_ms = (time.perf_counter() - started) * 1000
            if first.status_code != 200:
                raise SystemExit(f"{url} answered {first.status_code}: {first.json}")
            timings = []
            for i in range(1, args.requests + 1):
                started = time.perf_counter()
                client.post(url, json=_flower(i))
                timings.append((time.perf_counter() - started) * 1000)
            print(f"{name:>18}: first {first_ms:7.1f} ms, then median "
                  f"{statistics.median(timings):.2f} ms over {args.requests} requests")


def _flower(i: int) -> dict[str, float]:
    return {"sepal_length": 5.0 + (i % 100) / 100, "sepal_width": 3.4,
            "petal_length": 1.5, "petal_width": 0.2}


if __name__ == "__main__":
    main()
