"""Scores -> Prediction: the one place a reader's numbers become an answer (softmax, ties to the first choice)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from kqa.types import ChoiceScore, Evidence, Prediction, Question


def best_choice(scores: Sequence[float]) -> int:
    """Index of the highest score; ties go to the first choice, so results never depend on float noise ordering."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def make_prediction(question: Question, scores: Sequence[float], evidence: Evidence, latency: float = 0.0
                    ) -> Prediction:
    """Scores and evidence -> Prediction: softmax probabilities, the best choice by `best_choice`."""
    probs = torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0).tolist()
    choices = tuple(
        ChoiceScore(label=c.label, text=c.text, score=s, probability=p, evidence=facts)
        for c, s, p, facts in zip(question.choices, scores, probs, evidence.per_choice)
    )
    best = best_choice(scores)
    return Prediction(question.id, choices[best].label, choices, gold=question.answer, latency_s=latency)
