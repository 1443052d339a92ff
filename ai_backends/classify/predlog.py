"""Append-only CSV log of every classification, safe with many writer processes.

Each append takes an exclusive ``flock`` on the file and writes all its rows with one
``write`` on a file opened in append mode, so rows from concurrent workers never interleave
or get lost, and the header is written exactly once. The write goes straight to the OS (no
buffer in the process), so a row is on file before its response is sent.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ai_backends.core import metrics

COLUMNS = (
    "timestamp", "request_id", "endpoint",
    "sepal_length", "sepal_width", "petal_length", "petal_width",
    "predicted_class", "confidence", "model_version", "latency_ms", "cache_hit",
)


class PredictionLog:
    """The prediction log file; ``append`` is atomic per call across threads and processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0

    def append(self, rows: Iterable[Sequence[object]]) -> None:
        """Append rows (in ``COLUMNS`` order) as one locked write."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        with self._lock:  # flock does not exclude threads that share one descriptor
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                header = ",".join(COLUMNS) + "\n" if os.fstat(fd).st_size == 0 else ""
                data = (header + buffer.getvalue()).encode()
                while data:  # a regular file takes it all at once; loop in case it does not
                    data = data[os.write(fd, data):]
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _descriptor(self) -> int:
        """The append descriptor, opened once per process and again if the file was
        moved or removed (log rotation), so each append costs one write, not an open."""
        fd = self._fd
        if fd is not None and self._fd_pid == os.getpid():
            try:
                current, opened = os.stat(self.path), os.fstat(fd)
                if (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
                    return fd
            except FileNotFoundError:
                pass
        if fd is not None:
            os.close(fd)  # after a fork this closes only the child's copy
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fd_pid = os.getpid()
        return self._fd

    def record(self, endpoint: str, request_id: str, features: Iterable[Iterable[float]],
               answers: Iterable[Mapping[str, Any]], latency_ms: float) -> None:
        """Append one row per classified flower (its features and its answer's fields) and
        count it in the ``classifications_total`` metric."""
        timestamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        answers = list(answers)
        for predicted, count in Counter(a["predicted_class"] for a in answers).items():
            metrics.CLASSIFICATIONS.labels(endpoint, predicted).inc(count)
        self.append(
            (
                timestamp, request_id, endpoint,
                *(f"{value:g}" for value in row),
                answer["predicted_class"], f"{answer['confidence']:.6f}",
                answer["model_version"], f"{latency_ms:.3f}", int(answer.get("cache_hit", False)),
            )
            for row, answer in zip(features, answers, strict=True)
        )

    def snapshot(self) -> bytes:
        """The whole file as it is between appends (b"" when it does not exist yet)."""
        if not self.path.exists():
            return b""
        with self.path.open("rb") as handle:
            # Writers append under an exclusive lock; a shared lock never sees half a batch.
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            try:
                return handle.read()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read(self) -> list[dict[str, str]]:
        """Return every row as a dict (for reports and tests)."""
        return list(csv.DictReader(io.StringIO(self.snapshot().decode())))
