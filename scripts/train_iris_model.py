"""Train the Iris classifier; write the ONNX model, metadata and drift reference; log the run
to MLflow and register both formats (iris-classifier-sklearn, iris-classifier-onnx).

Registering is idempotent: training is deterministic, so re-running adds a version only when
the model changed (its ONNX content hash). ``--no-register`` only trains;
``--register-if-missing`` trains and registers only when the registry lacks the models
(used by the bootstrap); ``--register`` is the default, kept for old command lines.
"""

import argparse
import sys

import _path  # noqa: F401  (puts the repository root on sys.path)

from ai_backends.classify.training import train_model
from ai_backends.core.config import load_config
from ai_backends.core.errors import ServiceError


def main() -> int:
    """Train, register, and print the hold-out accuracy and where the artifacts went."""
    parser = argparse.ArgumentParser(description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--register", action="store_true",
                       help="log to MLflow and register both formats (the default)")
    group.add_argument("--no-register", action="store_true",
                       help="only train: write the model files, leave MLflow alone")
    group.add_argument("--register-if-missing", action="store_true",
                       help="train and register only if the registry lacks the models")
    args = parser.parse_args()
    config = load_config()
    registry = None
    if not args.no_register:
        from ai_backends.mlops.registry import ModelRegistry

        registry = ModelRegistry.from_config(config)
    try:
        if args.register_if_missing and registry is not None:
            missing = registry.missing_models()
            if not missing:
                print(f"registry {config['MLFLOW_TRACKING_URI']} already has both models")
                return 0
            print(f"registry lacks {', '.join(missing)}: training and registering")
        trained = train_model(_path.Path(config["MODEL_DIR"]), _path.Path(config["DATA_DIR"]))
        metadata = trained.metadata
        print(f"hold-out accuracy: {metadata['test_accuracy']:.4f} "
              f"({metadata['n_test']} test samples, seed {metadata['seed']})")
        print(f"ONNX agrees with sklearn on {metadata['onnx_agreement']:.1%} of the 150 samples")
        print(f"model version {metadata['model_version']} written to {config['MODEL_DIR']}")
        if registry is not None:
            print(f"logging to MLflow at {config['MLFLOW_TRACKING_URI']}")
            for entry in registry.register_trained(
                    trained, _path.Path(config["DATA_DIR"]) / "reference_iris.csv",
                    skip_unchanged=True):
                aliases = f" (alias {', '.join(entry.aliases)})" if entry.aliases else ""
                state = "registered" if entry.new else "unchanged, already registered as"
                print(f"{state} {entry.name} version {entry.version}{aliases}")
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
