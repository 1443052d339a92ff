"""The gRPC sidecar: the Open Inference Protocol over gRPC, with health and reflection.

``InferenceServicer`` translates protobuf to the ``DataPlane`` and back. Inputs come as
typed ``contents`` or as ``raw_input_contents``; the answer uses the form the request used.
Errors become gRPC status codes through one table. The standard health service and server
reflection let generic tools (grpcurl, grpc_health_probe) list and call the server.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..classifier import OnnxClassifier
from ..config import load_config
from ..errors import BadRequest, Conflict, InvalidInput, NotFound, ServiceError, Unavailable
from . import converters
from .dataplane import DataPlane
from .generated import inference_pb2 as pb
from .generated import inference_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
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


def _abort(context: grpc.ServicerContext, exc: ServiceError) -> NoReturn:
    context.abort(status_code(exc), exc.detail)
    raise AssertionError("context.abort always raises")  # pragma: no cover


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The six RPCs of ``GRPCInferenceService``, each a thin call into the ``DataPlane``."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane

    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> pb.ServerLiveResponse:
        """Whether the server answers."""
        return pb.ServerLiveResponse(live=self.plane.live())

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> pb.ServerReadyResponse:
        """Whether the model is loaded."""
        return pb.ServerReadyResponse(ready=self.plane.ready())

    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        """Whether the named model is ready; NOT_FOUND for another name."""
        try:
            return pb.ModelReadyResponse(ready=self.plane.model_ready(request.name,
                                                                     request.version))
        except ServiceError as exc:
            _abort(context, exc)

    def ServerMetadata(
        self, request: Any, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        """Server name, version and extensions."""
        return pb.ServerMetadataResponse(**self.plane.server_metadata())

    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        """The model's versions, platform and tensor signatures."""
        try:
            metadata = self.plane.model_metadata(request.name, request.version)
        except ServiceError as exc:
            _abort(context, exc)
        return pb.ModelMetadataResponse(**metadata)

    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        """Run the model; answer raw if the request was raw, typed otherwise."""
        try:
            inputs, outputs = converters.request_from_proto(request)
            result = self.plane.infer(request.model_name, request.model_version, inputs,
                                      outputs or None, request.id)
            return converters.result_to_proto(result, raw=bool(request.raw_input_contents))
        except ServiceError as exc:
            _abort(context, exc)


@dataclass
class GrpcSidecar:
    """A bound (not yet started) server, the port it got and its health service."""

    server: grpc.Server
    port: int
    health_service: health.HealthServicer


def create_grpc_server(
    plane: DataPlane, address: str, threads: int, max_message_bytes: int
) -> GrpcSidecar:
    """The gRPC sidecar bound to ``address``: inference, health checking and reflection."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oip-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
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
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind the gRPC sidecar to {address}")
    return GrpcSidecar(server, port, health_servicer)


def serve(config: dict[str, Any] | None = None) -> None:
    """Run the gRPC sidecar until SIGTERM or Ctrl-C, then drain in-flight calls."""
    settings = config or load_config()
    logging.basicConfig(level=settings["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    plane = DataPlane(OnnxClassifier(settings["MODEL_DIR"]))
    address = f"{settings['GRPC_SIDECAR_HOST']}:{settings['GRPC_SIDECAR_PORT']}"
    sidecar = create_grpc_server(plane, address, settings["GRPC_SIDECAR_THREADS"],
                                 settings["SIDECAR_MAX_REQUEST_BYTES"])
    sidecar.server.start()
    log.info("gRPC sidecar on %s (%d threads, model ready: %s)", address,
             settings["GRPC_SIDECAR_THREADS"], plane.ready())

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    grace = settings["SIDECAR_GRACE_SECONDS"]
    log.info("stopping: refusing new calls, %ss for in-flight ones", grace)
    sidecar.health_service.enter_graceful_shutdown()  # health checks now answer NOT_SERVING
    sidecar.server.stop(grace).wait()
    log.info("gRPC sidecar stopped")
