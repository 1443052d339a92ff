"""Clients of the two sidecars, as the API uses them: one connection pool each, timeouts.

Each client keeps one urllib3 pool or one gRPC channel for the life of the process (created
on first use, so a forking server creates it in the worker) and turns transport failures
into the service's errors: a sidecar that is down is ``Unavailable``. The REST client talks
to urllib3 directly, with orjson: through ``requests`` and the standard library's JSON a
one-row call cost about three times the client CPU (``benchmarks/bench_sidecar_client.py``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import orjson
import urllib3

from ai_backends.classify.model import MODEL_NAME
from ai_backends.core.errors import InvalidInput, ServiceError, Unavailable
from ai_backends.core.health import ProbeResult
from ai_backends.oip import converters
from ai_backends.oip.access import KEY_HEADER, KEY_METADATA
from ai_backends.oip.dataplane import (
    INPUT_DATATYPE,
    INPUT_NAME,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    InferInput,
)
from ai_backends.oip.generated import inference_pb2 as pb
from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

RETRY_AFTER_SECONDS = 5
POOL_CONNECTIONS = 10  # kept-alive connections to the REST sidecar, per API process
# gRPC backs off up to 2 minutes between reconnects by default; a sidecar restarted by the
# supervisor should be used again within a second or two.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


@dataclass(frozen=True)
class SidecarAnswer:
    """What a sidecar returned for a batch: class index and probabilities per row."""

    labels: np.ndarray
    probabilities: np.ndarray
    model_version: str


def features_input(features: np.ndarray) -> InferInput:
    """The model's input tensor for a float32 [n, 4] feature array."""
    data = np.ascontiguousarray(features, dtype=np.float32)
    return InferInput(INPUT_NAME, INPUT_DATATYPE, list(data.shape), data.reshape(-1))


def _answer(arrays: dict[str, np.ndarray], model_version: str) -> SidecarAnswer:
    # Some servers (MLServer's NumPy codec) answer labels as [n, 1] instead of [n].
    return SidecarAnswer(arrays[LABEL_OUTPUT].reshape(-1), arrays[PROBABILITIES_OUTPUT],
                         model_version)


