"""Classification with models taken from the MLflow registry.

``RegistryService`` resolves an alias (or a version, or a deprecated stage) to a model
version, loads that version once as a ``RegistryModel`` runtime and keeps it, keyed by its
version. A resolved alias is reused for ``REGISTRY_REFRESH_SECONDS``, so moving an alias is
picked up within that interval without a restart. When MLflow cannot be reached, a request
that needs it fails at once with 503 (bounded timeouts); a version resolved before keeps
being served until MLflow answers again. The reads (``registry_reads.py``) go over MLflow's
REST API or straight to the embedded SQLite store, so an API worker never imports MLflow's
client (and its pandas) to classify; only ``/api/v1/models`` uses that client.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_backends.classify.model import (
    ClassifierOutput,
    check_features,
    onnx_session,
    prediction_answer,
)
from ai_backends.classify.predlog import PredictionStore
from ai_backends.core.errors import Unavailable
from ai_backends.core.health import describe_url
from ai_backends.mlops.registry import (
    MODEL_NAMES,
    PRODUCTION,
    SKOPS_TRUSTED_TYPES,
    STAGE_ALIASES,
    ModelRegistry,
    is_server,
    safe_relative,
)
from ai_backends.mlops.registry_reads import Reads, registry_reads

log = logging.getLogger(__name__)
# Versions kept in memory at once; a few Iris forests are small, an unbounded dict is not.
MAX_LOADED_VERSIONS = 4
# The MLmodel flavor key naming each format's model file, and MLflow's default name.
FLAVOR_FILES = {"sklearn": ("pickled_model", "model.skops"), "onnx": ("data", "model.onnx")}


class RegistryModel:
    """One registered model version served in-process: scikit-learn via skops, or ONNX."""

    def __init__(self, name: str, model_format: str, version: str, registry: Reads) -> None:
        self.name = name
        self.model_format = model_format
        self._version = version
        self.registry = registry
        self.classes: list[str] = []
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The registry version number."""
        return self._version

    @property
    def model_uri(self) -> str:
        """``models:/name/version`` of this version."""
        return f"models:/{self.name}/{self._version}"

    def ready(self) -> bool:
        """True once ``load`` has succeeded."""
        return self._model is not None

    def load(self) -> None:
        """Fetch this version's files and load them; idempotent."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            source = self.registry.download_uri(self.name, self._version)
            with tempfile.TemporaryDirectory(prefix="registry-model-") as folder:
                mlmodel = _mlmodel(self.registry.model_files(source, ["MLmodel"], Path(folder)))
                self.classes = list((mlmodel.get("metadata") or {}).get("class_names", []))
                flavor = (mlmodel.get("flavors") or {}).get(self.model_format) or {}
                key, default = FLAVOR_FILES[self.model_format]
                file = safe_relative(str(flavor.get(key, default)))
                path = self.registry.model_files(source, [file], Path(folder))
                if self.model_format == "sklearn":
                    self._model = _load_skops(path, flavor)
                else:
                    self._model = _load_onnx(path, flavor)
            if not self.classes:
                raise Unavailable(f"{self.model_uri} has no class_names in its metadata")

    def predict(self, inputs: np.ndarray) -> ClassifierOutput:
        """Classify a float32 [n, 4] batch that ``check_features`` has already validated."""
        features = inputs
        self.load()
        if self.model_format == "sklearn":
            probabilities = np.asarray(self._model.predict_proba(features), dtype=np.float32)
            labels = probabilities.argmax(axis=1).astype(np.int64)
        else:
            labels, probabilities = self._model.run(None, {"input": features})
        return ClassifierOutput(labels=np.asarray(labels, dtype=np.int64),
                                probabilities=np.asarray(probabilities, dtype=np.float32))


def _mlmodel(folder: Path) -> dict[str, Any]:
    """The MLmodel file of a model folder (YAML: flavors and metadata)."""
    import yaml

    loaded = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def _load_skops(path: Path, flavor: dict[str, Any]) -> Any:
    """Load a skops file with our own list of trusted types; refuse anything else."""
    import skops.io

    if flavor.get("serialization_format") != "skops":
        raise Unavailable(
            f"refusing to load a {flavor.get('serialization_format', 'unknown')!r} model: "
            "only skops files are loaded (pickle can run arbitrary code)", retry_after=300)
    file = path / str(flavor.get("pickled_model", "model.skops"))
    untrusted = set(skops.io.get_untrusted_types(file=file)) - set(SKOPS_TRUSTED_TYPES)
    if untrusted:
        raise Unavailable(f"refusing to load {file.name}: untrusted types {sorted(untrusted)}",
                          retry_after=300)
    return skops.io.load(file, trusted=SKOPS_TRUSTED_TYPES)


def _load_onnx(path: Path, flavor: dict[str, Any]) -> Any:
    return onnx_session(path / str(flavor.get("data", "model.onnx")))


@dataclass(frozen=True)
class Resolved:
    """What a request's selector (alias, version or stage) pointed at, and when we asked."""

    name: str
    version: str
    stage: str
    resolved_at: float
    aliases: tuple[str, ...] = ()


