"""Configuration of the retrieval stage: linking, graph paths, the dense index, and how they are fused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kqa.retrieval.index import IndexConfig
from kqa.retrieval.linking import LinkingConfig
from kqa.retrieval.paths import PathConfig


class RetrievalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(5, gt=0, description="Facts kept per answer choice.")
    graph_k: int = Field(20, gt=0, description="Graph candidates per choice before fusion.")
    dense_k: int = Field(10, ge=0, description="Dense-search candidates per choice before fusion; 0 turns dense off.")
    mix: float = Field(0.5, ge=0, le=1, description="Weight of the graph score; 1 - mix weighs the cosine similarity.")
    linking: LinkingConfig = LinkingConfig()
    paths: PathConfig = PathConfig()
    index: IndexConfig = IndexConfig()
