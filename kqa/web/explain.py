"""Answer one question and say why: evidence per choice, and each read fact's leave-one-out effect."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from kqa.graph.draw import evidence_png, write_png
from kqa.pipeline import KQAPipeline
from kqa.types import Evidence, Prediction, Question

logger = logging.getLogger(__name__)
ATTRIBUTED = "change of the chosen answer's score when the fact is left out"


@dataclass(frozen=True)
class Explained:
    prediction: Prediction
    evidence: Evidence  # keeps the linked question / choice concepts that a Prediction does not carry
    attribution: str  # how fact attributions were computed, or why there are none (shown to the user)


class Explainer:
    """Retrieve, score and (optionally) attribute, through the pipeline (kqa.attribution does the attributing)."""

    def __init__(self, pipeline: KQAPipeline):
        self.pipeline = pipeline

    def run(self, question: Question, explain: bool = True) -> Explained:
        evidence = self.pipeline.retrieve(question)
        prediction = self.pipeline.explain(question, evidence) if explain else self.pipeline.predict(question, evidence)
        # the prediction's facts carry the attributions; the evidence keeps the linked concepts
        evidence = replace(evidence, per_choice=tuple(c.evidence for c in prediction.choices))
        return Explained(prediction, evidence, self._reason(evidence, explain) or ATTRIBUTED)

    def _reason(self, evidence: Evidence, explain: bool) -> str:
        """Why no fact has an attribution ("" when they have)."""
        if not explain:
            return "not computed (explain was off)"
        if not any(evidence.per_choice):
            return "no facts were retrieved, so there is nothing to attribute"
        if not self.pipeline.reader.uses_facts:
            return (f"the reader {self.pipeline.model_name!r} does not read facts (for the zero-shot scorer: "
                    f"scorer.use_facts is false), so no fact changed its answer; turn use_facts on in the pipeline "
                    f"or load a trained adapter that reads facts")
        return ""


def explain_to_png(pipeline: KQAPipeline, question: Question, explain: bool, path: str | Path) -> Prediction:
    """Answer (and attribute, with `explain`), and draw the evidence to `path` (for `kqa ask --png`)."""
    explained = Explainer(pipeline).run(question, explain)
    write_png(path, evidence_png(explained.prediction, explained.evidence))
    return explained.prediction
