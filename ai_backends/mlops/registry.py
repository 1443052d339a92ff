"""The MLflow model registry: register trained models, move aliases, keep their history.

Both model formats are registered from one training run: ``iris-classifier-sklearn`` (saved
with skops, never pickle) and ``iris-classifier-onnx``. Every alias move is also written as a
tag on the registered model (``alias_history/...``), because MLflow itself keeps no history
of aliases; the tags live in the registry, so every user of one server sees the same trail.

``mlflow`` is imported inside the functions: importing it takes more than a second, and the
API must start, and keep answering, while MLflow is down.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket

# Runs git with fixed arguments to record the commit a model was trained from.
import subprocess  # nosec B404
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from ai_backends.classify.model import FEATURES
from ai_backends.classify.names import EXPERIMENT, MODEL_NAMES, ONNX_MODEL, SKLEARN_MODEL
from ai_backends.classify.training import TrainedModel
from ai_backends.core.config import ROOT
from ai_backends.core.errors import InvalidInput, NotFound, ServiceError, Unavailable
from ai_backends.core.health import Probe, ProbeResult, describe_url, probe_http

log = logging.getLogger(__name__)

PRODUCTION = "production"
# Aliases the first registered version of a model gets, so the documented requests
# (alias=production, alias=staging, the legacy stage=Production) all answer out of the box.
FIRST_VERSION_ALIASES = (PRODUCTION, "staging")
FIRST_VERSION_STAGE = "Production"
# skops refuses every type that is not on this list; a RandomForest needs only its trees.
# The list lives here, in our code: the copy inside a model's MLmodel file is written by
# whoever produced the model, so trusting it would let a crafted model trust itself.
SKOPS_TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]
STAGES = ("None", "Staging", "Production", "Archived")
# Deprecated stages map onto aliases of the same name (lowercase); the others have none.
STAGE_ALIASES = {"Staging": "staging", "Production": "production"}
HISTORY_PREFIX = "alias_history/"
ARTIFACTS_FOLDER = "mlartifacts"

DESCRIPTIONS = {
    SKLEARN_MODEL: "Iris RandomForest (scikit-learn), saved with skops; loaded only with an "
                   "explicit list of trusted types.",
    ONNX_MODEL: "Iris RandomForest exported to ONNX (skl2onnx, no zipmap); served with "
                "onnxruntime.",
}


def is_server(tracking_uri: str) -> bool:
    """True when the tracking URI is an MLflow server (not a local database or folder)."""
    return tracking_uri.startswith(("http://", "https://"))


def artifact_root(data_dir: str | Path) -> Path:
    """Folder of the artifacts of the embedded (SQLite) registry."""
    return Path(data_dir) / ARTIFACTS_FOLDER


def configure_http(config: Mapping[str, Any]) -> None:
    """Bound MLflow's HTTP calls (its defaults, 120 s and 7 retries, would hang a request);
    call before the first ``import mlflow``."""
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(config["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(config["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    # A progress bar per model load only clutters a server's log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow 3 reports usage to its makers by default; a service that may run offline and
    # keeps no secrets from its operator should not phone home unless they ask for it.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@contextmanager
def mlflow_errors(tracking_uri: str, what: str) -> Iterator[None]:
    """Turn MLflow failures into our errors: unknown names 404, anything else 503."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except ServiceError:
        raise
    except MlflowException as exc:
        message = str(exc.message).splitlines()[0] if exc.message else type(exc).__name__
        raise registry_error(tracking_uri, what, str(exc.error_code), message) from exc
    except Exception as exc:  # network, database and artifact errors all mean "not now"
        raise _unavailable(tracking_uri, what, f"{type(exc).__name__}: {exc}") from exc


def registry_error(tracking_uri: str, what: str, error_code: str, message: str) -> ServiceError:
    """Our error for an MLflow error code: unknown names 404, bad values 422, the rest 503."""
    if error_code == "RESOURCE_DOES_NOT_EXIST" or (
        error_code == "INVALID_PARAMETER_VALUE" and "not found" in message
    ):
        return NotFound(f"{what}: {message}")
    if error_code == "INVALID_PARAMETER_VALUE":
        return InvalidInput(f"{what}: {message}")
    return _unavailable(tracking_uri, what, message)


