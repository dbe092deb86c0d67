"""Answer questions with one pipeline and keep what evaluation needs beyond the Prediction (linked concepts).

`PipelineSpec` is the picklable recipe a worker process or Ray actor builds its own pipeline from; `variant_pipeline`
derives the three pipelines of an ablation (with / without knowledge / control) from one pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kqa.config import PipelineConfig
from kqa.errors import ConfigError
from kqa.pipeline import KQAPipeline
from kqa.types import Evidence, Prediction, Question

VARIANTS = ("with", "without", "control")


@dataclass(frozen=True)
class Answered:
    prediction: Prediction
    linked: tuple[str, ...] | None  # the question's linked concepts; None when the pipeline retrieves nothing


@dataclass(frozen=True)
class PipelineSpec:
    """What a process needs to build a pipeline: the config (graph override already applied) and the variant."""

    config: PipelineConfig
    variant: str = "with"
    control_seed: int = 0
    adapter: str | None = None  # a trained adapter folder (kqa train) read instead of the zero-shot scorer

    def build(self, universe: Sequence[Question]) -> KQAPipeline:
        pipeline = KQAPipeline.from_config(self.config, adapter=self.adapter)
        return variant_pipeline(pipeline, self.variant, universe, self.control_seed)


def variant_pipeline(pipeline: KQAPipeline, variant: str, universe: Sequence[Question], seed: int = 0) -> KQAPipeline:
    """with: as is; without: no retriever; control: another question's facts, as many as the question's own."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}. Valid variants are: {list(VARIANTS)}.")
    if variant == "with":
        return pipeline
    if variant == "without":
        return KQAPipeline(pipeline.config, pipeline.reader, None)
    if pipeline.retriever is None:
        raise ConfigError("the control variant needs a pipeline with a retriever: set `graph.path` or pass --graph.")
    from kqa.retrieval.control import MatchedControlRetriever

    return KQAPipeline(pipeline.config, pipeline.reader, MatchedControlRetriever(pipeline.retriever, universe, seed))


class ChunkAnswerer:
    """Answer one chunk of questions at a time; records each question's linked concepts on the way through the
    retriever."""

    def __init__(self, pipeline: KQAPipeline):
        self._seen: dict[str, Evidence] = {}
        retriever = _Recording(pipeline.retriever, self._seen) if pipeline.retriever is not None else None
        self.pipeline = KQAPipeline(pipeline.config, pipeline.reader, retriever)

    def run(self, questions: Sequence[Question]) -> list[Answered]:
        predictions = self.pipeline.answer_batch(list(questions), progress=False, chunk=max(len(questions), 1))
        out = []
        for p in predictions:
            evidence = self._seen.pop(p.question_id, None)
            out.append(Answered(p, None if evidence is None else tuple(evidence.question_concepts)))
        return out


class _Recording:
    def __init__(self, inner, seen: dict[str, Evidence]):
        self.inner, self.seen = inner, seen

    def run(self, question: Question) -> Evidence:
        evidence = self.inner.run(question)
        self.seen[question.id] = evidence
        return evidence
