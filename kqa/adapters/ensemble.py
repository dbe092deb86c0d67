"""EnsembleReader: a reader of facts beside a reader trained without them, two adapters on one frozen backbone.

Why (benchmarks/bench_lift_ensemble.py, README "The knowledge lift"): a reader trained with ConceptNet's facts learns
that a choice the graph says nothing about is seldom right, and loses ~13 points on the quarter of CSQA questions
whose answer has no fact. A reader trained without facts has no such bias. The sum of their logits, each standardized
over the question's choices (so that neither reader's scale decides), keeps the facts' gain where the graph knows
the answer and falls back on the question alone where it does not.

It was the default reader until retrieval kept one fact per pair of concepts (`retrieval.per_pair: 1`): with those
facts the facts reader alone answers as well over six splits (docs/results.md), so the pair is now an option
(`reader.base_adapter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kqa.adapters.reader import AdapterReader
from kqa.attribution import attribute, leave_one_out
from kqa.prediction import best_choice, make_prediction
from kqa.types import Evidence, Prediction, Question

FACTS, BASE = "facts", "base"  # the two adapters' names on the shared backbone


def standardized(logits: Sequence[float]) -> np.ndarray:
    """(C,) logits as z-scores over the question's choices."""
    values = np.asarray(logits, dtype=np.float64)
    return (values - values.mean()) / (values.std() + 1e-6)


class EnsembleReader:
    """Score each choice by z(base reader, no facts) + z(facts reader, the retrieved facts)."""

    def __init__(self, facts: str | Path, base: str | Path, *, device: str = "cpu", max_length: int | None = None,
                 batch_size: int = 8):
        self.inner = AdapterReader({FACTS: facts, BASE: base}, device=device, max_length=max_length,
                                   batch_size=batch_size)

    @property
    def name(self) -> str:
        if self.inner.model is None:
            return f"adapter:{FACTS}+{BASE}"
        return f"{self.inner.model.config.backbone}+{self.inner.model.config.method}:{FACTS}+{BASE}"

    @property
    def uses_facts(self) -> bool:
        return self.inner.uses_facts  # the facts adapter's config (the first one)

    def warm_up(self) -> None:
        """Load the backbone and both adapters (loading refuses adapters of different backbones)."""
        self.inner.warm_up()

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]:
        base, facts = self._logits(questions, evidence)
        return [tuple((standardized(b) + standardized(f)).tolist()) for b, f in zip(base, facts)]

    def explain(self, question: Question, evidence: Evidence) -> Prediction:
        """Leave-one-out effects of the chosen answer's facts on its ensemble score, exactly: the base reader reads
        no facts, so only the facts reader's logit of the chosen choice moves, and the z-scores are recomputed."""
        (base,), (facts,) = self._logits([question], [evidence])
        z_facts = standardized(facts)
        scores = standardized(base) + z_facts
        chosen = best_choice(scores.tolist())
        read = self.inner.facts_read(evidence, chosen)  # the facts adapter is active after _logits
        effects = {}
        for text, effect in leave_one_out(self.inner, question, chosen, read.facts).items():
            without = np.array(facts, dtype=np.float64)
            without[chosen] -= effect  # the facts reader's logit of the chosen choice without that fact
            effects[text] = float(z_facts[chosen] - standardized(without)[chosen])  # the base's z-score cancels
        return make_prediction(question, scores.tolist(), attribute(evidence, effects, read))

    def _logits(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None) -> tuple[list, list]:
        """Per question, the base reader's logits (no evidence, as it was trained) and the facts reader's (the given
        evidence; None: no retriever)."""
        self.inner.set_active(BASE)
        base = self.inner.run(questions, None)
        self.inner.set_active(FACTS)
        return base, self.inner.run(questions, evidence)
