"""The Open Inference Protocol v2 (KServe v2) for the inference sidecars.

``dataplane`` is the one inference core both sidecars call; ``converters`` translates JSON
and protobuf tensors to and from it; ``http_sidecar`` and ``grpc_sidecar`` are the two
servers; ``clients`` are what the API uses to call them; ``generated`` holds the protoc
output of ``proto/inference.proto``.
"""
