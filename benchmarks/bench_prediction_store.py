"""Cost of the prediction stores, side by side in one run (CPU and wall time per call).

    python benchmarks/bench_prediction_store.py [--writes 2000] [--rows 400000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

1. ``record`` of one classified flower (what each /api/v1/classify pays): the CSV file
   versus the PostgreSQL table (a database of its own, dropped afterwards).
2. The last 1,000 rows for a drift report from a log of ``--rows`` rows: the whole-file
   read the drift report used to do (pandas over the file) versus ``tail`` (CSV backwards
   from the end; PostgreSQL by its primary key).
"""

import argparse
import io
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg

from ai_backends.classify.predlog import PostgresPredictionStore, PredictionLog

ANSWER = {"predicted_class": "setosa", "confidence": 0.97, "model_version": "v1"}
ROW = [[5.1, 3.5, 1.4, 0.2]]


def _time(call, count: int) -> tuple[float, float]:
    """Median wall µs and mean CPU µs per call over ``count`` calls."""
    walls = []
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        call()
        walls.append((time.perf_counter() - started) * 1e6)
    return statistics.median(walls), (time.process_time() - cpu) * 1e6 / count


def main() -> None:
    """Run both comparisons and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    name = f"bench_predstore_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(args.postgres, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            csv_log = PredictionLog(Path(folder) / "predictions.csv")
            store = PostgresPredictionStore(url, "bench")
            store.record("classify", "warm", ROW, [ANSWER], 1.0)
            print(f"record one flower, {args.writes} calls (median wall µs, CPU µs of this "
                  "process per call):")
            for label, target in (("csv", csv_log), ("postgresql", store)):
                wall, cpu = _time(lambda t=target: t.record("classify", "r", ROW, [ANSWER], 1.0),
                                  args.writes)
                print(f"  {label:<11} {wall:8.1f} µs wall  {cpu:8.1f} µs CPU")

            body = "".join(f"2026-01-01T00:00:00.000+00:00,r{i},classify,5.1,3.5,1.4,0.2,"
                           f"setosa,0.970000,v1,1.000,0\n" for i in range(args.rows))
            csv_log.append([])
            with csv_log.path.open("a") as handle:
                handle.write(body)
            with psycopg.connect(url) as connection, connection.cursor() as cursor:
                with cursor.copy("COPY predictions (ts, endpoint, request_id, replica, "
                                 "model_version, sepal_length, sepal_width, petal_length, "
                                 "petal_width, predicted_class, confidence, latency_ms, "
                                 "cache_hit, write_id, row_no) FROM STDIN") as copy:
                    for i in range(args.rows):
                        copy.write_row(("2026-01-01", "classify", f"r{i}", "bench", "v1", 5.1,
                                        3.5, 1.4, 0.2, "setosa", 0.97, 1.0, False,
                                        uuid.uuid4(), 0))
            size = csv_log.path.stat().st_size / 1e6
            print(f"last 1,000 of {args.rows:,} rows ({size:.0f} MB CSV), median of 5 "
                  "(wall ms):")
            import pandas as pd

            def whole_file() -> None:
                frame = pd.read_csv(io.BytesIO(csv_log.snapshot()),
                                    usecols=["sepal_length", "sepal_width", "petal_length",
                                             "petal_width", "predicted_class"])
                frame.dropna().tail(1000)

            for label, call in (("csv, whole file (before)", whole_file),
                                ("csv, tail", lambda: csv_log.tail(1000)),
                                ("postgresql, tail", lambda: store.tail(1000))):
                wall, cpu = _time(call, 5)
                print(f"  {label:<26} {wall / 1000:8.2f} ms wall  {cpu / 1000:8.2f} ms CPU")
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
