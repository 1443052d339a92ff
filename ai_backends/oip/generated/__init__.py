"""Stubs generated from proto/inference.proto."""
