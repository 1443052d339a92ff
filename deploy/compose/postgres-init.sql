-- Run once by the postgres image on an empty data volume: one database per concern.
-- ai_backends holds the prediction store (PREDICTION_STORE); mlflow the registry.
CREATE DATABASE ai_backends;
CREATE DATABASE mlflow;