class RegistryService:
    """Resolves, loads and caches registry models; classifies one flower with them."""

    def __init__(self, config: Mapping[str, Any], log_: PredictionStore) -> None:
        self.config = config
        self.tracking_uri: str = config["MLFLOW_TRACKING_URI"]
        self.refresh_seconds = float(config["REGISTRY_REFRESH_SECONDS"])
        self.log = log_
        self._registry: ModelRegistry | None = None
        self._reads: Reads | None = None
        self._resolved: dict[tuple[str, str], Resolved] = {}
        self._models: OrderedDict[tuple[str, str], RegistryModel] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def registry(self) -> ModelRegistry:
        """MLflow's client (created on first use, so the app starts without MLflow)."""
        if self._registry is None:
            self._registry = ModelRegistry.from_config(self.config)
        return self._registry

    @property
    def reads(self) -> Reads:
        """The registry reads of classification, without MLflow's client where possible."""
        if self._reads is None:
            self._reads = registry_reads(self.config)
        return self._reads

    def resolve(self, model_format: str, alias: str | None, version: int | None,
                stage: str | None) -> Resolved:
        """The version a selector points at; asks MLflow at most once per refresh interval."""
        name = MODEL_NAMES[model_format]
        self._check_store()
        selector = (f"version:{version}" if version is not None
                    else f"stage:{stage}" if stage else f"alias:{alias or PRODUCTION}")
        key = (name, selector)
        cached = self._resolved.get(key)
        now = time.monotonic()
        if cached and now - cached.resolved_at < self.refresh_seconds:
            return cached
        try:
            found = self.reads.resolve(name, alias=alias, version=version, stage=stage)
        except Unavailable:
            if cached is None:
                raise
            # MLflow is down but we know a version: keep serving it rather than fail.
            log.warning("MLflow unreachable; serving %s version %s resolved earlier",
                        name, cached.version)
            return cached
        resolved = Resolved(name, found["version"], found["stage"], now,
                            tuple(found["aliases"]))
        self._resolved[key] = resolved
        return resolved

    def _check_store(self) -> None:
        """503 for an embedded store that was never created (asking MLflow would create an
        empty one, slowly, inside a request)."""
        if self.tracking_uri.startswith("sqlite:///"):
            path = Path(self.tracking_uri.removeprefix("sqlite:///"))
            if not path.exists():
                raise Unavailable(f"no model registry at {path}; register the models with "
                                  "scripts/train_iris_model.py", retry_after=60)

    def model(self, model_format: str, resolved: Resolved) -> RegistryModel:
        """The loaded runtime of a resolved version (loaded once, kept by version)."""
        key = (resolved.name, resolved.version)
        with self._lock:
            runtime = self._models.get(key)
            if runtime is None:
                runtime = RegistryModel(resolved.name, model_format, resolved.version,
                                        self.reads)
                self._models[key] = runtime
                while len(self._models) > MAX_LOADED_VERSIONS:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
        with self.reads.errors(f"loading {runtime.model_uri}"):
            runtime.load()
        return runtime

    def classify(self, row: list[float], model_format: str, alias: str | None,
                 version: int | None, stage: str | None, request_id: str) -> dict[str, Any]:
        """Classify one flower with the selected registry model; log it like /classify."""
        started = time.perf_counter()
        features = check_features([row])
        resolved = self.resolve(model_format, alias, version, stage)
        runtime = self.model(model_format, resolved)
        output = runtime.predict(features)
        answer = {
            **prediction_answer(output.labels, output.probabilities, 0, runtime.classes,
                                resolved.version),
            "cache_hit": False,
        }
        latency_ms = (time.perf_counter() - started) * 1000
        self._log(features[0], answer, f"{resolved.name}/{resolved.version}", request_id,
                  latency_ms)
        selector_alias = None if version is not None or stage else (alias or PRODUCTION)
        # A legacy stage maps onto the alias of the same name (documented): name it when
        # the version served carries it.
        stage_alias = STAGE_ALIASES.get(stage.capitalize()) if stage else None
        reported_alias = selector_alias or (
            stage_alias if stage_alias in resolved.aliases else None)
        uri_suffix = (f"@{selector_alias}" if selector_alias
                      else f"/{version}" if version is not None else f"/{stage}")
        answer["model_registry_info"] = {
            "model_name": resolved.name,
            "model_format": model_format,
            "model_version": resolved.version,
            "model_stage": resolved.stage,
            "model_alias": reported_alias,
            "model_uri": f"models:/{resolved.name}{uri_suffix}",
            "mlflow_tracking_uri": (describe_url(self.tracking_uri)
                                    if is_server(self.tracking_uri) else self.tracking_uri),
        }
        return answer

    def _log(self, row: np.ndarray, answer: dict[str, Any], model_version: str,
             request_id: str, latency_ms: float) -> None:
        self.log.record("classify-registry", request_id, [row],
                        [{**answer, "model_version": model_version, "cache_hit": False}],
                        latency_ms)
