"""MLOps: drift monitoring (Evidently), drift simulation, the MLflow registry, serving
registered models, and the model-management CLI. Heavy libraries load on first use."""
