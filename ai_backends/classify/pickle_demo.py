"""Why the service serves ONNX and never unpickles: a pickle runs code when it is loaded.

``write_malicious_pickle`` builds a pickle whose ``__reduce__`` asks the unpickler to call
``exec`` on a harmless payload (it writes a marker file and prints a warning).
``run_demo`` loads it in a child process and shows the payload ran, then shows that the same
bytes fed to onnxruntime are only rejected as an invalid model, and that loading the real
ONNX model runs nothing: ONNX is a data format (a protobuf graph), not a program.
"""

from __future__ import annotations

# Runs this interpreter on a file we just wrote.
import subprocess  # nosec B404
import sys
from pathlib import Path

PAYLOAD = (
    "import pathlib; pathlib.Path({marker!r}).write_text('code ran during unpickling\\n'); "
    "print('!!! PAYLOAD EXECUTED: unpickling ran code chosen by the file author !!!')"
)


class _Exploit:
    """An object whose pickle, when loaded, calls ``exec(payload)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (PAYLOAD.format(marker=str(self.marker)),))


def write_malicious_pickle(path: Path, marker: Path) -> None:
    """Write the demonstration pickle to ``path``; loading it creates ``marker``."""
    # We only write here.
    import pickle  # nosec B403

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_Exploit(marker)))


def run_demo(pickle_path: Path, marker: Path, onnx_path: Path) -> dict[str, object]:
    """Load the pickle (child process) and the ONNX files; report what happened to each."""
    marker.unlink(missing_ok=True)
    write_malicious_pickle(pickle_path, marker)
    loader = f"import pickle; pickle.load(open({str(pickle_path)!r}, 'rb'))"
    # Fixed argv, our own interpreter.
    child = subprocess.run(  # nosec B603
        [sys.executable, "-c", loader], capture_output=True, text=True, timeout=60, check=False
    )
    pickle_ran_code = marker.exists()

    import onnxruntime as ort

    try:
        ort.InferenceSession(str(pickle_path), providers=["CPUExecutionProvider"])
        onnx_on_pickle = "loaded (unexpected)"
    except Exception as exc:  # onnxruntime raises its own exception types
        onnx_on_pickle = f"rejected: {type(exc).__name__}"
    marker.unlink(missing_ok=True)
    ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return {
        "pickle_load_output": child.stdout.strip(),
        "pickle_ran_code": pickle_ran_code,
        "onnxruntime_on_the_pickle": onnx_on_pickle,
        "onnx_model_ran_code": marker.exists(),
    }
