"""Results of the MCP server's registry tools; a model listing reuses the HTTP API's schema."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ai_backends.mlops.model_schemas import RegisteredModel


class ModelList(BaseModel):
    """Every model of the MLflow registry (GET /api/v1/models without the store's URI)."""

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