class HttpSidecarClient:
    """Calls the REST sidecar over one keep-alive urllib3 pool."""

    protocol = "http"

    def __init__(self, base_url: str, timeout: float, model: str = MODEL_NAME,
                 api_key: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        try:
            prefix = urllib3.util.parse_url(self.base_url).path or ""  # a sidecar behind a path
        except urllib3.exceptions.LocationParseError:
            prefix = ""  # every call will say why: a 503, as with any sidecar down
        self.infer_path = f"{prefix}/v2/models/{model}/infer"
        self.ready_path = f"{prefix}/v2/health/ready"
        # Sent with every call (urllib3 takes a call's headers instead of the pool's).
        self.headers = {"Content-Type": "application/json", **(
            {KEY_HEADER: api_key} if api_key else {})}
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> urllib3.HTTPConnectionPool:
        """The process's pool of connections to the sidecar (HTTP or HTTPS), made on first use."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    # As many kept-alive connections as requests keeps; no retries: a failed
                    # call is a 503 at once.
                    self._pool = urllib3.connection_from_url(
                        self.base_url, maxsize=POOL_CONNECTIONS, retries=False)
        return self._pool

    def _call(self, method: str, path: str, body: bytes | None = None,
              timeout: float | None = None) -> urllib3.BaseHTTPResponse:
        """One exchange with the sidecar; ``Unavailable`` when it cannot be reached."""
        try:
            return self.pool.urlopen(method, path, body=body, headers=self.headers,
                                     timeout=timeout or self.timeout)
        # ValueError: http.client refuses a header value, e.g. a key with a line break.
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            raise Unavailable(
                f"HTTP sidecar at {self.base_url} unreachable: {type(exc).__name__}",
                retry_after=RETRY_AFTER_SECONDS,
            ) from exc

    def infer(self, features: np.ndarray) -> SidecarAnswer:
        """Classify a float32 [n, 4] batch on the REST sidecar."""
        tensor = features_input(features)
        body = {"inputs": [{"name": tensor.name, "datatype": tensor.datatype,
                            "shape": tensor.shape, "data": tensor.data.tolist()}]}
        response = self._call("POST", self.infer_path, orjson.dumps(body))
        if response.status != 200:
            raise _error_of(self.protocol, response.status, _error_text(response.data))
        try:
            payload = orjson.loads(response.data)
            return _answer(converters.outputs_from_json(payload),
                           payload.get("model_version", ""))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # orjson's too
            raise Unavailable(f"HTTP sidecar at {self.base_url} answered something that is "
                              "not an inference response", retry_after=RETRY_AFTER_SECONDS
                              ) from exc

    def ready(self, timeout: float | None = None) -> bool:
        """True when ``/v2/health/ready`` answers 200."""
        try:
            response = self._call("GET", self.ready_path, timeout=timeout)
        except Unavailable:
            return False
        return response.status == 200

    def probe(self, timeout: float) -> ProbeResult:
        """Health of the REST sidecar: a real protocol call (``/v2/health/ready``)."""
        ready = self.ready(timeout)
        state = "ready" if ready else "not ready or unreachable"
        return ProbeResult(ready, "external (OIP REST)",
                           f"{self.base_url}/v2/health/ready: {state}")


def _error_text(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", body.decode(errors="replace")))
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200].decode(errors="replace")


def _error_of(protocol: str, status: int | str, message: str) -> ServiceError:
    """A sidecar's refusal as a service error: bad input stays bad input, the rest is 503."""
    if status in (400, "INVALID_ARGUMENT"):
        return InvalidInput(f"{protocol} sidecar rejected the input: {message}")
    return Unavailable(f"{protocol} sidecar answered {status}: {message}",
                       retry_after=RETRY_AFTER_SECONDS)


class GrpcSidecarClient:
    """Calls the gRPC sidecar over one channel, sending raw tensor contents."""

    protocol = "grpc"

    def __init__(self, target: str, timeout: float, model: str = MODEL_NAME,
                 api_key: str = "") -> None:
        self.target = target
        self.timeout = timeout
        self.model = model
        self.metadata = ((KEY_METADATA, api_key),) if api_key else None
        self._stub: Any = None
        self._lock = threading.Lock()

    @property
    def stub(self) -> Any:
        """The process's stub on its one channel, created on first use."""
        if self._stub is None:
            with self._lock:
                if self._stub is None:
                    channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
                    self._stub = pb_grpc.GRPCInferenceServiceStub(channel)
        return self._stub

    def infer(self, features: np.ndarray) -> SidecarAnswer:
        """Classify a float32 [n, 4] batch on the gRPC sidecar."""
        request = converters.request_to_proto(self.model, [features_input(features)], raw=True)
        try:
            response = self.stub.ModelInfer(request, timeout=self.timeout,
                                            metadata=self.metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        return _answer(converters.outputs_from_proto(response), response.model_version)

    def ready(self, timeout: float | None = None) -> bool:
        """True when the ServerReady RPC says ready."""
        try:
            response = self.stub.ServerReady(pb.ServerReadyRequest(),
                                             timeout=timeout or self.timeout,
                                             metadata=self.metadata)
        except grpc.RpcError:
            return False
        return bool(response.ready)

    def probe(self, timeout: float) -> ProbeResult:
        """Health of the gRPC sidecar: a real protocol call (ServerReady), not an open port."""
        ready = self.ready(timeout)
        state = "ServerReady: true" if ready else "ServerReady failed or false"
        return ProbeResult(ready, "external (OIP gRPC)", f"{self.target} {state}")

    def _error(self, exc: grpc.RpcError) -> ServiceError:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return _error_of(self.protocol, code.name, f"{details or 'no details'} ({self.target})")
