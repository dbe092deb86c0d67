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


class ValidationConfig(BaseModel):
    """What `kqa graph validate` flags. Structural checks always run; thresholds of 0 switch a check off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Edges whose best support is less confident than this are flagged.")
    min_supports: int = Field(
        1, ge=1, description="Edges backed by fewer distinct documents than this are flagged (1: off).")
    trusted_extractors: tuple[str, ...] = Field(
        ("wordnet-3.0",), description="Edges with a support from these extractors are never flagged for their words, "
        "confidence or support (self-loops, contradictions and IsA cycles still are).")
    max_fragment_chars: int = Field(
        1, ge=0, description="A concept this short (after stripping punctuation) is a fragment.")
    list_limit: int = Field(50, ge=0, description="Flagged edges listed per reason in the report.")


class InferenceConfig(BaseModel):
    """Rules of `kqa graph infer`. Depth = rule steps: an inferred edge's confidence is the product of its premises'
    confidences times decay**depth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(
        1, ge=1, le=5, description="Rule steps: IsA/PartOf edges chained beyond the first (1: grandparents only; "
        "on lemma-level WordNet 2 gives ~1.6M IsA edges, mostly through ambiguous words).")
    decay: float = Field(0.8, gt=0, le=1, description="Confidence factor per rule step.")
    min_confidence: float = Field(0.3, ge=0, le=1, description="Inferred edges less confident than this are dropped.")
    transitive: tuple[str, ...] = Field(("IsA", "PartOf"), description="Relations closed under transitivity.")
    inherited: tuple[str, ...] = Field(
        ("CapableOf", "HasProperty", "HasA", "NotCapableOf"),
        description="Properties passed down IsA: Y rel Z and X IsA Y give X rel Z.")
    symmetric: tuple[str, ...] = Field(
        ("Antonym", "Synonym", "SimilarTo", "DistinctFrom", "RelatedTo"), description="X rel Y gives Y rel X.")
    max_children: int = Field(
        2000, gt=0, description="An IsA parent with more direct children than this passes nothing down (hub guard).")


class ResolutionConfig(BaseModel):
    """Which concepts `kqa graph resolve` merges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wordnet: bool = Field(True, description="Merge lemmas whose most frequent WordNet sense is the same synset.")
    morphology: bool = Field(True, description="Merge plural/singular and hyphen/space spellings ('ice-cream').")
    embedding: bool = Field(True, description="Merge names whose embeddings are closer than `threshold`.")
    threshold: float = Field(0.9, gt=0, le=1, description="Cosine similarity above which two names are merged.")
    embedder: str = Field("minilm-l6", description="Sentence embedder (a kqa model short name or a path).")
    neighbours: int = Field(5, gt=0, description="Nearest names compared per concept.")
    embedding_scope: Literal["extracted", "all"] = Field(
        "extracted", description="Names compared by embedding: those on text-extracted edges, or every concept.")
    max_concepts: int = Field(200_000, gt=0, description="At most this many names are embedded (most connected first).")
