"""Training writes complete, consistent artifacts and replaces them atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ai_backends.classify.model import OnnxClassifier
from ai_backends.classify.training import train, write_atomic

pytestmark = pytest.mark.unit


def test_artifacts_and_metadata(model_dir: Path) -> None:
    metadata = json.loads((model_dir / "iris_classifier_metadata.json").read_text())
    assert metadata["class_names"] == ["setosa", "versicolor", "virginica"]
    assert metadata["test_accuracy"] >= 0.85
    assert metadata["onnx_agreement"] == 1.0
    assert metadata["n_train"] + metadata["n_test"] == 150
    assert set(metadata["library_versions"]) >= {"scikit-learn", "onnxruntime", "numpy"}
    assert pytest.approx(sum(metadata["feature_importances"].values())) == 1.0
    assert (model_dir / "iris_classifier.onnx").stat().st_size > 0


def test_retraining_is_reproducible_and_writes_the_reference(tmp_path: Path,
                                                            model_dir: Path) -> None:
    data_dir = tmp_path / "data"
    metadata = train(tmp_path / "models", data_dir)
    first = json.loads((model_dir / "iris_classifier_metadata.json").read_text())
    # Same seed, same model: the same accuracy and importances (the ONNX bytes, and so the
    # version hash, may differ in node names).
    assert metadata["test_accuracy"] == first["test_accuracy"]
    assert metadata["feature_importances"] == first["feature_importances"]
    reference = (data_dir / "reference_iris.csv").read_text().splitlines()
    assert reference[0].startswith("sepal_length,sepal_width,petal_length,petal_width,target")
    assert len(reference) == 1 + metadata["n_train"]
    model = OnnxClassifier(tmp_path / "models")
    assert model.predict(np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)).labels.tolist() == [0]


def test_write_atomic_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    write_atomic(target, b"old")

    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
