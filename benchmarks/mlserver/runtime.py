"""An MLServer runtime serving our ONNX Iris model, to compare MLServer with our sidecars.

Same model file, same onnxruntime settings (one thread), same tensor names as our sidecars,
so benchmarks/bench_sidecars.py can send both the identical requests. See README.md here.
"""

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxIris(MLModel):
    """The Iris RandomForest exported to ONNX, behind MLServer's data plane."""

    async def load(self) -> bool:
        """Open the ONNX session given as the model's uri."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            self.settings.parameters.uri, options, providers=["CPUExecutionProvider"]
        )
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Class probabilities and labels for a batch of feature rows."""
        features = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        labels, probabilities = self._session.run(None, {"input": features})
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output("probabilities", np.asarray(probabilities)),
                NumpyCodec.encode_output("label", np.asarray(labels, dtype=np.int64)),
            ],
        )
