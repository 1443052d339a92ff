"""The one interface every model runtime implements (ONNX, registry models, LLM backends)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ModelRuntime(Protocol):
    """A loadable model: a name, a version, a readiness flag and a ``predict`` call."""

    name: str

    @property
    def version(self) -> str:
        """Version of the loaded model (content hash, registry version or backend model tag)."""
        ...

    def load(self) -> None:
        """Load the model; idempotent; raises ``Unavailable`` when it cannot."""
        ...

    def ready(self) -> bool:
        """True once ``load`` has succeeded."""
        ...

    def predict(self, inputs: Any) -> Any:
        """Run the model on ``inputs``."""
        ...
