"""Configuration of the retrieval stage: linking, graph paths, the dense index, and how they are fused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kqa.retrieval.index import IndexConfig
from kqa.retrieval.linking import LinkingConfig
from kqa.retrieval.paths import PathConfig


class RetrievalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(5, gt=0, description="Facts kept per answer choice.")
    graph_k: int = Field(20, gt=0, description="Graph candidates per choice before fusion.")
    per_pair: int | None = Field(None, gt=0, description="At most this many of a choice's facts join the same two "
                                 "concepts (either way round); the next best fact joining other concepts takes the "
                                 "place. None keeps every fact.")
    dense_k: int = Field(10, ge=0, description="Dense-search candidates per choice before fusion; 0 turns dense off.")
    query: Literal["content", "question"] = Field(
        "content", description="Dense search's query for each choice (the fact and the sentence index alike): "
        "content = the question's content words and the choice (function words and punctuation dropped, as in concept "
        "names), question = the question as written and the choice. On ConceptNet 4's facts (all 1221 CSQA "
        "questions, int8 MiniLM) content encodes half the tokens (5 queries in 7.3 vs 10.8 ms) and more of its top 10 "
        "touch the choice (0.19 vs 0.16); corpus sentences read better with question (SciQ, pipelines/corpus-qa.yaml).")
    mix: float = Field(0.5, ge=0, le=1, description="Weight of the graph score; 1 - mix weighs the cosine similarity.")
    definitions: bool = Field(False, description="Give each choice its concept's definition (kqa graph import "
                              "definitions) as one more fact.")
    definition_score: float = Field(0.35, ge=0, description="Graph score of a definition: below question-choice "
                                    "edges (1.0) and 2-hop paths (0.6), above other edges of the choice (0.3).")
    sentences: bool = Field(False, description="Also give each choice corpus sentences beside its facts, each with "
                            "its document and sentence as provenance: the sentences behind its graph-path edges and, "
                            "with `dense_k` > 0, the nearest ones to the choice's query (`query`) in the sentence "
                            "index (kqa index build --sentences), scored as facts are (`mix`). Needs a graph built by "
                            "a kqa that keeps sentences.")
    sentence_k: int = Field(3, gt=0, description="Sentences kept per answer choice (with `sentences`), beside its "
                            "`top_k` facts.")
    question_concept: bool = Field(True, description="Link the question's given concept (CSQA `question_concept`) "
                                   "as well as the concepts found in its text.")
    linking: LinkingConfig = LinkingConfig()
    paths: PathConfig = PathConfig()
    index: IndexConfig = IndexConfig()
