"""The PostgreSQL prediction store: shared by replicas, exactly once, survives an outage."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from ai_backends.classify.predlog import PostgresPredictionStore, open_store
from ai_backends.core.errors import Unavailable

pytestmark = pytest.mark.integration

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ANSWER = {"predicted_class": "versicolor", "confidence": 0.8, "model_version": "v1"}


@pytest.fixture()
def database() -> Iterator[str]:
    """A database of its own on the machine's PostgreSQL, dropped afterwards."""
    name = f"predstore_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def test_two_replicas_write_one_table_and_tail_reads_the_newest(database: str) -> None:
    one = open_store({"PREDICTION_STORE": database, "REPLICA_NAME": "api-1"})
    two = open_store({"PREDICTION_STORE": database, "REPLICA_NAME": "api-2"})
    assert isinstance(one, PostgresPredictionStore)
    one.record("classify", "a", [[5.0, 3.0, 1.0, 0.1]] * 2, [ANSWER] * 2, 1.5)
    two.record("classify-grpc", "b", [[6.0, 3.0, 4.0, 1.3]], [ANSWER], 2.5)
    rows = one.read()
    assert [(r["replica"], r["request_id"], r["endpoint"]) for r in rows] == [
        ("api-1", "a", "classify"), ("api-1", "a", "classify"), ("api-2", "b", "classify-grpc")]
    assert rows[0]["model_version"] == "v1" and rows[0]["confidence"] == 0.8
    tail, total = two.tail(2)
    assert total == 3
    assert [r["sepal_length"] for r in tail] == [5.0, 6.0]  # the newest two, oldest first
    assert tail[1] == {"sepal_length": 6.0, "sepal_width": 3.0, "petal_length": 4.0,
                       "petal_width": 1.3, "predicted_class": "versicolor"}
    assert one.probe(1.0).up


def test_last_rows_are_read_by_index(database: str) -> None:
    store = PostgresPredictionStore(database)
    store.record("classify", "x", [[5.0, 3.0, 1.0, 0.1]], [ANSWER], 1.0)
    with psycopg.connect(database) as connection:
        connection.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in connection.execute(
            "EXPLAIN SELECT * FROM predictions ORDER BY id DESC LIMIT 100"))
    assert "Index Scan Backward using predictions_pkey" in plan


class _Proxy:
    """A TCP proxy in front of PostgreSQL that can drop every connection (an outage)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", 5432))
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        self.up.clear()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_brief_outage_is_retried_and_a_long_one_is_a_503(database: str) -> None:
    proxy = _Proxy()
    try:
        url = database.replace(":5432/", f":{proxy.port}/")
        store = PostgresPredictionStore(url, "api-1", write_timeout=3.0)
        store.record("classify", "before", [[5.0, 3.0, 1.0, 0.1]], [ANSWER], 1.0)
        proxy.cut()
        threading.Timer(0.5, proxy.up.set).start()  # back after half a second
        store.record("classify", "during", [[5.0, 3.0, 1.0, 0.1]], [ANSWER], 1.0)
        proxy.cut()  # and now down for good
        store.write_timeout = 0.5
        with pytest.raises(Unavailable, match="prediction store unreachable"):
            store.record("classify", "lost", [[5.0, 3.0, 1.0, 0.1]], [ANSWER], 1.0)
    finally:
        proxy.close()
    ids = [row["request_id"] for row in PostgresPredictionStore(database).read()]
    assert ids == ["before", "during"]  # each acknowledged write once; the failed one never


def test_a_retried_write_is_stored_once(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit reaches PostgreSQL but its acknowledgement is lost: the retry adds nothing."""
    store = PostgresPredictionStore(database)
    store.record("classify", "warm", [[5.0, 3.0, 1.0, 0.1]], [ANSWER], 1.0)
    original = store._run
    calls = {"n": 0}

    def flaky(action, what, deadline):  # type: ignore[no-untyped-def]
        def lose_ack(connection):  # type: ignore[no-untyped-def]
            action(connection)
            calls["n"] += 1
            if calls["n"] == 1:
                raise psycopg.OperationalError("connection lost after commit")
        return original(lose_ack, what, deadline)

    monkeypatch.setattr(store, "_run", flaky)
    store.record("classify", "twice", [[5.0, 3.0, 1.0, 0.1]] * 2, [ANSWER] * 2, 1.0)
    assert calls["n"] == 2
    rows = [row["request_id"] for row in PostgresPredictionStore(database).read()]
    assert rows == ["warm", "twice", "twice"]


def test_every_logging_path_of_a_replica_writes_the_shared_store(
        database: str, app_config: dict) -> None:  # type: ignore[type-arg]
    from ai_backends.mcp.backends import LocalBackend
    from ai_backends.services import build_services

    services = build_services({**app_config, "PREDICTION_STORE": database,
                               "REPLICA_NAME": "api-9"})
    store = services.classification.log
    assert isinstance(store, PostgresPredictionStore)
    assert services.sidecars.log is store and services.registry.log is store
    assert services.drift.log is store
    LocalBackend(services).classify([[5.0, 3.0, 1.0, 0.1], [6.5, 3.0, 5.5, 2.0]])  # MCP tools
    rows = store.read()
    assert [(r["endpoint"], r["replica"]) for r in rows] == [("mcp-classify", "api-9")] * 2
