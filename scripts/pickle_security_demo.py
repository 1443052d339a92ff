"""Show side by side that loading a pickle runs code and loading ONNX cannot."""

import _path

from ai_backends.classify.pickle_demo import run_demo
from ai_backends.core.config import load_config


def main() -> None:
    """Generate models/malicious_model.pkl, load it and the ONNX model, print the outcome."""
    config = load_config()
    model_dir = _path.Path(config["MODEL_DIR"])
    result = run_demo(
        pickle_path=model_dir / "malicious_model.pkl",
        marker=_path.Path(config["DATA_DIR"]) / "PICKLE_PAYLOAD_RAN.txt",
        onnx_path=model_dir / "iris_classifier.onnx",
    )
    print("pickle.load(malicious_model.pkl):")
    print(f"  output: {result['pickle_load_output']}")
    print(f"  ran code: {result['pickle_ran_code']}")
    print("onnxruntime on the same bytes:", result["onnxruntime_on_the_pickle"])
    print("onnxruntime on iris_classifier.onnx ran code:", result["onnx_model_ran_code"])


if __name__ == "__main__":
    main()
