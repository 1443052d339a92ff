"""The registry reads of the API workers, without MLflow's client.

``/api/v1/classify-registry`` only resolves an alias, a version or a stage to a model version
and fetches that version's files, and ``/api/v1/models`` only lists models and versions;
``import mlflow`` for that would bring pandas and much more (about 110 MB in each worker).
``registry_reads`` picks, by tracking URI:

- an MLflow server (``http(s)://``): its REST API (``/api/2.0/mlflow/...``) and, for files
  the server keeps (``mlflow-artifacts:``), its artifact API, with ``requests``;
- the embedded SQLite store (``sqlite:///``, run.py's default, which run.py's MLflow server
  serves too): read-only SQL on the same tables MLflow's SQL store reads, files from the
  local artifact folder;
- anything else (PostgreSQL, a file store, an object store's files): MLflow's own client.

Errors map as ``registry.mlflow_errors`` does: unknown names 404, bad values 422, anything
else (MLflow down, a database or network error) 503 with its reason.
"""

from __future__ import annotations

import os
import sqlite3
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import requests

from ai_backends.core.errors import ServiceError
from ai_backends.mlops.registry import (
    ModelRegistry,
    VersionLookup,
    _unavailable,
    client_files,
    is_server,
    listed_versions,
    quote,
    registry_error,
    safe_relative,
)

DELETED_STAGE = "Deleted_Internal"  # MLflow's SQL store keeps deleted versions in this stage
LATEST_ALIAS = "latest"  # MLflow resolves this alias to the highest version itself
RETRY_STATUSES = (429, 500, 502, 503, 504)
PAGE_SIZE = 1000  # items per page of a REST search


class Reads(Protocol):
    """What ``RegistryService`` and ``RegistryModel`` need of a registry."""

    tracking_uri: str

    def resolve(self, name: str, alias: str | None = None, version: int | None = None,
                stage: str | None = None) -> dict[str, Any]:
        """The version a selector points at (``ModelRegistry.resolve``'s answer)."""

    def download_uri(self, name: str, version: str) -> str:
        """Where the files of a model version are."""

    def model_files(self, source: str, relatives: list[str], folder: Path) -> Path:
        """A folder holding the files ``relatives`` of the model at ``source``."""

    def errors(self, what: str) -> Any:
        """Context manager translating the registry's errors for ``what``."""

    def list_models(self) -> list[dict[str, Any]]:
        """Every registered model with its versions (``ModelRegistry.list_models``)."""


