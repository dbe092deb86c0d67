"""Dependency-parse extraction with the packaged en_core_web_sm."""

import pytest

from kqa.graph.extract import TripleExtractor

CASES = [
    ("A dog is an animal.", ("dog", "IsA", "animal")),
    ("Fido, a dog, barks.", ("fido", "IsA", "dog")),
    ("John has a red car.", ("john", "HasA", "red car")),
    ("The dog's tail is long.", ("dog", "HasA", "tail")),
    ("The wheel is part of a car.", ("wheel", "PartOf", "car")),
    ("Ice cream is made of milk and sugar.", ("ice cream", "MadeOf", "sugar")),
    ("Fish live in the aquarium.", ("fish", "AtLocation", "aquarium")),
    ("Ice cream is kept in a freezer.", ("ice cream", "AtLocation", "freezer")),
    ("The book is on the table.", ("book", "AtLocation", "table")),
    ("A hammer is used for driving nails.", ("hammer", "UsedFor", "drive nail")),
    ("A knife is used to cut bread.", ("knife", "UsedFor", "cut bread")),
    ("Birds can fly.", ("bird", "CapableOf", "fly")),
    ("Penguins cannot fly.", ("penguin", "NotCapableOf", "fly")),
    ("Smoking causes cancer.", ("smoking", "Causes", "cancer")),
    ("Stress can lead to illness.", ("stress", "Causes", "illness")),
    ("Children want toys.", ("child", "Desires", "toy")),
    ("The cat ate the mouse.", ("cat", "eat", "mouse")),
    ("Mice are eaten by cats.", ("cat", "eat", "mouse")),
    ("A chair is a kind of furniture.", ("chair", "IsA", "furniture")),
    ("An aquarium is a tank filled with water for keeping live fish.", ("tank", "UsedFor", "keep live fish")),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_relation(nlp_sm, text, expected):
    found = TripleExtractor().run(nlp_sm(text))
    assert expected in {(t.head, t.relation, t.tail) for t in found.triples}


def test_conjunctions_and_normalization(nlp_sm):
    found = TripleExtractor().run(nlp_sm("Cats and dogs are pets."))
    assert {(t.head, t.tail) for t in found.triples} == {("cat", "pet"), ("dog", "pet")}


def test_negated_statement_is_not_a_fact(nlp_sm):
    assert TripleExtractor().run(nlp_sm("A whale is not a fish.")).triples == ()


def test_named_entities_keep_their_label(nlp_sm):
    found = TripleExtractor("x").run(nlp_sm("Barack Obama visited Paris in 2009."))
    assert [(t.head, t.relation, t.tail) for t in found.triples] == [("barack obama", "visit", "paris")]
    assert {c.name: c.label for c in found.concepts} == {"barack obama": "PERSON", "paris": "GPE"}


def test_provenance_fields(nlp_sm):
    (triple,) = TripleExtractor("rules").run(nlp_sm("It rained. A dog is an animal.")).triples
    assert (triple.sentence, triple.extractor, triple.confidence) == ("A dog is an animal.", "rules", 0.8)
    assert len(triple.id) == 16 and triple.id == TripleExtractor().run(nlp_sm("Dogs are animals.")).triples[0].id


def test_pronouns_are_not_concepts(nlp_sm):
    assert TripleExtractor().run(nlp_sm("It is a problem. They ate it.")).triples == ()
