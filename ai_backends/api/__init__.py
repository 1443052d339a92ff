"""The Flask edge: request ids, JSON checks, problem responses and the versioned blueprints."""