class RegistryFailure(Exception):
    """An error answer of the registry, with MLflow's error code."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def not_found(message: str) -> RegistryFailure:
    """The failure MLflow reports for an unknown model, version or alias."""
    return RegistryFailure("RESOURCE_DOES_NOT_EXIST", message)


class LightReads(VersionLookup):
    """Resolution (``VersionLookup.resolve``) for the REST and SQLite reads, which give the
    primitive look-ups; an unknown stage is reported as MLflow reports an unknown name."""

    tracking_uri: str

    def missing_stage(self, message: str) -> Exception:
        """An unknown stage, mapped by ``errors`` as MLflow's own 404."""
        return not_found(message)

    def list_models(self) -> list[dict[str, Any]]:
        """Every registered model with its versions, aliases, stages and accuracy, as
        ``ModelRegistry.list_models`` answers."""
        with self.errors("listing registered models"):
            listed = []
            for name, description in self.registered_models():
                aliases = self.aliases(name)
                listed.append({"name": name, "description": description or "",
                               "aliases": aliases,
                               "versions": listed_versions(self.model_versions(name), aliases)})
            return listed

    @abstractmethod
    def registered_models(self) -> list[tuple[str, str | None]]:
        """Name and description of every registered model, by name."""

    @abstractmethod
    def model_versions(self, name: str) -> list[dict[str, Any]]:
        """The versions of ``name`` (deleted ones excluded): version, current_stage, status,
        creation_timestamp, run_id and tags."""

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Failures of the registry as our errors (404, 422 or 503)."""
        try:
            yield
        except ServiceError:
            raise
        except RegistryFailure as exc:
            raise registry_error(self.tracking_uri, what, exc.error_code,
                                 exc.message.splitlines()[0]) from exc
        except Exception as exc:  # network, database and file errors all mean "not now"
            raise _unavailable(self.tracking_uri, what,
                               f"{type(exc).__name__}: {exc}") from exc


def _version_answer(mv: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": str(mv["name"]), "version": str(mv["version"]),
            "stage": str(mv.get("current_stage") or "None"),
            "aliases": sorted(mv.get("aliases") or []), "run_id": mv.get("run_id") or "",
            "source": str(mv.get("source") or "")}


def local_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI or a plain path; None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(url2pathname(unquote(parsed.path)))
    if not parsed.scheme or len(parsed.scheme) == 1:  # a path (or a Windows drive letter)
        return Path(uri)
    return None


class RestReads(LightReads):
    """Reads over an MLflow server's REST API (``requests``, bounded timeouts and retries)."""

    def __init__(self, tracking_uri: str, timeout: float, retries: int) -> None:
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        self.tracking_uri = tracking_uri
        self.base = tracking_uri.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        retry = Retry(total=retries, backoff_factor=1, status_forcelist=RETRY_STATUSES,
                      allowed_methods=None, raise_on_status=False)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        # The credentials MLflow's client reads (user:password in the URI works as well).
        username = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if username and password:
            self.session.auth = (username, password)
        elif token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            self.session.verify = False
        elif os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.session.verify = os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]

    def _call(self, method: str, endpoint: str, **params: Any) -> dict[str, Any]:
        url = f"{self.base}/api/2.0/mlflow/{endpoint}"
        if method == "GET":
            response = self.session.get(url, params=params, timeout=self.timeout)
        else:
            response = self.session.post(url, json=params, timeout=self.timeout)
        if response.status_code != 200:
            try:
                body = response.json()
                code, message = str(body["error_code"]), str(body.get("message", ""))
            except (ValueError, KeyError, TypeError):
                code = "RESOURCE_DOES_NOT_EXIST" if response.status_code == 404 else "UNKNOWN"
                message = f"HTTP {response.status_code}: {response.text[:200]}"
            raise RegistryFailure(code, message)
        answer: dict[str, Any] = response.json()
        return answer

    def by_version(self, name: str, version: str) -> dict[str, Any]:
        """GET model-versions/get."""
        return _version_answer(self._call("GET", "model-versions/get", name=name,
                                          version=version)["model_version"])

    def by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """GET registered-models/alias."""
        return _version_answer(self._call("GET", "registered-models/alias", name=name,
                                          alias=alias)["model_version"])

    def latest_in_stage(self, name: str, stage: str) -> str | None:
        """POST registered-models/get-latest-versions."""
        found = self._call("POST", "registered-models/get-latest-versions", name=name,
                           stages=[stage]).get("model_versions", [])
        return str(found[0]["version"]) if found else None

    def aliases(self, name: str) -> dict[str, str]:
        """GET registered-models/get."""
        model = self._call("GET", "registered-models/get", name=name)["registered_model"]
        return {item["alias"]: str(item["version"]) for item in model.get("aliases", [])}

    def registered_models(self) -> list[tuple[str, str | None]]:
        """GET registered-models/search, page by page."""
        found = self._pages("registered-models/search", "registered_models",
                            order_by="name ASC")
        return [(model["name"], model.get("description")) for model in found]

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        """GET model-versions/search for ``name``, page by page."""
        found = self._pages("model-versions/search", "model_versions",
                            filter=f"name = '{quote(name)}'")
        return [{"version": mv["version"], "current_stage": mv.get("current_stage", "None"),
                 "status": mv.get("status"), "creation_timestamp": mv.get("creation_timestamp"),
                 "run_id": mv.get("run_id"),
                 "tags": {tag["key"]: tag.get("value") for tag in mv.get("tags", [])}}
                for mv in found]

    def _pages(self, endpoint: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated search."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = self._call("GET", endpoint, max_results=PAGE_SIZE, **params,
                              **({"page_token": token} if token else {}))
            items += page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return items

    def download_uri(self, name: str, version: str) -> str:
        """GET model-versions/get-download-uri."""
        with self.errors(f"locating {name} version {version}"):
            return str(self._call("GET", "model-versions/get-download-uri", name=name,
                                  version=version)["artifact_uri"])

    def model_files(self, source: str, relatives: list[str], folder: Path) -> Path:
        """The files from the server's artifact API (``mlflow-artifacts:``), else the local
        folder (``file:``), else MLflow's client (an object store)."""
        local = local_path(source)
        if local is not None:
            return local
        parsed = urlparse(source)
        if parsed.scheme != "mlflow-artifacts":
            return client_files(self.tracking_uri, source, relatives, folder)
        base = f"{self.base.split('://')[0]}://{parsed.netloc}" if parsed.netloc else self.base
        for relative in map(safe_relative, relatives):
            url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{parsed.path.strip('/')}/{relative}"
            response = self.session.get(url, timeout=self.timeout)
            if response.status_code == 404:
                raise not_found(f"{source}/{relative} does not exist")
            response.raise_for_status()
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(response.content)
        return folder


