"""Configuration of the knowledge-graph stage (owned by the graph module)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GraphConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="Graph folder used by the pipeline; None means no knowledge.")
    spacy_model: str = Field("en-core-web-sm", description="Short name, installed spaCy package, or a path.")
