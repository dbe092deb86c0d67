"""The roles of a pipeline's stages, as Protocols: anything with these members fits (tests pass fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from kqa.types import Evidence, Prediction, Question


class Reader(Protocol):
    """Scores the choices of questions, optionally reading retrieved facts."""

    @property
    def name(self) -> str: ...

    @property
    def uses_facts(self) -> bool:
        """Whether retrieved facts can change its scores (otherwise explanations attribute nothing)."""
        ...

    def warm_up(self) -> None:
        """Load what `run` needs (models) once; building a reader stays cheap."""
        ...

    def run(self, questions: Sequence[Question], evidence: Sequence[Evidence] | None = None) -> list[tuple[float, ...]]:
        """One score per choice, per question (higher is better); `evidence` aligned with `questions`."""
        ...

    def explain(self, question: Question, evidence: Evidence) -> Prediction:
        """Answer, with each fact read for the chosen answer carrying its leave-one-out effect (kqa.attribution)."""
        ...


class Retriever(Protocol):
    """Anything that finds facts for each choice of a question."""

    def run(self, question: Question) -> Evidence: ...

