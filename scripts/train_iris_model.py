"""Train the Iris classifier; write the ONNX model, metadata and drift reference."""

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.config import load_config
from ai_backends.training import train


def main() -> None:
    """Train and print the hold-out accuracy and where the artifacts went."""
    config = load_config()
    metadata = train(_path.Path(config["MODEL_DIR"]), _path.Path(config["DATA_DIR"]))
    print(f"hold-out accuracy: {metadata['test_accuracy']:.4f} "
          f"({metadata['n_test']} test samples, seed {metadata['seed']})")
    print(f"ONNX agrees with sklearn on {metadata['onnx_agreement']:.1%} of the 150 samples")
    print(f"model version {metadata['model_version']} written to {config['MODEL_DIR']}")


if __name__ == "__main__":
    main()
