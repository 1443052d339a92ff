"""Response of GET /api/v1/models: the registered models, read-only."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelVersion(BaseModel):
    """One version of a registered model."""

    version: str
    aliases: list[str] = Field(description="Aliases pointing at this version, e.g. production")
    stage: str = Field(description="MLflow stage (deprecated; aliases replace it)")
    status: str
    created: str | None = Field(description="UTC, ISO 8601")
    run_id: str | None
    accuracy: str | None = Field(description="Test accuracy tag of the version")
    data_hash: str | None
    git_commit: str | None


class RegisteredModel(BaseModel):
    """A registered model, its aliases and its versions."""

    name: str
    description: str
    aliases: dict[str, str] = Field(description="Alias -> version")
    versions: list[ModelVersion]


class ModelList(BaseModel):
    """Every registered model; ``production`` says which version answers by default."""

    models: list[RegisteredModel]
    tracking_uri: str = Field(description="The MLflow store, without credentials")
