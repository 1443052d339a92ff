"""Where every classification is logged: a CSV file (the embedded default) or PostgreSQL.

Both stores offer ``record`` (one row per classified flower, written before the answer is
sent) and ``tail(limit)`` (the last rows and the total, read without the whole history).

**CSV file** (``PredictionLog``): each append takes an exclusive ``flock`` on the file and
writes all its rows with one ``write`` on a file opened in append mode, so rows from
concurrent workers never interleave or get lost, and the header is written exactly once.
The write goes straight to the OS (no buffer in the process), so a row is on file before
its response is sent. When the file would pass ``max_bytes`` it is rotated
(``predictions.csv`` -> ``.1`` -> ``.2`` ...; ``backups`` old files are kept, older ones
deleted): the log on disk stays under ``(backups + 1) * max_bytes``. ``tail`` reads the
files backwards in blocks and stops as soon as it has the rows it needs.

**PostgreSQL** (``PostgresPredictionStore``, ``PREDICTION_STORE=postgresql://...``): one
table shared by every replica. The guarantee: *a request answered 200 has its rows in the
table exactly once.* The rows are committed before the answer is sent (no local spool: a
replica's disk is not durable in a fleet, and a replica killed with SIGKILL right after
answering has nothing left to flush). A write that fails because PostgreSQL is unreachable
is retried on a new connection until ``write_timeout`` seconds have passed, then the
request fails with 503 (nothing was answered, so nothing is owed). Each write carries an
idempotency key (a random ``write_id`` per call plus the row number, unique in the table):
a retry after a commit whose acknowledgement was lost inserts nothing twice.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ai_backends.core import metrics
from ai_backends.core.errors import Unavailable
from ai_backends.core.health import ProbeResult, describe_url

log = logging.getLogger(__name__)

COLUMNS = (
    "timestamp", "request_id", "endpoint",
    "sepal_length", "sepal_width", "petal_length", "petal_width",
    "predicted_class", "confidence", "model_version", "latency_ms", "cache_hit",
)
FEATURE_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
TAIL_COLUMNS = (*FEATURE_COLUMNS, "predicted_class")
READ_BLOCK = 64 * 1024


class PredictionStore(Protocol):
    """What the services need from a prediction store."""

    def record(self, endpoint: str, request_id: str, features: Iterable[Iterable[float]],
               answers: Iterable[Mapping[str, Any]], latency_ms: float) -> None:
        """Store one row per classified flower before the answer is sent."""

    def tail(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The last ``limit`` rows (oldest first; features and predicted class) and the total."""

    def read(self) -> list[dict[str, Any]]:
        """Every row (for tests and small tools)."""

    def probe(self, timeout: float) -> ProbeResult:
        """Whether the store takes writes now."""


def _rows(endpoint: str, request_id: str, features: Iterable[Iterable[float]],
          answers: Iterable[Mapping[str, Any]], latency_ms: float) -> list[dict[str, Any]]:
    """One dict per flower."""
    answers = list(answers)
    timestamp = datetime.now(timezone.utc)
    return [
        {
            "timestamp": timestamp, "request_id": request_id, "endpoint": endpoint,
            **{name: float(value) for name, value in zip(FEATURE_COLUMNS, row, strict=True)},
            "predicted_class": answer["predicted_class"],
            "confidence": float(answer["confidence"]),
            "model_version": str(answer["model_version"]),
            "latency_ms": float(latency_ms),
            "cache_hit": bool(answer.get("cache_hit", False)),
        }
        for row, answer in zip(features, answers, strict=True)
    ]


_classified: dict[tuple[str, str], Any] = {}  # labelled children, looked up once each


def _count(rows: list[dict[str, Any]]) -> None:
    """Count stored rows in the ``classifications_total`` metric."""
    for labels, count in Counter((row["endpoint"], row["predicted_class"]) for row in rows).items():
        child = _classified.get(labels)
        if child is None:
            child = _classified[labels] = metrics.CLASSIFICATIONS.labels(*labels)
        child.inc(count)


