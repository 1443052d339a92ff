"""Command lines of the classifier: train (and register) the model, the pickle demonstration.

``ai-backends-train`` (``scripts/train_iris_model.py``) trains and writes the ONNX model,
metadata and drift reference, logs the run to MLflow and registers both model formats, as
the specification documents. Registering is idempotent: training is deterministic, so
re-running adds a version only when the model changed (its ONNX content hash).
``--no-register`` only trains; ``--register-if-missing`` trains and registers only when the
registry lacks the models (used by the bootstrap); ``--register`` is the default, kept for
old command lines. ``ai-backends-pickle-demo`` (``scripts/pickle_security_demo.py``) shows side
by side that loading a pickle runs code and loading ONNX cannot.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ai_backends.classify.training import train_model
from ai_backends.core.config import load_config
from ai_backends.core.errors import ServiceError


def train(argv: Sequence[str] | None = None) -> int:
    """Train, register, and print the hold-out accuracy and where the artifacts went."""
    parser = argparse.ArgumentParser(
        prog="ai-backends-train",
        description="Train the Iris classifier; write the ONNX model, metadata and drift "
                    "reference.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--register", action="store_true",
                       help="log to MLflow and register both formats (the default)")
    group.add_argument("--no-register", action="store_true",
                       help="only train: write the model files, leave MLflow alone")
    group.add_argument("--register-if-missing", action="store_true",
                       help="train and register only if the registry lacks the models")
    args = parser.parse_args(argv)
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
        trained = train_model(Path(config["MODEL_DIR"]), Path(config["DATA_DIR"]))
        metadata = trained.metadata
        print(f"hold-out accuracy: {metadata['test_accuracy']:.4f} "
              f"({metadata['n_test']} test samples, seed {metadata['seed']})")
        print(f"ONNX agrees with sklearn on {metadata['onnx_agreement']:.1%} of the 150 samples")
        print(f"model version {metadata['model_version']} written to {config['MODEL_DIR']}")
        if registry is not None:
            print(f"logging to MLflow at {config['MLFLOW_TRACKING_URI']}")
            for entry in registry.register_trained(
                    trained, Path(config["DATA_DIR"]) / "reference_iris.csv",
                    skip_unchanged=True):
                aliases = f" (alias {', '.join(entry.aliases)})" if entry.aliases else ""
                state = "registered" if entry.new else "unchanged, already registered as"
                print(f"{state} {entry.name} version {entry.version}{aliases}")
    except ServiceError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


def pickle_demo(argv: Sequence[str] | None = None) -> int:
    """Generate models/malicious_model.pkl, load it and the ONNX model, print the outcome."""
    argparse.ArgumentParser(
        prog="ai-backends-pickle-demo",
        description="Show that loading a pickle runs code and loading ONNX cannot.",
    ).parse_args(argv)
    from ai_backends.classify.pickle_demo import run_demo

    config = load_config()
    model_dir = Path(config["MODEL_DIR"])
    result = run_demo(
        pickle_path=model_dir / "malicious_model.pkl",
        marker=Path(config["DATA_DIR"]) / "PICKLE_PAYLOAD_RAN.txt",
        onnx_path=model_dir / "iris_classifier.onnx",
    )
    print("pickle.load(malicious_model.pkl):")
    print(f"  output: {result['pickle_load_output']}")
    print(f"  ran code: {result['pickle_ran_code']}")
    print("onnxruntime on the same bytes:", result["onnxruntime_on_the_pickle"])
    print("onnxruntime on iris_classifier.onnx ran code:", result["onnx_model_ran_code"])
    return 0


if __name__ == "__main__":  # python -m ai_backends.classify.cli [--register ...]
    sys.exit(train())
