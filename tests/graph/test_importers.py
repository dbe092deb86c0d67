"""WordNet 3.0 reader/importer (a small folder in the real format, CRLF included) and ConceptNet CSV."""

import pytest

from kqa.errors import InputError
from kqa.graph.importers import (
    ConceptNetImporter,
    WordNetImporter,
    import_wordnet,
    parse_assertion,
    wordnet_gloss_corpus,
)
from kqa.graph.store import GraphStore
from kqa.graph.wordnet import parse_line, wordnet_dir

HEADER = "  1 This software and database is being provided to you, the LICENSEE, by\r\n"
NOUNS = [
    "00000100 03 n 02 aquarium 0 fish_tank 0 003 @ 00000200 n 0000 #p 00000300 n 0000 + 00000500 v 0101 "
    "| a tank or pool or bowl filled with water for keeping live fish; \"the aquarium was full\"",
    "00000200 03 n 01 tank 0 001 ~ 00000100 n 0000 | a large vessel for holding liquids",
    "00000300 03 n 01 zoo 0 001 %p 00000100 n 0000 | the facility where animals are kept",
]
VERBS = ["00000500 29 v 01 keep 0 001 + 00000100 n 0101 01 + 02 00 | retain possession of"]
ADJS = ["00000700 00 a 01 wet(a) 0 001 ! 00000800 a 0101 | covered with water",
        "00000800 00 a 01 dry(p) 0 001 ! 00000700 a 0101 | free from liquid"]


@pytest.fixture()
def mini_wordnet(tmp_path):
    files = {"noun": NOUNS, "verb": VERBS, "adj": ADJS, "adv": []}
    for name, lines in files.items():
        (tmp_path / f"data.{name}").write_bytes((HEADER + "".join(l + "  \r\n" for l in lines)).encode())
    index = {"noun": ["aquarium n 1 2 @ #p 1 0 00000100", "fish_tank n 1 1 @ 1 0 00000100",
                      "tank n 1 1 ~ 1 0 00000200", "zoo n 1 1 %p 1 0 00000300"],
             "verb": ["keep v 1 1 + 1 0 00000500"], "adj": ["wet a 1 1 ! 1 0 00000700", "dry a 1 1 ! 1 0 00000800"],
             "adv": []}
    for name, lines in index.items():
        (tmp_path / f"index.{name}").write_bytes((HEADER + "".join(l + "  \r\n" for l in lines)).encode())
    return tmp_path


def test_wordnet_relations_and_descriptions(mini_wordnet):
    doc = WordNetImporter(mini_wordnet).run()
    assert {(t.head, t.relation, t.tail) for t in doc.triples} == {
        ("aquarium", "IsA", "tank"), ("fish tank", "IsA", "tank"),
        ("aquarium", "PartOf", "zoo"), ("fish tank", "PartOf", "zoo"),  # holonym and meronym agree
        ("aquarium", "RelatedTo", "keep"), ("keep", "RelatedTo", "aquarium"),
        ("wet", "Antonym", "dry"), ("dry", "Antonym", "wet")}
    descriptions = {c.name: c.description for c in doc.concepts}
    assert descriptions["aquarium"] == "a tank or pool or bowl filled with water for keeping live fish"
    assert doc.name == "wordnet-3.0"


def test_gloss_corpus(mini_wordnet):
    docs = list(wordnet_gloss_corpus(mini_wordnet))
    assert docs[0].name == "wn30:n00000100"
    assert docs[0].text == ("Aquarium is a tank or pool or bowl filled with water for keeping live fish. "
                            "The aquarium was full.")
    assert all(d.name.startswith("wn30:") for d in docs)


def test_import_wordnet_into_a_graph_and_remove_it(mini_wordnet, tmp_path):
    from kqa.graph.builder import remove_documents

    result = import_wordnet(tmp_path / "g", folder=mini_wordnet)
    assert len(result.added) == 8
    with GraphStore.open(tmp_path / "g") as store:
        assert store.concept("tank").description == "a large vessel for holding liquids"
    assert len(remove_documents(tmp_path / "g", ["wordnet-3.0"]).removed) == 8


def test_real_wordnet_lines_parse():
    with open(wordnet_dir() / "data.noun", encoding="utf-8") as f:
        line = next(l for l in f if " aquarium 0 " in l)
    synset = parse_line("n", line.rstrip("\r\n"))
    assert synset.words[:2] == ("aquarium", "fish tank") and any(p.symbol == "@" for p in synset.pointers)


def test_bad_wordnet_folder(tmp_path):
    with pytest.raises(InputError, match="has no data.noun"):
        WordNetImporter(tmp_path).run()


def test_conceptnet_english_only_weight_kept():
    doc, bad = ConceptNetImporter("data/conceptnet_sample.csv").run()
    edges = {(t.head, t.relation, t.tail): t for t in doc.triples}
    assert bad == 1 and len(edges) == 5 and ("chien", "Synonym", "dog") not in edges
    fish = edges[("fish", "AtLocation", "aquarium")]
    assert fish.confidence == 3.46 and fish.sentence == "You are likely to find a fish in an aquarium"
    assert edges[("dog", "IsA", "animal")].confidence == 2.0  # duplicates keep the highest weight


def test_conceptnet_line_parser():
    assert parse_assertion("/a/x\t/r/IsA\t/c/de/hund\t/c/en/dog\t{}") is None
    with pytest.raises(ValueError):
        parse_assertion("no tabs here")
