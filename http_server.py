"""The Open Inference Protocol REST sidecar on 127.0.0.1:5002: ``python http_server.py``."""

from ai_backends.oip.serving import serve_http

if __name__ == "__main__":
    serve_http()