class PredictionLog:
    """The CSV prediction log; ``append`` is atomic per call across threads and processes."""

    def __init__(self, path: str | Path, max_bytes: int = 0, backups: int = 3) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes  # 0: never rotate
        self.backups = max(1, backups)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._fd_pid = 0
        self._stale = False  # the open file is no longer the one at ``path``

    def append(self, rows: Iterable[Sequence[object]]) -> None:
        """Append rows (in ``COLUMNS`` order) as one locked write, rotating first if full."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        body = buffer.getvalue().encode()
        with self._lock:  # flock does not exclude threads that share one descriptor
            while True:
                fd = self._descriptor()
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    opened = os.fstat(fd)
                    if not self._is_current(opened):
                        self._stale = True  # rotated or removed (maybe while we waited)
                        continue
                    size = opened.st_size
                    if self.max_bytes and size and size + len(body) > self.max_bytes:
                        self._rotate()
                        self._stale = True
                        continue  # write into the new file
                    header = (",".join(COLUMNS) + "\n").encode() if size == 0 else b""
                    data = header + body
                    while data:  # a regular file takes it all at once; loop in case not
                        data = data[os.write(fd, data):]
                    return
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _rotate(self) -> None:
        """Shift ``path`` -> ``.1`` -> ``.2`` ...; the oldest beyond ``backups`` is deleted."""
        for number in range(self.backups, 0, -1):
            source = self.path if number == 1 else self._backup(number - 1)
            if source.exists():
                os.replace(source, self._backup(number))
        log.info("prediction log rotated at %d bytes", self.max_bytes)

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")

    def _is_current(self, opened: os.stat_result) -> bool:
        """Whether the open file (``opened``, its ``fstat``) is still the one at ``path``."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)

    def _descriptor(self) -> int:
        """The append descriptor, opened once per process and again after ``append`` found
        the file moved or removed (log rotation), so each append costs one write, not an
        open; whether it is still current is checked under the lock."""
        fd = self._fd
        if fd is not None and self._fd_pid == os.getpid() and not self._stale:
            return fd
        if fd is not None:
            os.close(fd)  # after a fork this closes only the child's copy
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fd_pid = os.getpid()
        self._stale = False
        return self._fd

    def record(self, endpoint: str, request_id: str, features: Iterable[Iterable[float]],
               answers: Iterable[Mapping[str, Any]], latency_ms: float) -> None:
        """Append one row per classified flower (its features and its answer's fields) and
        count it in the ``classifications_total`` metric."""
        rows = _rows(endpoint, request_id, features, answers, latency_ms)
        self.append(
            (
                row["timestamp"].isoformat(timespec="milliseconds"), row["request_id"],
                row["endpoint"], *(f"{row[name]:g}" for name in FEATURE_COLUMNS),
                row["predicted_class"], f"{row['confidence']:.6f}", row["model_version"],
                f"{row['latency_ms']:.3f}", int(row["cache_hit"]),
            )
            for row in rows
        )
        _count(rows)

    def snapshot(self) -> bytes:
        """The whole current file as it is between appends (b"" when it does not exist yet)."""
        if not self.path.exists():
            return b""
        with self.path.open("rb") as handle:
            # Writers append under an exclusive lock; a shared lock never sees half a batch.
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            try:
                return handle.read()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read(self) -> list[dict[str, Any]]:
        """Return every row of the current file as a dict (for reports and tests)."""
        return list(csv.DictReader(io.StringIO(self.snapshot().decode())))

    def tail(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The last ``limit`` rows across the file and its backups, reading backwards only
        as far as needed; the total is exact when every file was read, else estimated from
        the files' sizes and the bytes per row of what was read."""
        lines: list[bytes] = []  # newest first
        total_bytes = read_bytes = seen = 0
        complete = True
        for path in [self.path, *(self._backup(n) for n in range(1, self.backups + 1))]:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            total_bytes += size
            if len(lines) >= limit:
                complete = False
                continue
            found, used, whole, in_block = _tail_lines(path, limit - len(lines))
            lines += found
            read_bytes += used
            seen += in_block
            complete = complete and whole
        parsed = (_parse_row(line) for line in reversed(lines))
        rows = [row for row in parsed if row is not None]
        if complete:
            total = len(rows) if len(lines) < limit else _exact_count(self)
        else:
            per_row = read_bytes / max(1, seen)
            total = max(len(rows), round(total_bytes / per_row))
        return rows[-limit:] if limit else [], total

    def probe(self, timeout: float) -> ProbeResult:
        """Up when the log's folder is writable."""
        folder = self.path.parent
        up = os.access(folder if folder.exists() else folder.parent, os.W_OK)
        return ProbeResult(up, "csv", "prediction log writable" if up
                           else "prediction log folder not writable")


def _exact_count(log_: PredictionLog) -> int:
    """Rows in every file of the log (used only when they were read whole anyway)."""
    count = 0
    for path in [log_.path, *(log_._backup(n) for n in range(1, log_.backups + 1))]:
        if path.exists():
            with path.open("rb") as handle:
                count += sum(1 for line in handle if line.strip()
                             and not line.startswith(b"timestamp,"))
    return count


def _tail_lines(path: Path, wanted: int) -> tuple[list[bytes], int, bool, int]:
    """Up to ``wanted`` data lines from the end of ``path`` (newest first), the bytes read,
    whether every line of the file was returned, and the lines those bytes held."""
    with path.open("rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        try:
            end = handle.seek(0, os.SEEK_END)
            position, buffer = end, b""
            while position > 0 and buffer.count(b"\n") <= wanted:
                step = min(READ_BLOCK, position)
                position -= step
                handle.seek(position)
                buffer = handle.read(step) + buffer
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    pieces = buffer.split(b"\n")
    if position > 0:
        pieces = pieces[1:]  # the first piece may be a partial line
    lines = [p for p in pieces if p.strip() and not p.startswith(b"timestamp,")]
    lines.reverse()
    return lines[:wanted], end - position, position == 0 and len(lines) <= wanted, len(lines)


def _parse_row(line: bytes) -> dict[str, Any] | None:
    try:
        values = next(csv.reader([line.decode()]))
        row = dict(zip(COLUMNS, values, strict=True))
        return {**{name: float(row[name]) for name in FEATURE_COLUMNS},
                "predicted_class": row["predicted_class"]}
    except (ValueError, StopIteration, UnicodeDecodeError):
        return None  # a damaged line is skipped, as pandas' dropna did


SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY,
    ts timestamptz NOT NULL,
    endpoint text NOT NULL,
    request_id text NOT NULL,
    replica text NOT NULL,
    model_version text NOT NULL,
    sepal_length double precision NOT NULL,
    sepal_width double precision NOT NULL,
    petal_length double precision NOT NULL,
    petal_width double precision NOT NULL,
    predicted_class text NOT NULL,
    confidence double precision NOT NULL,
    latency_ms double precision NOT NULL,
    cache_hit boolean NOT NULL,
    write_id uuid NOT NULL,
    row_no integer NOT NULL,
    UNIQUE (write_id, row_no)
);
CREATE INDEX IF NOT EXISTS {table}_ts ON {table} (ts);
CREATE INDEX IF NOT EXISTS {table}_request ON {table} (request_id);
"""
INSERT_COLUMNS = ("ts", "endpoint", "request_id", "replica", "model_version",
                  *FEATURE_COLUMNS, "predicted_class", "confidence", "latency_ms",
                  "cache_hit", "write_id", "row_no")


class PostgresPredictionStore:
    """The prediction table in PostgreSQL, shared by every replica (see the module doc)."""

    def __init__(self, url: str, replica: str = "", write_timeout: float = 5.0,
                 table: str = "predictions") -> None:
        if not table.isidentifier():
            raise ValueError(f"invalid table name {table!r}")
        self.url = url
        self.replica = replica or socket.gethostname()
        self.write_timeout = write_timeout
        self.table = table
        self._local = threading.local()
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    # -- connections ----------------------------------------------------------------------
    def _connect(self, timeout: float) -> Any:
        import psycopg

        # A lost link must fail the call, not hang it: unacknowledged data aborts the socket
        # after tcp_user_timeout, and keepalives notice a silent peer on an idle one.
        return psycopg.connect(self.url, autocommit=True,
                               connect_timeout=max(1, round(timeout)),
                               tcp_user_timeout=max(500, int(timeout * 1000)),
                               keepalives=1, keepalives_idle=5, keepalives_interval=2,
                               keepalives_count=2, options="-c statement_timeout=5000")

    def _connection(self) -> Any:
        """This thread's connection (made on first use and again in a forked child)."""
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or connection.closed or getattr(local, "pid", 0) != os.getpid():
            connection = self._connect(self.write_timeout)
            local.connection, local.pid = connection, os.getpid()
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    connection.execute(SCHEMA.format(table=self.table))
                    self._schema_ready = True
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # nosec B110 - a broken socket may fail to close; it is gone
                pass

    def _run(self, action: Any, what: str, deadline_seconds: float) -> Any:
        """Run ``action(connection)``, retrying on new connections until the deadline."""
        import psycopg

        deadline = time.monotonic() + deadline_seconds
        delay = 0.05
        while True:
            try:
                return action(self._connection())
            except psycopg.OperationalError as exc:
                self._drop_connection()
                if time.monotonic() + delay >= deadline:
                    metrics.PREDICTION_STORE_ERRORS.inc()
                    raise Unavailable(f"prediction store unreachable ({what}): "
                                      f"{type(exc).__name__}", retry_after=5) from exc
                log.warning("prediction store %s failed, retrying: %s", what, exc)
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    # -- the store --------------------------------------------------------------------------
    def record(self, endpoint: str, request_id: str, features: Iterable[Iterable[float]],
               answers: Iterable[Mapping[str, Any]], latency_ms: float) -> None:
        """Insert the rows (idempotently) and return only once they are committed."""
        rows = _rows(endpoint, request_id, features, answers, latency_ms)
        if not rows:
            return
        write_id = uuid.uuid4()
        params = [
            (row["timestamp"], row["endpoint"], row["request_id"], self.replica,
             row["model_version"], *(row[name] for name in FEATURE_COLUMNS),
             row["predicted_class"], row["confidence"], row["latency_ms"], row["cache_hit"],
             write_id, number)
            for number, row in enumerate(rows)
        ]
        row_marks = "(" + ", ".join(["%s"] * len(INSERT_COLUMNS)) + ")"
        # One statement for every row of the request: atomic in autocommit, one round trip.
        sql = (f"INSERT INTO {self.table} ({', '.join(INSERT_COLUMNS)}) "  # nosec B608
               f"VALUES {', '.join([row_marks] * len(params))} "
               "ON CONFLICT (write_id, row_no) DO NOTHING")
        flat = [value for row in params for value in row]

        def insert(connection: Any) -> None:
            connection.execute(sql, flat)

        self._run(insert, "write", self.write_timeout)
        _count(rows)

    def tail(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The last ``limit`` rows by id (an index scan) and the row count from the id range."""
        columns = ", ".join(TAIL_COLUMNS)

        def query(connection: Any) -> tuple[list[Any], Any]:
            rows = connection.execute(
                f"SELECT {columns} FROM {self.table} ORDER BY id DESC LIMIT %s",  # nosec B608
                (limit,)).fetchall()
            bounds = connection.execute(
                f"SELECT min(id), max(id) FROM {self.table}").fetchone()  # nosec B608
            return rows, bounds

        rows, (low, high) = self._run(query, "read", self.write_timeout)
        total = 0 if low is None else max(len(rows), int(high) - int(low) + 1)
        if len(rows) < limit:
            total = len(rows)  # everything was read: exact
        return [dict(zip(TAIL_COLUMNS, row, strict=True)) for row in reversed(rows)], total

    def read(self) -> list[dict[str, Any]]:
        """Every row in insertion order (for tests and small tools)."""
        def query(connection: Any) -> list[dict[str, Any]]:
            cursor = connection.execute(
                f"SELECT * FROM {self.table} ORDER BY id")  # nosec B608
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        result: list[dict[str, Any]] = self._run(query, "read", self.write_timeout)
        return result

    def probe(self, timeout: float) -> ProbeResult:
        """Up when PostgreSQL answers ``SELECT 1`` on a connection of its own."""
        try:
            with self._connect(timeout) as connection:
                connection.execute("SELECT 1")
        except Exception as exc:
            return ProbeResult(False, "postgresql",
                               f"{describe_url(self.url)} unreachable: {type(exc).__name__}")
        return ProbeResult(True, "postgresql", f"{describe_url(self.url)} answered")


def open_store(config: Mapping[str, Any]) -> PredictionLog | PostgresPredictionStore:
    """The store the settings name: PostgreSQL for ``PREDICTION_STORE``, else the CSV file."""
    url = str(config.get("PREDICTION_STORE") or "")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresPredictionStore(url, config.get("REPLICA_NAME") or "",
                                       float(config.get("PREDICTION_STORE_WRITE_TIMEOUT", 5.0)))
    if url:
        raise ValueError("PREDICTION_STORE must be empty (CSV file) or a postgresql:// URL")
    return PredictionLog(config["PREDICTION_LOG"], int(config.get("PREDICTION_LOG_MAX_BYTES", 0)),
                         int(config.get("PREDICTION_LOG_BACKUPS", 3)))
