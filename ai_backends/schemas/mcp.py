"""Results of the MCP server's registry tools (the registry has no HTTP routes of its own)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelVersionInfo(BaseModel):
    """One registered version of a model."""

    version: str
    aliases: list[str] = Field(description="Aliases pointing at this version, e.g. production")
    stage: str = Field(description="Deprecated MLflow stage")
    status: str
    created: str | None = Field(description="UTC, ISO 8601")
    run_id: str | None = Field(description="MLflow run that produced it")
    accuracy: str | None = Field(description="Hold-out accuracy recorded at registration")
    data_hash: str | None
    git_commit: str | None


class RegisteredModel(BaseModel):
    """A registered model with its aliases and versions."""

    name: str
    description: str
    aliases: dict[str, str] = Field(description="Alias -> version")
    versions: list[ModelVersionInfo]


class ModelList(BaseModel):
    """Every model of the MLflow registry."""

    models: list[RegisteredModel]


class AliasMove(BaseModel):
    """One recorded move of an alias (an entry of the registry's alias history)."""

    time: str = Field(description="UTC, ISO 8601")
    model: str
    action: str = Field(description="set or remove")
    alias: str
    from_version: str | None = Field(description="Where the alias pointed before (None: new)")
    to_version: str | None
    who: str
    note: str
