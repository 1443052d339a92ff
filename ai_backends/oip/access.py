"""Who may call the sidecars: loopback by default, a shared key when they are exposed.

A sidecar bound to a loopback address is reachable from this machine only. Bound to any
other address it must have ``SIDECAR_API_KEY``: then every call but the health checks needs
it (REST: the ``X-API-Key`` header; gRPC: ``x-api-key`` metadata), and the API sends it.
A sidecar told to listen beyond loopback without a key refuses to start.
"""

from __future__ import annotations

import hmac
import ipaddress

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
