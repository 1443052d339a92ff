"""Who may call the sidecars: loopback by default, a shared key when they are exposed.

A sidecar bound to a loopback address is reachable from this machine only. Bound to any
other address it must have ``SIDECAR_API_KEY``: then every call but the health checks needs
it (REST: the ``X-API-Key`` header; gRPC: ``x-api-key`` metadata), and the API sends it.
A sidecar told to listen beyond loopback without a key refuses to start.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

import grpc

KEY_HEADER = "X-API-Key"
KEY_METADATA = "x-api-key"
DENIED = "send the sidecar key (SIDECAR_API_KEY) in X-API-Key / x-api-key"
# Health checks stay open so probes and orchestrators need no secret.
PUBLIC_GRPC_METHODS = ("/grpc.health.v1.Health/",
                       "/inference.GRPCInferenceService/ServerLive",
                       "/inference.GRPCInferenceService/ServerReady")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name or 0.0.0.0 / "" (every interface): exposed


def check_exposure(what: str, host: str, key: str) -> None:
    """ValueError when ``what`` would listen beyond loopback without a key."""
    if not key and not is_loopback(host):
        raise ValueError(f"{what} would listen on {host!r}, beyond loopback, with no "
                         "SIDECAR_API_KEY: set one (the API sends it) or bind to 127.0.0.1")


def key_matches(given: str, key: str) -> bool:
    """Constant-time comparison of the presented key with the configured one."""
    return hmac.compare_digest(given.encode(), key.encode())


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
