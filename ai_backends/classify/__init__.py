"""Iris classification: the ONNX model, the classification service with its exact cache,
the prediction log every classification goes to, training, and the pickle-danger demo."""