def _unavailable(tracking_uri: str, what: str, reason: str) -> Unavailable:
    where = describe_url(tracking_uri) if is_server(tracking_uri) else tracking_uri
    return Unavailable(f"{what}: MLflow registry at {where} unavailable ({reason[:300]})",
                       retry_after=10)


def current_user() -> str:
    """Who is acting, for the alias history: login name and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def git_commit() -> str:
    """The commit the code was trained from (``-dirty`` with local changes), or "unknown"."""
    try:
        commit = subprocess.run(  # nosec B603 B607
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # nosec B603 B607
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def _pinned(*packages: str) -> list[str]:
    pins = []
    for name in packages:
        try:
            pins.append(f"{name}=={package_version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


@dataclass(frozen=True)
class Registration:
    """One model version created by ``register_trained``."""

    name: str
    version: str
    run_id: str
    aliases: list[str]
    new: bool = True  # False: the same model was already registered as this version


class VersionLookup(ABC):
    """Resolution of an alias, a version or a stage, on a few primitive look-ups that each
    kind of registry access (MLflow's client, its REST API, its SQLite store) provides."""

    @abstractmethod
    def by_version(self, name: str, version: str) -> dict[str, Any]:
        """One version: name, version, stage, aliases, run_id, source."""

    @abstractmethod
    def by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """The version an alias points at."""

    @abstractmethod
    def latest_in_stage(self, name: str, stage: str) -> str | None:
        """The highest version in ``stage``, if any."""

    @abstractmethod
    def aliases(self, name: str) -> dict[str, str]:
        """The model's aliases and their versions."""

    @abstractmethod
    def errors(self, what: str) -> AbstractContextManager[None]:
        """Context manager translating the registry's errors for ``what``."""

    def resolve(self, name: str, alias: str | None = None, version: int | None = None,
                stage: str | None = None) -> dict[str, Any]:
        """The model version an alias, a version number or a (deprecated) stage points at."""
        what = f"resolving {name} " + (
            f"version {version}" if version is not None
            else f"stage {stage}" if stage else f"alias {alias}"
        )
        with self.errors(what):
            if version is not None:
                return self.by_version(name, str(version))
            if not stage:
                return self.by_alias(name, alias or PRODUCTION)
            found = self.latest_in_stage(name, stage)
            if found is not None:
                return self.by_version(name, found)
            stage_alias = STAGE_ALIASES.get(stage.capitalize())
            if stage_alias in self.aliases(name):  # stages map onto the alias of that name
                return self.by_alias(name, str(stage_alias))
            raise self.missing_stage(f"{name} has no version in stage {stage} and no alias "
                                     f"{stage_alias or stage.lower()!r}")

    def missing_stage(self, message: str) -> Exception:
        """The error for a stage with no version and no alias of its name."""
        return NotFound(message)


def _client_version(mv: Any) -> dict[str, Any]:
    """``VersionLookup``'s answer from an MLflow client ``ModelVersion``."""
    return {"name": mv.name, "version": str(mv.version), "stage": mv.current_stage,
            "aliases": sorted(mv.aliases), "run_id": mv.run_id, "source": mv.source}


class ModelRegistry(VersionLookup):
    """The registry operations of the CLI and the API, on one tracking URI."""

    def __init__(self, tracking_uri: str, data_dir: str | Path,
                 config: Mapping[str, Any] | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.data_dir = Path(data_dir)
        if config is not None:
            configure_http(config)
        self._client: Any = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelRegistry:
        """The registry named by a loaded configuration."""
        return cls(config["MLFLOW_TRACKING_URI"], config["DATA_DIR"], config)

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` (created on first use)."""
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.tracking_uri)
        return self._client

    def errors(self, what: str) -> Any:
        """Context manager translating MLflow errors for ``what``."""
        return mlflow_errors(self.tracking_uri, what)

    # -- registration ------------------------------------------------------------------

    def register_trained(self, trained: TrainedModel, reference_csv: Path | None = None,
                         who: str | None = None,
                         skip_unchanged: bool = False) -> list[Registration]:
        """Log a training run (params, metrics, artifacts) and register both model formats.

        Each new version gets a description and the tags data_hash, accuracy and git_commit;
        a model without a ``production`` alias gets the aliases ``production`` and
        ``staging`` and the stage Production on this version. With ``skip_unchanged``, a
        model whose identical ONNX file (same content hash) is registered already gets no
        new run and no new version: the existing ones are returned with ``new=False``.
        """
        if skip_unchanged:
            existing = self.registered_versions(str(trained.metadata["model_version"]))
            if len(existing) == len(MODEL_NAMES):
                return existing
        import mlflow
        import mlflow.onnx
        import mlflow.sklearn
        import onnx

        metadata = trained.metadata
        who = who or f"{current_user()} (training)"
        tags = {
            "data_hash": str(metadata["data_hash"]),
            "accuracy": f"{metadata['test_accuracy']:.4f}",
            "git_commit": git_commit(),
            "onnx_sha256_12": str(metadata["model_version"]),
        }
        model_metadata = {"class_names": metadata["class_names"], "feature_names": list(FEATURES)}
        with self.errors("registering the trained models"), _fluent_tracking(self.tracking_uri):
            experiment_id = self._experiment_id()
            with mlflow.start_run(experiment_id=experiment_id,
                                  run_name=f"train-{metadata['model_version']}") as run:
                mlflow.log_params({**metadata["params"], "test_size": metadata["test_size"],
                                   "seed": metadata["seed"], "n_train": metadata["n_train"]})
                mlflow.log_metrics({"test_accuracy": metadata["test_accuracy"],
                                    "onnx_agreement": metadata["onnx_agreement"],
                                    "training_seconds": metadata["training_seconds"]})
                mlflow.set_tags(tags)
                mlflow.log_dict(metadata, "metadata.json")
                if reference_csv is not None and reference_csv.exists():
                    mlflow.log_artifact(str(reference_csv), "data")
                # pip_requirements skips MLflow's dependency inference (5 s -> 0.1 s).
                sklearn_info = mlflow.sklearn.log_model(
                    trained.estimator, name="sklearn-model", serialization_format="skops",
                    skops_trusted_types=SKOPS_TRUSTED_TYPES, metadata=model_metadata,
                    pip_requirements=_pinned("scikit-learn", "skops", "numpy"),
                )
                onnx_info = mlflow.onnx.log_model(
                    onnx.load_from_string(trained.onnx_bytes), name="onnx-model",
                    metadata=model_metadata, save_as_external_data=False,
                    pip_requirements=_pinned("onnx", "onnxruntime", "numpy"),
                )
            registrations = []
            for name, info in ((SKLEARN_MODEL, sklearn_info), (ONNX_MODEL, onnx_info)):
                registrations.append(self._register(name, info, run.info.run_id, tags,
                                                    metadata, who))
        return registrations

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return str(experiment.experiment_id)
        # A server stores artifacts itself; a local database gets a folder beside it.
        location = None if is_server(self.tracking_uri) else artifact_root(
            self.data_dir).resolve().as_uri()
        return str(self.client.create_experiment(EXPERIMENT, artifact_location=location))

    def _register(self, name: str, logged: Any, run_id: str, tags: dict[str, str],
                  metadata: dict[str, Any], who: str) -> Registration:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name, description=DESCRIPTIONS[name])
        description = (f"Trained {metadata['trained_at']} on data {metadata['data_hash']}; "
                       f"hold-out accuracy {metadata['test_accuracy']:.4f}; "
                       f"commit {tags['git_commit']}.")
        # MLflow 3: the source is the logged model (models:/m-...), named by model_id too.
        version = self.client.create_model_version(
            name, source=logged.model_uri, run_id=run_id, tags=tags, description=description,
            model_id=logged.model_id,
        )
        aliases = []
        if PRODUCTION not in self.client.get_registered_model(name).aliases:
            for alias in FIRST_VERSION_ALIASES:
                self.set_alias(name, str(version.version), alias, who=who,
                               note="first registered version")
                aliases.append(alias)
            with warnings.catch_warnings():  # stages are deprecated, still documented
                warnings.simplefilter("ignore", FutureWarning)
                self.client.transition_model_version_stage(name, str(version.version),
                                                           FIRST_VERSION_STAGE)
        return Registration(name, str(version.version), run_id, aliases)

    def registered_versions(self, model_version: str) -> list[Registration]:
        """Versions already registered for the ONNX content hash ``model_version``."""
        found = []
        with self.errors("searching registered versions"):
            for name in MODEL_NAMES.values():
                versions = [mv for mv in self.client.search_model_versions(
                    f"name = '{quote(name)}'")
                    if mv.tags.get("onnx_sha256_12") == model_version]
                if versions:
                    mv = max(versions, key=lambda v: int(v.version))
                    aliases = sorted(self.client.get_model_version(name, mv.version).aliases)
                    found.append(Registration(name, str(mv.version), mv.run_id or "", aliases,
                                              new=False))
        return found

    def missing_models(self) -> list[str]:
        """Names of our registered models that the registry does not have yet."""
        with self.errors("listing registered models"):
            present = {model.name for model in self.client.search_registered_models()}
        return [name for name in MODEL_NAMES.values() if name not in present]

    # -- reading -----------------------------------------------------------------------

    def list_models(self) -> list[dict[str, Any]]:
        """Every registered model with its versions, aliases, stages and accuracy."""
        with self.errors("listing registered models"):
            models = self.client.search_registered_models(order_by=["name ASC"])
            return [
                {"name": model.name, "description": model.description or "",
                 "aliases": {alias: str(v) for alias, v in model.aliases.items()},
                 "versions": self._versions(model.name, dict(model.aliases))}
                for model in models
            ]

    def _versions(self, name: str, aliases: dict[str, Any]) -> list[dict[str, Any]]:
        versions = self.client.search_model_versions(f"name = '{quote(name)}'")
        # search_model_versions leaves aliases empty; the model's alias map has them.
        return listed_versions([{"version": mv.version, "current_stage": mv.current_stage,
                                 "status": mv.status,
                                 "creation_timestamp": mv.creation_timestamp,
                                 "run_id": mv.run_id, "tags": mv.tags} for mv in versions],
                               aliases)

    def compare(self, name: str) -> list[dict[str, Any]]:
        """The versions of ``name`` side by side with the metrics and params of their runs."""
        with self.errors(f"comparing versions of {name}"):
            model = self.client.get_registered_model(name)
            rows = self._versions(name, dict(model.aliases))
            for row in rows:
                run = self._run(row["run_id"])
                row["metrics"] = dict(run.data.metrics) if run else {}
                row["params"] = dict(run.data.params) if run else {}
            return rows

    def _run(self, run_id: str | None) -> Any:
        from mlflow.exceptions import MlflowException

        if not run_id:
            return None
        try:
            return self.client.get_run(run_id)
        except MlflowException:  # the run was deleted; the version outlives it
            return None

    def lineage(self, name: str, version: str) -> dict[str, Any]:
        """Where a version came from: run, params, metrics, data hash, commit, artifacts."""
        with self.errors(f"lineage of {name} version {version}"):
            mv = self.client.get_model_version(name, str(version))
            run = self._run(mv.run_id)
            artifacts = []
            if run is not None:
                artifacts = [item.path for item in self.client.list_artifacts(mv.run_id)]
            # MLflow 3 keeps a logged model's files apart from its run's artifacts.
            from mlflow.artifacts import list_artifacts

            model_files = [item.path for item in list_artifacts(
                artifact_uri=self.download_uri(name, str(version)),
                tracking_uri=self.tracking_uri)]
            return {
                "name": name,
                "version": str(mv.version),
                "aliases": sorted(mv.aliases),
                "stage": mv.current_stage,
                "description": mv.description or "",
                "source": mv.source,
                "created": _iso(mv.creation_timestamp),
                "run_id": mv.run_id,
                "run_name": run.info.run_name if run else None,
                "experiment_id": run.info.experiment_id if run else None,
                "run_artifact_uri": run.info.artifact_uri if run else None,
                "params": dict(run.data.params) if run else {},
                "metrics": dict(run.data.metrics) if run else {},
                "data_hash": mv.tags.get("data_hash"),
                "git_commit": mv.tags.get("git_commit"),
                "tags": dict(mv.tags),
                "artifacts": artifacts,
                "model_files": model_files,
            }

    def by_version(self, name: str, version: str) -> dict[str, Any]:
        """One version: name, version, stage, aliases, run_id, source."""
        return _client_version(self.client.get_model_version(name, version))

    def by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """The version an alias points at."""
        return _client_version(self.client.get_model_version_by_alias(name, alias))

    def latest_in_stage(self, name: str, stage: str) -> str | None:
        """The highest version in ``stage``, if any."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            found = self.client.get_latest_versions(name, stages=[stage])
        return str(found[0].version) if found else None

    def aliases(self, name: str) -> dict[str, str]:
        """The model's aliases and their versions."""
        return {alias: str(version)
                for alias, version in self.client.get_registered_model(name).aliases.items()}

    def download_uri(self, name: str, version: str) -> str:
        """Where the files of a model version are (file, mlflow-artifacts or object store)."""
        with self.errors(f"locating {name} version {version}"):
            return str(self.client.get_model_version_download_uri(name, str(version)))

    def model_files(self, source: str, relatives: list[str], folder: Path) -> Path:
        """A folder holding the files ``relatives`` of the model at ``source``."""
        with self.errors(f"downloading the files of {source}"):
            return client_files(self.tracking_uri, source, relatives, folder)

    # -- alias moves and their history -------------------------------------------------

    def set_alias(self, name: str, version: str, alias: str, who: str | None = None,
                  note: str = "") -> dict[str, Any]:
        """Point ``alias`` at ``version`` and record the move; return the history entry."""
        with self.errors(f"setting alias {alias} of {name}"):
            model = self.client.get_registered_model(name)
            self.client.get_model_version(name, str(version))  # 404 before moving anything
            previous = model.aliases.get(alias)
            self.client.set_registered_model_alias(name, alias, str(version))
            return self._record(name, "set", alias, previous, str(version), who, note)

    def remove_alias(self, name: str, alias: str, who: str | None = None) -> dict[str, Any]:
        """Remove ``alias`` from ``name`` and record it; 404 when there is no such alias."""
        with self.errors(f"removing alias {alias} of {name}"):
            model = self.client.get_registered_model(name)
            if alias not in model.aliases:
                raise NotFound(f"{name} has no alias {alias!r}")
            previous = model.aliases[alias]
            self.client.delete_registered_model_alias(name, alias)
            return self._record(name, "remove", alias, previous, None, who, "")

    def transition(self, name: str, version: str, stage: str,
                   who: str | None = None) -> dict[str, Any]:
        """Deprecated stage transition; also moves the alias of the same name, if any."""
        canonical = {s.lower(): s for s in STAGES}.get(stage.lower())
        if canonical is None:
            raise InvalidInput(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
        with self.errors(f"moving {name} version {version} to stage {canonical}"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.client.transition_model_version_stage(name, str(version), canonical)
        alias = STAGE_ALIASES.get(canonical)
        if alias is None:
            return {"name": name, "version": str(version), "stage": canonical, "alias": None}
        entry = self.set_alias(name, version, alias, who, note=f"stage transition to {canonical}")
        return {**entry, "stage": canonical}

    def _record(self, name: str, action: str, alias: str, previous: Any, new: str | None,
                who: str | None, note: str) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        entry = {
            "time": now.isoformat(timespec="microseconds"),
            "model": name,
            "action": action,
            "alias": alias,
            "from_version": None if previous is None else str(previous),
            "to_version": new,
            "who": who or current_user(),
            "note": note,
        }
        # One tag per move: setting a tag is atomic, so concurrent moves never lose an entry.
        key = f"{HISTORY_PREFIX}{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex[:6]}"
        self.client.set_registered_model_tag(name, key, json.dumps(entry))
        return entry

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every recorded alias move of ``name``, oldest first."""
        with self.errors(f"alias history of {name}"):
            tags = self.client.get_registered_model(name).tags
        entries = [json.loads(value) for key, value in sorted(tags.items())
                   if key.startswith(HISTORY_PREFIX)]
        return entries


@contextmanager
def _fluent_tracking(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking URI (used by ``mlflow.start_run`` and
    ``log_model``) at ``uri``, and put the previous one back afterwards: it is also an
    environment variable, which would otherwise leak into our configuration."""
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # type: ignore[arg-type]  # None unsets it


def safe_relative(relative: str) -> str:
    """``relative`` when it stays inside a model's folder; Unavailable otherwise."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        raise Unavailable(f"refusing the model file name {relative!r}", retry_after=300)
    return relative


def client_files(tracking_uri: str, source: str, relatives: list[str], folder: Path) -> Path:
    """``folder`` after MLflow downloaded the files ``relatives`` of ``source`` into it."""
    import mlflow.artifacts

    for relative in map(safe_relative, relatives):
        target = (folder / relative).parent
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=f"{source.rstrip('/')}/{relative}",
                                            dst_path=str(target), tracking_uri=tracking_uri)
    return folder


def listed_versions(versions: Sequence[Mapping[str, Any]], aliases: Mapping[str, Any]
                    ) -> list[dict[str, Any]]:
    """A model's versions as ``GET /api/v1/models`` lists them, oldest first: each with its
    aliases, stage, status, creation time, run and training tags (accuracy, data hash,
    commit), from rows of MLflow's version fields (``tags`` a mapping)."""
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    return [{"version": str(mv["version"]),
             "aliases": sorted(by_version.get(str(mv["version"]), [])),
             "stage": mv["current_stage"], "status": mv["status"],
             "created": _iso(mv["creation_timestamp"]), "run_id": mv["run_id"],
             "accuracy": mv["tags"].get("accuracy"), "data_hash": mv["tags"].get("data_hash"),
             "git_commit": mv["tags"].get("git_commit")}
            for mv in sorted(versions, key=lambda v: int(v["version"]))]


def quote(value: str) -> str:
    """``value`` as a string literal of MLflow's search filters."""
    return value.replace("'", "\\'")


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="seconds")


def registry_probe(uri: str) -> Probe:
    """Probe of the registry: the server's /health, or the SQLite file read directly."""
    if is_server(uri):
        # describe_url drops credentials, which /health would otherwise show.
        return probe_http(f"{describe_url(uri).rstrip('/')}/health", "external (MLflow server)")

    def probe(timeout: float) -> ProbeResult:
        # Ask the SQLite file directly: importing mlflow alone takes longer than a probe may.
        import sqlite3

        if not uri.startswith("sqlite:///"):
            return ProbeResult(True, "external (database)", "not probed")
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            return ProbeResult(False, "embedded (SQLite)", f"{path} does not exist; run "
                               "scripts/train_iris_model.py --register")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout) as db:
                names = {row[0] for row in db.execute("SELECT name FROM registered_models")}
        except sqlite3.Error as exc:
            return ProbeResult(False, "embedded (SQLite)", f"{path}: {exc}")
        missing = sorted(set(MODEL_NAMES.values()) - names)
        if missing:
            return ProbeResult(False, "embedded (SQLite)",
                               f"{path} lacks {', '.join(missing)}")
        return ProbeResult(True, "embedded (SQLite)", f"{path}: {len(names)} registered models")

    return probe
