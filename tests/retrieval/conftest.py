"""A small real graph (through the graph store's own import path) for retrieval tests."""

from __future__ import annotations

import pytest

from kqa.graph.builder import import_documents
from kqa.graph.model import Document, Triple

TRIPLES = [
    ("fish", "AtLocation", "aquarium"), ("fish", "CapableOf", "swim"), ("aquarium", "IsA", "tank"),
    ("live fish", "AtLocation", "aquarium"), ("tank", "UsedFor", "keep water"), ("fish", "AtLocation", "sea"),
    ("oven", "UsedFor", "bake"), ("desert", "HasProperty", "dry"), ("scissors", "UsedFor", "cut paper"),
    ("paper", "MadeOf", "wood"), ("knife", "UsedFor", "cut"), ("wheel", "PartOf", "car"),
    ("fish", "RelatedTo", "water"), ("water", "AtLocation", "sea"), ("revolving door", "AtLocation", "bank"),
    ("bank", "IsA", "building"), ("security", "RelatedTo", "bank"),
]


def document(doc_id: str, triples, sentence: str = "") -> Document:
    return Document(doc_id, f"{doc_id}.txt", tuple(Triple(h, r, t, sentence, "test", 0.9) for h, r, t in triples))


@pytest.fixture
def graph_dir(tmp_path):
    folder = tmp_path / "graph"
    import_documents(folder, [document("d1", TRIPLES[:10], "first"), document("d2", TRIPLES[10:], "second")])
    return folder


@pytest.fixture(scope="session")
def nlp():
    from kqa.models import load_spacy

    return load_spacy("en-core-web-sm")
