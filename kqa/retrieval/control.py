"""Control evidence: the same number of facts, taken from another question through a fixed derangement.

A longer prompt alone can move accuracy by several points, so "with knowledge" must be compared against this control,
not only against "no knowledge": (with - control) is what the knowledge itself contributes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from kqa.errors import InputError
from kqa.types import Evidence, Question


def derangement(n: int, seed: int = 0) -> list[int]:
    """A seeded permutation with no fixed point (n >= 2): question i borrows from question result[i]."""
    if n < 2:
        raise InputError(f"control facts need at least 2 questions to swap evidence between, got {n}.")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    result = [0] * n
    for position, index in enumerate(order):  # each question borrows from the next one in a shuffled cycle
        result[index] = order[(position + 1) % n]
    return result


class DerangedRetriever:
    """Wraps a retriever: question i gets the evidence the inner retriever finds for question derangement[i]."""

    def __init__(self, inner, questions: Sequence[Question], seed: int = 0):
        self.inner = inner
        self._donor = {q.id: questions[j] for q, j in zip(questions, derangement(len(questions), seed))}

    def run(self, question: Question) -> Evidence:
        donor = self._donor.get(question.id)
        if donor is None:
            raise InputError(f"question {question.id!r} was not among the questions the control facts were built for.")
        borrowed = self.inner.run(donor)
        per_choice = tuple(
            tuple(dataclasses.replace(f, origin="control") for f in borrowed.per_choice[i % len(borrowed.per_choice)])
            for i in range(len(question.choices))
        )
        return Evidence(question.id, per_choice, borrowed.question_concepts, borrowed.choice_concepts)
