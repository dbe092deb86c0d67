"""Fakes for evaluation tests: a reader that counts what it scores and a retriever whose facts name the gold answer."""

from __future__ import annotations

import pytest

from kqa.attribution import ReadFacts, explain
from kqa.config import PipelineConfig
from kqa.pipeline import KQAPipeline
from kqa.types import Choice, Evidence, Fact, Question
from tests.conftest import write_jsonl


def make_question(i: int, n_choices: int = 3, answer: int | None = None, concept: str | None = None) -> Question:
    labels = "ABCDEFGH"[:n_choices]
    gold = None if answer is None else labels[answer]
    return Question(f"q{i}", f"Question {i}?", tuple(Choice(lab, f"answer{i}{lab.lower()}") for lab in labels), gold,
                    concept if concept is not None else f"concept{i % 4}")


def questions(n: int = 12) -> list[Question]:
    return [make_question(i, answer=(i * 7) % 3) for i in range(n)]


class CountingReader:
    """Prefers the first choice a little (a position bias) and strongly any choice its facts mention."""

    name = "fake-reader"
    uses_facts = True

    def __init__(self):
        self.scored: list[str] = []

    def warm_up(self):
        pass

    def explain(self, question, evidence):
        return explain(self, question, evidence, read_all)

    def run(self, questions, evidence=None):
        self.scored.extend(q.id for q in questions)
        out = []
        for k, q in enumerate(questions):
            texts = " ".join(f.text for per in evidence[k].per_choice for f in per) if evidence else ""
            out.append(tuple((2.0 if c.text in texts else 0.0) + (0.3 if i == 0 else 0.0) - 0.01 * i
                             for i, c in enumerate(q.choices)))
        return out


def read_all(evidence: Evidence, chosen: int) -> ReadFacts:
    """Every choice's score reads every fact (like the zero-shot scorer's shared prompt)."""
    return ReadFacts(tuple(f for per in evidence.per_choice for f in per))


class HintRetriever:
    """For every other question, a graph fact naming the gold answer (so knowledge helps); 1-3 filler facts."""

    def __init__(self):
        self.calls = 0

    def run(self, question: Question) -> Evidence:
        self.calls += 1
        index = int(question.id[1:])
        per_choice = []
        for choice in question.choices:
            facts = [Fact(question.id, "RelatedTo", f"filler{j}", f"filler {j} of {question.id} {choice.label}",
                          score=0.1 * j, origin="dense") for j in range(index % 3)]
            if choice.label == question.answer and index % 2 == 0:
                facts.append(Fact(question.id, "AtLocation", choice.text, f"hint: {choice.text}", score=0.9,
                                  origin="direct"))
            per_choice.append(tuple(facts))
        return Evidence(question.id, tuple(per_choice), (f"c{index % 4}",) * (index % 3))


def fake_pipeline(retriever=True) -> tuple[KQAPipeline, CountingReader]:
    reader = CountingReader()
    return KQAPipeline(PipelineConfig(), reader, HintRetriever() if retriever else None), reader


def as_records(qs: list[Question], drop_answers: bool = False) -> list[dict]:
    out = []
    for q in qs:
        record = {"id": q.id, "question": {"stem": q.stem, "question_concept": q.concept,
                                           "choices": [{"label": c.label, "text": c.text} for c in q.choices]}}
        if not drop_answers:
            record["answerKey"] = q.answer
        out.append(record)
    return out


@pytest.fixture
def tiny_yaml(tmp_path, tiny_llama_dir):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"model:\n  name: {tiny_llama_dir}\nscorer:\n  mode: sum\n")
    return path


@pytest.fixture
def question_file(tmp_path):
    return write_jsonl(tmp_path / "q.jsonl", as_records(questions(6)))
