"""One line of predictions.jsonl as a typed record: the prediction, as logged, and where its question came from.

predictions.jsonl is the disk form (one sorted-keys JSON object per question, read back by --resume); everything
after the answering step (metrics, reports, --compare) reads `EvalRecord`s.
"""

from __future__ import annotations

from dataclasses import dataclass

from kqa.evaluation.store import rounded
from kqa.types import ChoiceScore, Fact, Prediction, Provenance


@dataclass(frozen=True)
class EvalRecord:
    prediction: Prediction  # latency_s is not kept here: timings.jsonl holds it
    source: str  # the name of the question set
    concept: str | None  # the question's concept (CSQA `question_concept`), for per-concept accuracy
    linked_concepts: tuple[str, ...] | None  # concepts linked in the question; None when nothing was retrieved

    @property
    def id(self) -> str:
        return self.prediction.question_id

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.id

    @property
    def gold(self) -> str | None:
        return self.prediction.gold

    @property
    def predicted(self) -> str:
        return self.prediction.label

    @property
    def correct(self) -> bool | None:
        return self.prediction.correct

    @property
    def choices(self) -> tuple[ChoiceScore, ...]:
        return self.prediction.choices

    def to_dict(self) -> dict:
        """The predictions.jsonl line: id, source, gold, predicted, correct, concept, linked_concepts, choices."""
        record = self.prediction.to_dict()
        del record["latency_s"]
        linked = None if self.linked_concepts is None else list(self.linked_concepts)
        return record | {"source": self.source, "concept": self.concept, "linked_concepts": linked}

    def rounded(self, decimals: int) -> EvalRecord:
        """This record as predictions.jsonl holds it, every float rounded to `decimals` places: a run's records are
        then the same whether they were answered now or read back by --resume."""
        return EvalRecord.from_dict(rounded(self.to_dict(), decimals))

    @classmethod
    def from_dict(cls, record: dict) -> EvalRecord:
        """A predictions.jsonl line back as a record (`to_dict` inverted)."""
        choices = tuple(ChoiceScore(c["label"], c["text"], c["score"], c["probability"],
                                    tuple(_fact(f) for f in c["evidence"])) for c in record["choices"])
        linked = record["linked_concepts"]
        return cls(Prediction(record["id"], record["predicted"], choices, gold=record["gold"]), record["source"],
                   record["concept"], None if linked is None else tuple(linked))


def _fact(fact: dict) -> Fact:
    return Fact(fact["head"], fact["relation"], fact["tail"], fact["text"], fact["score"],
                tuple(Provenance(**p) for p in fact["provenance"]), fact["attribution"], fact["origin"], fact["id"])
