"""Answer one question and say why: evidence per choice, and each read fact's leave-one-out effect."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from kqa.pipeline import KQAPipeline, make_prediction
from kqa.types import Evidence, Fact, Prediction, Question

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Explained:
    prediction: Prediction
    evidence: Evidence  # keeps the linked question / choice concepts that a Prediction does not carry
    attribution: str  # how fact attributions were computed, or why there are none (shown to the user)


class Explainer:
    """Retrieve, score and (optionally) attribute, through the pipeline's own retriever and reader."""

    def __init__(self, pipeline: KQAPipeline):
        self.pipeline = pipeline

    def run(self, question: Question, explain: bool = True) -> Explained:
        retriever, reader = self.pipeline.retriever, self.pipeline.reader
        evidence = retriever.run(question) if retriever else Evidence.empty(question)
        if explain and hasattr(reader, "explain"):  # a trained adapter attributes its own facts
            return Explained(reader.explain(question, evidence), evidence,
                             "effect on the chosen answer's score when the fact is left out (trained adapter)")
        scores = reader.run([question], [evidence] if retriever else None)[0]
        reason = _no_attribution_reason(reader, evidence, explain)
        if reason:
            return Explained(make_prediction(question, scores, evidence), evidence, reason)
        chosen = max(range(len(scores)), key=lambda i: (scores[i], -i))
        attributed = _leave_one_out(reader, question, evidence, chosen, scores[chosen])
        return Explained(make_prediction(question, scores, attributed), attributed,
                         "change of the chosen answer's score when the fact is left out of the prompt")


def _no_attribution_reason(reader, evidence: Evidence, explain: bool) -> str:
    if not explain:
        return "not computed (explain was off)"
    if not any(evidence.per_choice):
        return "no facts were retrieved, so there is nothing to attribute"
    if not getattr(getattr(reader, "config", None), "use_facts", False):
        return ("this reader does not read facts (scorer.use_facts is false), so no fact changed its answer; "
                "turn use_facts on in the pipeline or load a trained adapter")
    return ""


def _leave_one_out(reader, question: Question, evidence: Evidence, chosen: int, full: float) -> Evidence:
    """Score the chosen answer alone without each prompt fact (one batch); `full` is its score with all of them.

    The scorer puts the best `max_facts` distinct facts of all choices into one prompt, so removing a fact means
    removing it from every choice; its effect is written on each copy of it.
    """
    limit = reader.config.max_facts
    facts = sorted({f.text: f for per in evidence.per_choice for f in per}.values(), key=lambda f: -f.score)[:limit]
    single = replace(question, choices=(question.choices[chosen],), answer=None)
    variants = [Evidence(question.id, (tuple(facts[:j] + facts[j + 1 :]),)) for j in range(len(facts))]
    without = reader.run([single] * len(variants), variants)  # (F, 1)
    effect = {f.text: full - s[0] for f, s in zip(facts, without)}
    return replace(evidence, per_choice=tuple(tuple(_attributed(f, effect) for f in per) for per in evidence.per_choice))


def _attributed(fact: Fact, effect: dict[str, float]) -> Fact:
    return replace(fact, attribution=effect.get(fact.text))


def explain_to_png(pipeline: KQAPipeline, question: Question, explain: bool, path: str | Path) -> Prediction:
    """Answer (and attribute, with `explain`), and draw the evidence to `path` (for `kqa ask --png`)."""
    from kqa.graph.draw import evidence_png, write_png

    explained = Explainer(pipeline).run(question, explain)
    write_png(path, evidence_png(explained.prediction, explained.evidence))
    return explained.prediction
