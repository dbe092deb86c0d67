"""Configuration of the knowledge-graph stage (owned by the graph module)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GraphConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="Graph folder used by the pipeline; None means no knowledge.")
    spacy_model: str = Field("en-core-web-sm", description="Short name, installed spaCy package, or a path.")
    engine: Literal["local", "ray"] = Field(
        "local", description="local: nlp.pipe in this process (n_process=workers); ray: a Ray Data job (extra [dist]).")
    workers: int = Field(1, gt=0, description="Parser processes (nlp.pipe n_process) or Ray actors.")
    batch_size: int = Field(256, gt=0, description="Texts per nlp.pipe / Ray batch.")
    commit_every: int = Field(
        5000, gt=0, description="Documents per committed batch; a crash loses at most the batch in progress.")
    max_doc_bytes: int = Field(
        1_000_000, gt=0, description="Larger documents are skipped with a reason (spaCy's default max_length).")
    extensions: tuple[str, ...] = Field((".txt", ".md"), description="File suffixes read from a corpus folder.")
    compact_min_bytes: int = Field(
        8 << 20, gt=0, description="The log is folded into a new snapshot once it outgrows both this and the snapshot.")
