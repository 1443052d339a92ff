"""The Open Inference Protocol gRPC sidecar on 127.0.0.1:50051: ``python grpc_server.py``."""

import sys

from ai_backends.oip.serving import serve_grpc

if __name__ == "__main__":
    sys.exit(serve_grpc())
