"""The inference core: feature checks, the JSON provider, the exact cache."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from flask import Flask

from ai_backends.cache.exact import ExactCache
from ai_backends.classify.model import OnnxClassifier, check_features
from ai_backends.classify.service import cache_key
from ai_backends.core.errors import InvalidInput, Unavailable
from ai_backends.core.jsonenc import NumpyJSONProvider, to_jsonable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([[5.1, 3.5, 1.4]], "shape"),
        ([], "shape"),
        ([[5.1, 3.5, 1.4, float("nan")]], "finite"),
        ([[5.1, 3.5, 1.4, float("inf")]], "finite"),
        ([[5.1, -3.5, 1.4, 0.2]], "measurement"),
        ([[5.1, 0.0, 1.4, 0.2]], "measurement"),
        ([[5.1, 0.0009, 1.4, 0.2]], "measurement"),
        ([[5.1, 3.5, 1.4, 100.5]], "measurement"),
        ([["a", 3.5, 1.4, 0.2]], "numbers"),
    ],
)
def test_check_features_rejects_with_a_reason(rows: list, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_features(rows)


def test_check_features_accepts_the_boundaries() -> None:
    array = check_features([[100, 0.001, 1, 2]])
    assert array.dtype == np.float32 and array.shape == (1, 4)
    # A positive value that float32 rounds to zero is below the minimum, not a zero-length
    # petal the model would see (found by the fuzzer).
    with pytest.raises(InvalidInput):
        check_features([[5e-324, 1, 1, 1]])


def test_model_predicts_a_batch(model_dir) -> None:
    model = OnnxClassifier(model_dir)
    output = model.predict(check_features([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))
    assert [model.classes[i] for i in output.labels] == ["setosa", "virginica"]
    assert np.allclose(output.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_missing_model_is_unavailable(tmp_path) -> None:
    with pytest.raises(Unavailable, match="train_iris_model"):
        OnnxClassifier(tmp_path).predict(check_features([[5.1, 3.5, 1.4, 0.2]]))


def test_cache_key_is_the_model_input_not_the_json_spelling() -> None:
    same = check_features([[5, 3.5, 1.4, 0.2], [5.0, 3.50, 1.4000000001, 0.2]])
    other = check_features([[5.1, 3.5, 1.4, 0.2]])
    assert cache_key("v1", same[0]) == cache_key("v1", same[1])
    assert cache_key("v1", same[0]) != cache_key("v1", other[0])
    assert cache_key("v1", same[0]) != cache_key("v2", same[0])


def test_json_provider_encodes_what_json_dumps_rejects() -> None:
    values = {
        "int": np.int64(3),
        "float": np.float32(0.5),
        "bool": np.bool_(True),
        "matrix": np.arange(6, dtype=np.int32).reshape(2, 3),
        "nan": np.float64("nan"),
        "floats_with_inf": np.array([1.0, np.inf]),
        "when": np.datetime64("2024-01-01T12:00:00"),
        "complex": np.complex128(1 + 2j),
    }
    with pytest.raises(TypeError):
        json.dumps(values)
    text = NumpyJSONProvider(Flask(__name__)).dumps(values)
    decoded = json.loads(text)  # strict JSON: no NaN tokens
    assert decoded == {
        "int": 3, "float": 0.5, "bool": True, "matrix": [[0, 1, 2], [3, 4, 5]], "nan": None,
        "floats_with_inf": [1.0, None], "when": "2024-01-01T12:00:00",
        "complex": {"real": 1.0, "imag": 2.0},
    }
    assert "NaN" not in text and "Infinity" not in text


def test_to_jsonable_leaves_plain_values() -> None:
    assert to_jsonable(1.5) == 1.5 and math.isnan(to_jsonable(float("nan")))


def test_exact_cache_round_trips_json_and_never_unpickles(redis_url: str) -> None:
    import pickle
    import uuid

    import redis

    client = redis.Redis.from_url(redis_url)
    cache = ExactCache("test", client, f"test-{uuid.uuid4().hex}[*]:", ttl=60)
    cache.insert({"a": {"x": [1, 2]}, "b": {"y": 3}})
    assert cache.lookup(["a", "b", "missing"]) == [{"x": [1, 2]}, {"y": 3}, None]
    assert 0 < client.ttl(cache.prefix + "a") <= 60
    # A pickle planted in Redis reads as a miss, not as code.
    client.set(cache.prefix + "planted", b"\x80\x04" + pickle.dumps({"a": 1}))
    assert cache.lookup(["planted"]) == [None]
    cache.clear()  # the prefix holds glob characters: only our keys go
    assert cache.lookup(["a", "b"]) == [None, None]
    assert not list(client.scan_iter(match="test-*planted"))


def test_exact_cache_survives_a_dropped_connection_without_a_miss(redis_url: str) -> None:
    import uuid

    import redis

    client = redis.Redis.from_url(redis_url)
    cache = ExactCache("test", client, f"test-{uuid.uuid4().hex}:", ttl=60)
    cache.insert({"a": 1})
    assert cache.lookup(["a"]) == [1]  # the insert's reply is read: the connection is idle
    connection = cache._held().connection
    connection.send_command("CLIENT", "ID")
    client.client_kill_filter(_id=connection.read_response())  # as a Redis restart would
    assert cache.lookup(["a"]) == [1]  # replaced at once: no miss, no back-off
    assert cache.available
