"""Frozen dataclasses passed between stages. No string-keyed dicts cross a stage boundary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Choice:
    label: str  # "A".."E" in CSQA
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    stem: str
    choices: tuple[Choice, ...]
    answer: str | None = None  # gold label; None when unknown (e.g. `kqa ask`)
    concept: str | None = None  # CSQA's `question_concept`, kept for per-concept metrics

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.choices)


@dataclass(frozen=True)
class Provenance:
    """Where a fact came from: a document (content hash + sentence) or an importer (e.g. "wordnet")."""

    source: str
    sentence: str = ""
    extractor: str = ""
    confidence: float = 1.0


@dataclass(frozen=True)
class Fact:
    head: str
    relation: str
    tail: str
    text: str  # verbalized form, e.g. "a fish is located at an aquarium"
    score: float = 0.0  # retrieval score (higher is more relevant)
    provenance: tuple[Provenance, ...] = ()
    attribution: float | None = None  # leave-one-out effect on the chosen answer's score, when explained
    origin: str = ""  # how it was found: "direct" | "two-hop" | "choice" (graph paths) | "dense" | "control"
    id: str = ""  # the graph's triple id, when it came from a graph


@dataclass(frozen=True)
class Evidence:
    """Facts retrieved for one question: one tuple per answer choice, aligned with `question.choices`."""

    question_id: str
    per_choice: tuple[tuple[Fact, ...], ...]
    question_concepts: tuple[str, ...] = ()  # linked concepts, kept for per-question metrics
    choice_concepts: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def empty(cls, question: "Question") -> "Evidence":
        return cls(question.id, tuple(() for _ in question.choices))

    def ranked_facts(self) -> tuple[Fact, ...]:
        """Every choice's facts in one list, best score first (ties in choice order), each text once with its best
        score: what a prompt shared by all choices reads."""
        ranked = sorted((f for per in self.per_choice for f in per), key=lambda f: -f.score)
        best: dict[str, Fact] = {}
        for fact in ranked:
            best.setdefault(fact.text, fact)
        return tuple(best.values())


@dataclass(frozen=True)
class ChoiceScore:
    label: str
    text: str
    score: float  # the scorer's number (higher is better); its meaning depends on the scoring mode
    probability: float  # softmax of `score` over the question's choices
    evidence: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class Prediction:
    question_id: str
    label: str  # predicted choice label
    choices: tuple[ChoiceScore, ...]
    gold: str | None = None
    latency_s: float = 0.0

    @property
    def correct(self) -> bool | None:
        return None if self.gold is None else self.label == self.gold

    @property
    def evidence(self) -> tuple[Fact, ...]:
        return tuple(f for c in self.choices for f in c.evidence)

    def to_dict(self) -> dict:
        """JSON-ready form used by `--json` output and predictions.jsonl."""
        return {
            "id": self.question_id,
            "gold": self.gold,
            "predicted": self.label,
            "correct": self.correct,
            "latency_s": round(self.latency_s, 6),
            "choices": [
                {
                    "label": c.label,
                    "text": c.text,
                    "score": c.score,
                    "probability": c.probability,
                    "evidence": [_fact_dict(f) for f in c.evidence],
                }
                for c in self.choices
            ],
        }


def _fact_dict(fact: Fact) -> dict:
    return {
        "head": fact.head,
        "relation": fact.relation,
        "tail": fact.tail,
        "text": fact.text,
        "score": fact.score,
        "provenance": [p.__dict__ for p in fact.provenance],
        "attribution": fact.attribution,
        "origin": fact.origin,
        "id": fact.id,
    }


@dataclass(frozen=True)
class LoadResult:
    """Questions read from one source, plus what `--skip-invalid` skipped and why."""

    questions: tuple[Question, ...]
    skipped: tuple[str, ...] = field(default=())  # one message per skipped record
