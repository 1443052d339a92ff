"""The gRPC sidecar: the Open Inference Protocol over gRPC, with health and reflection.

``InferenceServicer`` translates protobuf to the ``DataPlane`` and back. Inputs come as
typed ``contents`` or as ``raw_input_contents``; the answer uses the form the request used.
Errors become gRPC status codes through one table. The standard health service and server
reflection let generic tools (grpcurl, grpc_health_probe) list and call the server.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.config import load_config
from ai_backends.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)
from ai_backends.oip import converters
from ai_backends.oip.access import KeyInterceptor, check_exposure
from ai_backends.oip.dataplane import DataPlane
from ai_backends.oip.generated import inference_pb2 as pb
from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
PARENT_CHECK_SECONDS = 1.0
WORKER_BACKOFF_FIRST = 0.5  # seconds before a dead worker is replaced...
WORKER_BACKOFF_MAX = 30.0  # ...doubling while replacements keep dying, up to this
WORKER_STABLE_SECONDS = 30.0  # a worker that ran this long starts the back-off afresh
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

# The one mapping from the service's errors to gRPC status codes.
STATUS_CODES: dict[type[ServiceError], grpc.StatusCode] = {
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code(exc: ServiceError) -> grpc.StatusCode:
    """The gRPC status of a service error (INTERNAL for anything unlisted)."""
    for kind in type(exc).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]
    return grpc.StatusCode.INTERNAL


def grpc_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator of the servicer methods: a ``ServiceError`` aborts with its status code."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except ServiceError as exc:
            context.abort(status_code(exc), exc.detail)

    return wrapper


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The six RPCs of ``GRPCInferenceService``, each a thin call into the ``DataPlane``."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    @grpc_errors
    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> pb.ServerLiveResponse:
        """Whether the server answers."""
        return pb.ServerLiveResponse(live=self.plane.live())

    @grpc_errors
    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> pb.ServerReadyResponse:
        """Whether the model is loaded."""
        return pb.ServerReadyResponse(ready=self.plane.ready())

    @grpc_errors
    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        """Whether the named model is ready; NOT_FOUND for another name."""
        return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name, request.version))

    @grpc_errors
    def ServerMetadata(
        self, request: Any, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        """Server name, version and extensions."""
        return pb.ServerMetadataResponse(**self.plane.server_metadata())

    @grpc_errors
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        """The model's versions, platform and tensor signatures."""
        return pb.ModelMetadataResponse(**self.plane.model_metadata(request.name,
                                                                    request.version))

    @grpc_errors
    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        """Run the model; answer raw if the request was raw, typed otherwise."""
        inputs, outputs = converters.request_from_proto(request)
        result = self.plane.infer(request.model_name, request.model_version, inputs,
                                  outputs or None, request.id)
        return converters.result_to_proto(result, raw=bool(request.raw_input_contents))


@dataclass
class GrpcSidecar:
    """A bound (not yet started) server, the port it got and its health service."""

    server: grpc.Server
    port: int
    health_service: health.HealthServicer


def create_grpc_server(
    plane: DataPlane, address: str, threads: int, max_message_bytes: int,
    share_port: bool = False, api_key: str = "",
) -> GrpcSidecar:
    """The gRPC sidecar bound to ``address``: inference, health checking and reflection.

    ``share_port`` lets several worker processes bind the same port (SO_REUSEPORT); without
    it a port already in use is an error, not a silent second listener.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oip-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", int(share_port)),
        ],
        interceptors=[KeyInterceptor(api_key)] if api_key else None,
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(plane), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    serving = (health_pb2.HealthCheckResponse.SERVING if plane.ready()
               else health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in ("", SERVICE_NAME):  # "" is the whole server, by convention
        health_servicer.set(name, serving)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio's way of saying the address is taken or invalid
        raise OSError(f"cannot bind the gRPC sidecar to {address}: {exc}") from exc
    return GrpcSidecar(server, port, health_servicer)


def wait_for_stop_signal(parent: int | None = None) -> None:
    """Block until SIGTERM or SIGINT, or until process ``parent`` is gone (an orphaned
    worker would otherwise keep serving on the shared port beside its replacements)."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.wait(PARENT_CHECK_SECONDS):
        if parent is not None and os.getppid() != parent:
            log.warning("the sidecar's main process is gone; stopping worker %d", os.getpid())
            return


