"""The Open Inference Protocol REST sidecar on 127.0.0.1:5002: ``python http_server.py``."""

from ai_backends.oip.http_sidecar import serve

if __name__ == "__main__":
    serve()
