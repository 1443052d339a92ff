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


def _record(log: object, n: int, request_id: str = "r") -> None:
    answer = {"predicted_class": "setosa", "confidence": 0.9, "model_version": "v"}
    log.record("classify", request_id, [[5.1, 3.5, 1.4, 0.2]] * n,  # type: ignore[attr-defined]
               [answer] * n, 1.0)


def test_log_rotates_by_size_and_tail_reads_across_files(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.csv", max_bytes=4096, backups=2)
    for i in range(300):
        log.append([[f"t{i}", f"r{i}", "classify", i, 2, 3, 4, "setosa", 1.0, "v", 0.5, 1]])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["log.csv", "log.csv.1", "log.csv.2"]  # the oldest beyond 2 backups went
    assert all(p.stat().st_size <= 4096 for p in tmp_path.iterdir())
    kept = sum(len(list(csv.reader(p.open()))) - 1 for p in tmp_path.iterdir())
    rows, total = log.tail(kept + 50)  # more than the log holds: everything, exactly
    assert [row["sepal_length"] for row in rows] == list(range(300 - kept, 300))
    assert total == kept
    rows, total = log.tail(10)  # the newest ten, oldest first
    assert [row["sepal_length"] for row in rows] == list(range(290, 300))
    assert kept * 0.8 <= total <= kept * 1.2  # estimated from the sizes


def test_tail_reads_only_the_end_of_a_large_log(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_backends.classify import predlog

    log = PredictionLog(tmp_path / "log.csv")
    for _ in range(20):
        _record(log, 1000)
    size = log.path.stat().st_size
    read: list[int] = []
    original = predlog._tail_lines

    def spy(path: Path, wanted: int) -> tuple[list[bytes], int, bool, int]:
        found = original(path, wanted)
        read.append(found[1])
        return found

    monkeypatch.setattr(predlog, "_tail_lines", spy)
    rows, total = log.tail(100)
    assert len(rows) == 100
    assert sum(read) < size / 10  # a block or two, not the 20,000 rows
    assert 18_000 <= total <= 22_000


def test_rows_of_one_request_are_counted_once_in_the_tail(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log.csv")
    _record(log, 3)
    rows, total = log.tail(1000)
    assert total == 3 and len(rows) == 3
    assert rows[0] == {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
                       "petal_width": 0.2, "predicted_class": "setosa"}
