"""The knowledge control: each question reads as many facts as its own retrieval found, taken from other questions.

A longer prompt alone can move accuracy by several points, so "with knowledge" must be compared against this control,
not only against "no knowledge": (with - control) is what the knowledge itself contributes. Every distinct fact of
the question's own evidence is replaced, rank for rank, by a distinct fact of its donor (then the donor's donor, along
one seeded derangement, when one donor has too few), keeping the own fact's score and per-choice placement. The reader
therefore sees the same number of facts, in the same order, of unrelated content. Training (`kqa train --control`),
evaluation (`kqa eval --compare`) and the knowledge lift all use this one control.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence

from kqa.errors import InputError
from kqa.types import Evidence, Fact, Question


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


class MatchedControlRetriever:
    """Wraps a retriever: question i gets len(own facts) facts of the questions after it in a seeded derangement."""

    def __init__(self, inner, questions: Sequence[Question], seed: int = 0):
        self.inner = inner
        repeated = [qid for qid, n in Counter(q.id for q in questions).items() if n > 1]
        if repeated:  # a repeated id would be its own donor, or break the cycle
            raise InputError(f"control facts are drawn per question id, and ids must be unique; repeated: "
                             f"{repeated[:3]} (the same `train.extra_data` set listed twice? Give it one entry "
                             f"with the summed weight)")
        self._questions = {q.id: q for q in questions}
        order = derangement(len(questions), seed)
        self._donor = {q.id: questions[j].id for q, j in zip(questions, order)}
        self._cache: dict[str, Evidence] = {}

    def run(self, question: Question) -> Evidence:
        if question.id not in self._donor:
            raise InputError(f"question {question.id!r} was not among the questions the control facts were built "
                             f"for ({len(self._donor)} questions); build the control over every question it answers.")
        own = self._evidence(question)
        ranked = _distinct(own)
        pool = self._borrow(question.id, len(ranked), {f.text for f in ranked})
        swap = {f.text: dataclasses.replace(pool[i], score=f.score, origin="control", attribution=None)
                for i, f in enumerate(ranked) if i < len(pool)}
        per_choice = tuple(tuple(swap[f.text] for f in facts if f.text in swap) for facts in own.per_choice)
        return Evidence(question.id, per_choice, own.question_concepts, own.choice_concepts)

    def _evidence(self, question: Question) -> Evidence:
        if question.id not in self._cache:
            self._cache[question.id] = self.inner.run(question)
        return self._cache[question.id]

    def _borrow(self, qid: str, count: int, own_texts: set[str]) -> list[Fact]:
        """`count` distinct facts from the donors of `qid`, in order, none of them one of its own."""
        pool: list[Fact] = []
        texts = set(own_texts)
        donor = self._donor[qid]
        while len(pool) < count and donor != qid:
            for fact in _distinct(self._evidence(self._questions[donor])):
                if fact.text not in texts and len(pool) < count:
                    texts.add(fact.text)
                    pool.append(fact)
            donor = self._donor[donor]
        return pool


def _distinct(evidence: Evidence) -> list[Fact]:
    """Distinct facts (by text) best-scored first, ties by text: the order the reader's prompt uses."""
    best: dict[str, Fact] = {}
    for facts in evidence.per_choice:
        for f in facts:
            if f.text not in best or f.score > best[f.text].score:
                best[f.text] = f
    return sorted(best.values(), key=lambda f: (-f.score, f.text))