class SqliteReads(LightReads):
    """Read-only SQL on the embedded store, the tables MLflow's SQL store itself reads."""

    def __init__(self, tracking_uri: str, timeout: float) -> None:
        self.tracking_uri = tracking_uri
        self.path = Path(tracking_uri.removeprefix("sqlite:///"))
        self.timeout = timeout

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        # A connection per look-up: a few per refresh interval, and nothing held between.
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=self.timeout)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def _check_model(self, name: str) -> None:
        if not self._rows("SELECT 1 FROM registered_models WHERE name = ?", name):
            raise not_found(f"Registered Model with name={name} not found")

    def by_version(self, name: str, version: str) -> dict[str, Any]:
        """One row of model_versions (deleted ones excluded) and its aliases."""
        rows = self._rows("SELECT current_stage, run_id, source FROM model_versions "
                          "WHERE name = ? AND version = ? AND current_stage != ?",
                          name, int(version), DELETED_STAGE)
        if not rows:
            raise not_found(f"Model Version (name={name}, version={version}) not found")
        stage, run_id, source = rows[0]
        aliases = [alias for alias, at in self.aliases(name).items() if at == str(version)]
        return _version_answer({"name": name, "version": version, "current_stage": stage,
                                "run_id": run_id, "source": source, "aliases": aliases})

    def by_alias(self, name: str, alias: str) -> dict[str, Any]:
        """The alias's version ('latest': the highest version), as MLflow resolves it."""
        if alias.lower() == LATEST_ALIAS:
            rows = self._rows("SELECT MAX(version) FROM model_versions WHERE name = ? "
                              "AND current_stage != ?", name, DELETED_STAGE)
            if rows[0][0] is None:
                raise not_found(f"Latest version not found for model {name}.")
            return self.by_version(name, str(rows[0][0]))
        self._check_model(name)
        version = self.aliases(name).get(alias)
        if version is None:
            raise not_found(f"Registered model alias {alias} not found.")
        return self.by_version(name, version)

    def latest_in_stage(self, name: str, stage: str) -> str | None:
        """The highest version whose current stage is ``stage``."""
        self._check_model(name)
        rows = self._rows("SELECT MAX(version) FROM model_versions WHERE name = ? "
                          "AND current_stage = ?", name, stage)
        return None if rows[0][0] is None else str(rows[0][0])

    def aliases(self, name: str) -> dict[str, str]:
        """The rows of registered_model_aliases of ``name``."""
        return {alias: str(version) for alias, version in self._rows(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?", name)}

    def registered_models(self) -> list[tuple[str, str | None]]:
        """The rows of registered_models, by name (none before the store's file exists:
        MLflow's client would create it empty)."""
        if not self.path.exists():
            return []
        return [(str(name), description) for name, description in self._rows(
            "SELECT name, description FROM registered_models ORDER BY name")]

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        """The rows of model_versions of ``name`` (deleted ones excluded), with their tags."""
        tags: dict[int, dict[str, str]] = {}
        for version, key, value in self._rows(
                "SELECT version, key, value FROM model_version_tags WHERE name = ?", name):
            tags.setdefault(int(version), {})[key] = value
        return [{"version": version, "current_stage": stage, "status": status,
                 "creation_timestamp": created, "run_id": run_id,
                 "tags": tags.get(int(version), {})}
                for version, stage, status, created, run_id in self._rows(
                    "SELECT version, current_stage, status, creation_time, run_id "
                    "FROM model_versions WHERE name = ? AND current_stage != ?",
                    name, DELETED_STAGE)]

    def download_uri(self, name: str, version: str) -> str:
        """The version's storage location, else its source (as MLflow's SQL store answers)."""
        with self.errors(f"locating {name} version {version}"):
            rows = self._rows("SELECT storage_location, source FROM model_versions "
                              "WHERE name = ? AND version = ? AND current_stage != ?",
                              name, int(version), DELETED_STAGE)
            if not rows:
                raise not_found(f"Model Version (name={name}, version={version}) not found")
            return str(rows[0][0] or rows[0][1])

    def model_files(self, source: str, relatives: list[str], folder: Path) -> Path:
        """The local artifact folder (other locations through MLflow's client)."""
        local = local_path(source)
        if local is not None:
            return local
        return client_files(self.tracking_uri, source, relatives, folder)


def registry_reads(config: Mapping[str, Any]) -> Reads:
    """The reads for the configured tracking URI (see the module's notes)."""
    uri = str(config["MLFLOW_TRACKING_URI"])
    timeout = float(config["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    if is_server(uri):
        return RestReads(uri, timeout, int(config["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]))
    if uri.startswith("sqlite:///") and "?" not in uri:
        return SqliteReads(uri, timeout)
    return ModelRegistry.from_config(config)
