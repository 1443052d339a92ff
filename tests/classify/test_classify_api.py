"""/api/v1/classify and /classify-detailed through the Flask test client, on a real Redis."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris

from ai_backends.classify.model import FEATURES, OnnxClassifier
from ai_backends.classify.predlog import PredictionLog
from ai_backends.classify.schemas import (
    BatchClassification,
    Classification,
    DetailedClassification,
)

pytestmark = pytest.mark.integration

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def test_single_prediction_shape_and_cache(client: Any) -> None:
    first = client.post("/api/v1/classify", json=SETOSA)
    assert first.status_code == 200
    body = Classification.model_validate(first.json)
    assert body.predicted_class == "setosa" and body.predicted_class_index == 0
    assert body.all_classes == ["setosa", "versicolor", "virginica"]
    assert body.confidence == max(body.probabilities)
    assert first.headers["X-Cache"] == "MISS" and body.cache_hit is False
    again = client.post("/api/v1/classify", json={**SETOSA, "sepal_length": 5.10})
    assert again.headers["X-Cache"] == "HIT" and again.json["cache_hit"] is True
    assert again.json["probabilities"] == first.json["probabilities"]
    assert first.headers["X-Request-ID"]


def test_all_150_iris_samples_agree_with_the_model(client: Any, model_dir: Any) -> None:
    iris = load_iris()
    samples = [dict(zip(FEATURES, map(float, row), strict=True)) for row in iris.data]
    expected = OnnxClassifier(model_dir).predict(iris.data.astype(np.float32)).labels.tolist()
    answered = [client.post("/api/v1/classify", json=s).json["predicted_class_index"]
                for s in samples]
    assert answered == expected
    batch = client.post("/api/v1/classify", json={"samples": samples})
    assert [p["predicted_class_index"] for p in batch.json["predictions"]] == expected
    assert batch.json["cache_hits"] == 150  # every row was answered before
    # The model's own accuracy on all of Iris (train + hold-out), as a sanity check.
    assert np.mean(np.array(expected) == iris.target) > 0.95


def test_batch_form(client: Any) -> None:
    virginica = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
    response = client.post("/api/v1/classify", json={"samples": [SETOSA, virginica]})
    assert response.status_code == 200
    body = BatchClassification.model_validate(response.json)
    assert [p.predicted_class for p in body.predictions] == ["setosa", "virginica"]
    assert body.count == 2


def test_every_classification_is_logged(client: Any, app: Any) -> None:
    client.post("/api/v1/classify", json=SETOSA)
    client.post("/api/v1/classify", json=SETOSA)  # cached, still logged
    client.post("/api/v1/classify", json={"samples": [SETOSA, SETOSA, SETOSA]})
    client.post("/api/v1/classify-detailed", json=SETOSA)
    rows = PredictionLog(app.config["PREDICTION_LOG"]).read()
    assert len(rows) == 6
    assert [r["cache_hit"] for r in rows[:2]] == ["0", "1"]
    assert rows[-1]["endpoint"] == "classify-detailed"
    assert all(r["predicted_class"] == "setosa" and float(r["latency_ms"]) > 0 for r in rows)


def test_detailed_shows_numpy_values_as_json(client: Any) -> None:
    response = client.post("/api/v1/classify-detailed", json=SETOSA)
    assert response.status_code == 200
    body = DetailedClassification.model_validate(response.json)
    assert body.model_info.type == body.model_info.model_type == "RandomForestClassifier"
    assert body.predicted_class == body.prediction.predicted_class == "setosa"
    assert response.json["serialization_demo"]["numpy_array"] == [1, 2, 3, 4, 5]
    assert body.model_info.n_estimators == 100
    assert len(body.feature_importances) == 4
    assert body.raw_probabilities == pytest.approx(body.prediction.probabilities)
    demo = response.json["serialization_demo"]
    assert demo["numpy_nan_becomes_null"] is None
    assert demo["numpy_array_2d"] == [[0, 1, 2], [3, 4, 5]]
    assert demo["numpy_complex"] == {"real": 1.0, "imag": 2.0}


def test_redis_down_still_answers_uncached(app_config: dict[str, Any]) -> None:
    from ai_backends.api.app import create_app
    from tests.conftest import free_port

    app = create_app({**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    client = app.test_client()
    for _ in range(2):
        response = client.post("/api/v1/classify", json=SETOSA)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"
    health = client.get("/health").json
    assert health["dependencies"]["redis"]["up"] is False
    assert "redis" in health["degraded"]
