"""Regenerate the gRPC stubs of proto/inference.proto into ai_backends/oip/generated/.

Run from anywhere: ``python scripts/generate_protos.py``. protoc writes ``import
inference_pb2`` in the service stub; we rewrite it to a relative import so the stubs work
as part of the package. The stubs are committed; run this after editing the proto.
"""

import re

# Runs the protoc bundled with grpcio-tools, with fixed arguments.
import subprocess  # nosec B404
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "ai_backends" / "oip" / "generated"


def main() -> int:
    """Run protoc for the proto, fix the stub's import, and list what was written."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "__init__.py").write_text('"""Stubs generated from proto/inference.proto."""\n')
    subprocess.run(  # nosec B603
        [
            sys.executable, "-m", "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={OUT_DIR}",
            f"--pyi_out={OUT_DIR}",
            f"--grpc_python_out={OUT_DIR}",
            "inference.proto",
        ],
        cwd=ROOT,
        check=True,
    )
    stub = OUT_DIR / "inference_pb2_grpc.py"
    text = re.sub(r"^import inference_pb2 as", "from . import inference_pb2 as",
                  stub.read_text(), flags=re.MULTILINE)
    stub.write_text(text)
    for path in sorted(OUT_DIR.glob("*.py*")):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