def run_workers(target: Callable[[], None], processes: int, grace: float) -> int:
    """Run ``target`` in ``processes`` forked workers until SIGTERM; return an exit code.

    One Python process serves on one core at a time (the GIL); like gunicorn's workers,
    several processes sharing the port use every core. They are forked before any gRPC
    object exists, as gRPC requires. A worker that dies is replaced, as gunicorn does (after
    a back-off that grows while replacements keep dying, up to ``WORKER_BACKOFF_MAX``);
    its siblings keep serving. SIGTERM is passed on and each worker drains its calls.
    """
    context = multiprocessing.get_context("fork")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    def spawn(slot: int) -> multiprocessing.process.BaseProcess:
        worker = context.Process(target=target, name=f"oip-grpc-{slot}")
        worker.start()
        return worker

    workers = [spawn(slot) for slot in range(processes)]
    started = [time.monotonic()] * processes
    backoff = [WORKER_BACKOFF_FIRST] * processes
    due: list[float | None] = [None] * processes
    while not stopping.wait(0.2):
        now = time.monotonic()
        for slot, worker in enumerate(workers):
            if due[slot] is not None:
                if now >= due[slot]:  # type: ignore[operator]
                    workers[slot], started[slot], due[slot] = spawn(slot), now, None
                    log.warning("gRPC worker %d replaced by pid %d", slot, workers[slot].pid)
                continue
            if worker.is_alive():
                continue
            if now - started[slot] > WORKER_STABLE_SECONDS:
                backoff[slot] = WORKER_BACKOFF_FIRST
            log.error("gRPC worker pid %d exited with %s; replacing it in %.1fs",
                      worker.pid, worker.exitcode, backoff[slot])
            due[slot] = now + backoff[slot]
            backoff[slot] = min(backoff[slot] * 2, WORKER_BACKOFF_MAX)
    for worker in workers:
        if worker.is_alive() and worker.pid:
            os.kill(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.join(grace + 5)
        if worker.is_alive():
            worker.kill()
            worker.join()
    return 0 if all(w.exitcode == 0 for w in workers) else 1


def serve(config: dict[str, Any] | None = None) -> int:
    """Run the gRPC sidecar until SIGTERM or Ctrl-C, then drain in-flight calls."""
    settings = config or load_config()
    logging.basicConfig(level=settings["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        check_exposure("the gRPC sidecar", settings["GRPC_SIDECAR_HOST"],
                       settings["SIDECAR_API_KEY"])
    except ValueError as exc:
        log.error("%s", exc)
        return 1
    processes = settings["GRPC_SIDECAR_PROCESSES"]
    if processes <= 1:
        try:
            _serve_one(settings, share_port=False)
        except OSError as exc:
            log.error("%s", exc)
            return 1
        return 0
    return run_workers(lambda: _serve_one(settings, share_port=True), processes,
                       settings["SIDECAR_GRACE_SECONDS"])


def _serve_one(settings: dict[str, Any], share_port: bool) -> None:
    plane = DataPlane(OnnxClassifier(settings["MODEL_DIR"]))
    address = f"{settings['GRPC_SIDECAR_HOST']}:{settings['GRPC_SIDECAR_PORT']}"
    sidecar = create_grpc_server(plane, address, settings["GRPC_SIDECAR_THREADS"],
                                 settings["SIDECAR_MAX_REQUEST_BYTES"], share_port,
                                 settings["SIDECAR_API_KEY"])
    sidecar.server.start()
    log.info("gRPC sidecar on %s (pid %d, %d threads, model ready: %s)", address, os.getpid(),
             settings["GRPC_SIDECAR_THREADS"], plane.ready())
    wait_for_stop_signal(os.getppid() if share_port else None)
    grace = settings["SIDECAR_GRACE_SECONDS"]
    log.info("stopping: refusing new calls, %ss for in-flight ones", grace)
    sidecar.health_service.enter_graceful_shutdown()  # health checks now answer NOT_SERVING
    sidecar.server.stop(grace).wait()
    log.info("gRPC sidecar stopped (pid %d)", os.getpid())
