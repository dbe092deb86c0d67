"""The pictures: valid PNGs, layered evidence layout, and a clear picture when there is nothing to draw."""

from __future__ import annotations

import io

from matplotlib.image import imread

from kqa.graph import draw
from kqa.types import ChoiceScore, Evidence, Fact, Prediction


def fact(head, rel, tail):
    return Fact(head, rel, tail, f"{head} {rel} {tail}", 0.5, id=f"{head}-{rel}-{tail}")


def test_evidence_columns_put_question_bridge_choice_and_choice_only_concepts_in_order():
    graph = draw._graph([draw.Link("fish", "AtLocation", "water"), draw.Link("water", "AtLocation", "sea"),
                         draw.Link("sea", "HasProperty", "salty")])
    pos = draw._columns(graph, ["fish"], ["sea", "oven"])
    assert {n: x for n, (x, _) in pos.items()} == {"fish": 0.0, "water": 1.0, "sea": 2.0, "oven": 2.0, "salty": 3.0}
    assert pos["salty"][1] == pos["sea"][1]  # a leaf sits level with its only neighbour


def test_parallel_relations_share_one_labelled_arrow():
    graph = draw._graph([draw.Link("a", "IsA", "b"), draw.Link("a", "PartOf", "b", strong=True)])
    assert graph.edges["a", "b"] == {"label": "IsA, PartOf", "strong": True}


def test_evidence_png_is_an_image_even_without_facts():
    choices = (ChoiceScore("A", "aquarium", -1.0, 0.7, (fact("fish", "AtLocation", "aquarium"),)),
               ChoiceScore("B", "oven", -2.0, 0.3, ()))
    prediction = Prediction("q", "A", choices)
    evidence = Evidence("q", tuple(c.evidence for c in choices), ("fish",), (("aquarium",), ("oven",)))
    for p, e in ((prediction, evidence), (Prediction("q", "A", tuple(c.__class__(c.label, c.text, c.score,
                                           c.probability) for c in choices)), Evidence("q", ((), ())))):
        png = draw.evidence_png(p, e)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and imread(io.BytesIO(png)).shape[:2] == (600, 900)


def test_corpus_sentences_are_evidence_but_not_drawn_as_edges():
    from kqa.retrieval.sentences import sentence_fact

    sentence = sentence_fact("doc", 0, "Fish live in an aquarium.", "fish.txt", 0.6)
    choices = (ChoiceScore("A", "aquarium", -1.0, 0.7, (fact("fish", "AtLocation", "aquarium"), sentence)),)
    links = draw._evidence_links(Prediction("q", "A", choices), 0)
    assert [(link.head, link.tail) for link in links] == [("fish", "aquarium")]
