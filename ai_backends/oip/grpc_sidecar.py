"""The gRPC sidecar: the Open Inference Protocol over gRPC, with health and reflection.

``InferenceServicer`` translates protobuf to the ``DataPlane`` and back. Inputs come as
typed ``contents`` or as ``raw_input_contents``; the answer uses the form the request used.
Errors become gRPC status codes through one table. The standard health service and server
reflection let generic tools (grpcurl, grpc_health_probe) list and call the server.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ai_backends.classify.model import OnnxClassifier
from ai_backends.core.errors import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)
from ai_backends.oip import converters
from ai_backends.oip.access import DENIED, KEY_METADATA, PUBLIC_GRPC_METHODS, key_matches
from ai_backends.oip.dataplane import DataPlane
from ai_backends.oip.generated import inference_pb2 as pb
from ai_backends.oip.generated import inference_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
PARENT_CHECK_SECONDS = 1.0
CONNECTION_AGE_GRACE_MS = 10_000  # for calls in flight on a connection told to go away
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

# The one mapping from the service's errors to gRPC status codes.
STATUS_CODES: dict[type[ServiceError], grpc.StatusCode] = {
    BadRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


class KeyInterceptor(grpc.ServerInterceptor):
    """Refuses every gRPC call without the key (UNAUTHENTICATED), health checks excepted."""

    def __init__(self, key: str) -> None:
        self.key = key

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        """Pass authorised and public calls on; answer the others UNAUTHENTICATED."""
        handler = continuation(details)
        if handler is None or details.method.startswith(PUBLIC_GRPC_METHODS):
            return handler
        given = dict(details.invocation_metadata or ()).get(KEY_METADATA, "")
        if isinstance(given, str) and key_matches(given, self.key):
            return handler

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED)

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.unary_unary_rpc_method_handler(deny)


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
    share_port: bool = False, api_key: str = "", max_connection_age: float = 0.0,
) -> GrpcSidecar:
    """The gRPC sidecar bound to ``address``: inference, health checking and reflection.

    ``share_port`` lets several worker processes bind the same port (SO_REUSEPORT); without
    it a port already in use is an error, not a silent second listener. The kernel hands
    each new connection to one of them, and an HTTP/2 connection carries all of a client's
    calls, so ``max_connection_age`` (seconds, 0 for never) sends each client a GOAWAY now
    and then: its next connection may land on another process.
    """
    options: list[tuple[str, int]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", int(share_port)),
    ]
    if max_connection_age > 0:
        options += [("grpc.max_connection_age_ms", max(1, round(max_connection_age * 1000))),
                    ("grpc.max_connection_age_grace_ms", CONNECTION_AGE_GRACE_MS)]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oip-grpc"),
        options=options,
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


def serve_one(settings: dict[str, Any], share_port: bool) -> None:
    """Serve in this process until SIGTERM, then drain in-flight calls."""
    plane = DataPlane(OnnxClassifier(settings["MODEL_DIR"]))
    address = f"{settings['GRPC_SIDECAR_HOST']}:{settings['GRPC_SIDECAR_PORT']}"
    sidecar = create_grpc_server(plane, address, settings["GRPC_SIDECAR_THREADS"],
                                 settings["SIDECAR_MAX_REQUEST_BYTES"], share_port,
                                 settings["SIDECAR_API_KEY"],
                                 settings["GRPC_SIDECAR_MAX_CONNECTION_AGE_SECONDS"])
    sidecar.server.start()
    log.info("gRPC sidecar on %s (pid %d, %d threads, model ready: %s)", address, os.getpid(),
             settings["GRPC_SIDECAR_THREADS"], plane.ready())
    wait_for_stop_signal(os.getppid() if share_port else None)
    grace = settings["SIDECAR_GRACE_SECONDS"]
    log.info("stopping: refusing new calls, %ss for in-flight ones", grace)
    sidecar.health_service.enter_graceful_shutdown()  # health checks now answer NOT_SERVING
    sidecar.server.stop(grace).wait()
    log.info("gRPC sidecar stopped (pid %d)", os.getpid())
