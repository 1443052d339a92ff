"""Time drift reports on N logged classifications (default 10,000) in a throwaway folder.

    python benchmarks/bench_drift.py [--rows 10000] [--repeat 3] [--model-host]

Fills a prediction log with N rows (half real Iris flowers, half shifted), then times
``DriftService.report`` — the same call GET /api/v1/drift-report makes, which runs Evidently
in a child process (``mlops/drift_job.py``) kept ``DRIFT_JOB_LINGER_SECONDS`` after a
report — and prints the import time of Evidently separately: the first report after the
child ended pays it again (the maximum of the runs is that first report). With
``--model-host`` the reports go to a model host process (``python -m ai_backends.llm.host``),
as in run.py's stack, which runs them in such a child of its own (same lingering).
"""

import argparse
import os
import statistics
import subprocess  # nosec B404 - our own model host
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from ai_backends.classify.predlog import PredictionLog
from ai_backends.classify.training import train
from ai_backends.mlops.drift import DriftService


def _start_host(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A model host on a free port with ``data_dir``; its process and URL."""
    import requests

    from benchmarks.bench_classify import _free_port

    port = _free_port()
    env = {**os.environ, "MODEL_HOST_PORT": str(port), "DATA_DIR": str(data_dir),
           "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "ai_backends.llm.host"],  # nosec B603
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(f"{url}/api/version", timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the model host did not start")


def main() -> None:
    """Build the log, run the report ``--repeat`` times, print median and spread."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model-host", action="store_true",
                        help="send the reports to a model host, as run.py's API does")
    args = parser.parse_args()
    from sklearn.datasets import load_iris

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        train(root / "models", root / "data")
        iris = load_iris()
        rng = np.random.default_rng(0)
        picks = rng.integers(0, len(iris.data), args.rows)
        features = iris.data[picks] * rng.normal(1.0, 0.02, (args.rows, 4))
        features[args.rows // 2:, 0] += 1.5  # the second half drifts in sepal_length
        log = PredictionLog(root / "data" / "predictions.csv")
        log.append(
            ("2026-01-01T00:00:00+00:00", f"r{i}", "benchmark", *(f"{v:.3f}" for v in row),
             iris.target_names[iris.target[picks[i]]], "1.0", "bench", "0.1", 0)
            for i, row in enumerate(features)
        )
        started = time.perf_counter()
        import evidently  # noqa: F401  (timed on its own: paid by each new report process)

        import_seconds = time.perf_counter() - started
        host = _start_host(root / "data") if args.model_host else None
        try:
            service = DriftService(log, root / "data", min_samples=30,
                                   host_url=host[1] if host else "")
            timings = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                report = service.report(args.rows)
                timings.append(time.perf_counter() - started)
            size = service.html_path.stat().st_size
        finally:
            if host:
                host[0].terminate()
                host[0].wait(30)
    where = "in each new report process" + (" of the model host" if args.model_host else "")
    print(f"import evidently: {import_seconds:.2f} s ({where})")
    print(f"drift report on {args.rows} rows: median {statistics.median(timings):.2f} s "
          f"(min {min(timings):.2f}, max {max(timings):.2f}, {args.repeat} runs), "
          f"HTML {size / 1e6:.1f} MB")
    print(f"status {report['recommendations']['monitoring_status']}, drifted "
          f"{report['recommendations']['investigate_features']}")


if __name__ == "__main__":
    main()
