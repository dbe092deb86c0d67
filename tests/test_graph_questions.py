"""benchmarks/graph_questions.py: multiple-choice questions made from a graph's edges."""

import json
import random

from benchmarks import graph_questions as gq
from kqa.data import load_questions

PLACES = ["ocean", "sea", "aquarium", "desert", "oven", "garage", "forest", "library", "bank", "zoo"]


def edges() -> gq.Edges:
    """jellyfish AtLocation ocean / sea; jellyfish IsA aquarium-dweller ... and a pool of places."""
    asked = [("jellyfish", "AtLocation", "ocean"), ("jellyfish", "AtLocation", "sea"), ("fish", "AtLocation", "zoo")]
    neighbours = {"jellyfish": {"ocean", "sea", "aquarium", "sting"}, "fish": {"zoo", "aquarium"}}
    tails = {"AtLocation": PLACES}
    answers = {("jellyfish", "AtLocation"): {"ocean", "sea"}, ("fish", "AtLocation"): {"zoo"}}
    return gq.Edges(asked, neighbours, tails, answers)


def test_a_question_has_the_tail_and_four_wrong_choices_none_of_them_an_answer_of_the_head():
    record = gq.question(edges(), "jellyfish", "AtLocation", "ocean", random.Random(0), 7)
    question = record["question"]
    texts = [c["text"] for c in question["choices"]]
    assert record["id"] == "graph-000007" and question["stem"] == "Where would you find a jellyfish?"
    assert len(set(texts)) == 5 and texts[gq.LABELS.index(record["answerKey"])] == "ocean"
    assert "sea" not in texts  # another answer of (jellyfish, AtLocation) is never a wrong choice
    assert "aquarium" in texts  # the neighbour by another relation that is a place elsewhere: a near miss
    assert "sting" not in texts  # a neighbour that is no place is not drawn


def test_a_relation_with_too_few_tails_gives_no_question():
    few = gq.Edges([], {"jellyfish": {"ocean"}}, {"AtLocation": ["ocean", "sea", "bank"]}, {})
    assert gq.question(few, "jellyfish", "AtLocation", "ocean", random.Random(0), 0) is None


def test_one_question_per_head_seeded_and_readable_by_kqa(tmp_path):
    records = gq.make_questions(edges(), n=10, seed=3)
    assert sorted(r["question"]["question_concept"] for r in records) == ["fish", "jellyfish"]
    assert records == gq.make_questions(edges(), n=10, seed=3)
    path = tmp_path / "graph.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    loaded = load_questions(str(path)).questions
    assert [q.concept for q in loaded] == [r["question"]["question_concept"] for r in records]
