"""The prediction log keeps every row intact with many writers."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path

import pytest

from ai_backends.classify.predlog import COLUMNS, PredictionLog

pytestmark = pytest.mark.unit

WRITERS = 4
APPENDS = 200


def _write(path: str, writer: int) -> None:
    log = PredictionLog(path)
    for i in range(APPENDS):
        # Rows of different lengths make torn writes visible.
        log.append([[f"t{writer}", f"{writer}-{i}", "classify", 5.1, 3.5, 1.4, 0.2,
                      "setosa" * (1 + i % 7), 0.99, "v", 1.0, 0]])


def test_concurrent_processes_lose_and_tear_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write, args=(str(path), w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMNS)
    body = rows[1:]
    assert len(body) == WRITERS * APPENDS
    assert all(len(row) == len(COLUMNS) for row in body)
    assert len({row[1] for row in body}) == WRITERS * APPENDS


def test_read_returns_dicts(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.csv")
    assert log.read() == []
    log.append([["t", "r", "classify", 1, 2, 3, 4, "setosa", 1.0, "v", 0.5, 1]])
    assert log.read()[0]["predicted_class"] == "setosa"


ROW = ["t", "r", "classify", 1, 2, 3, 4, "setosa", 1.0, "v", 0.5, 1]


def test_threads_sharing_one_log_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    log = PredictionLog(tmp_path / "log.csv")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: log.append([[*ROW[:1], f"r{i}", *ROW[2:]]]), range(400)))
    rows = log.read()
    assert sorted(int(row["request_id"][1:]) for row in rows) == list(range(400))


def test_a_rotated_or_removed_log_starts_a_new_file_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    log = PredictionLog(path)
    log.append([ROW])
    path.rename(tmp_path / "log.csv.1")  # what logrotate does
    log.append([ROW, ROW])
    assert len(log.read()) == 2
    assert len(PredictionLog(tmp_path / "log.csv.1").read()) == 1
    path.unlink()
    log.append([ROW])
    assert len(log.read()) == 1
