"""Documents keep their sentences (issue #17): parsed, persisted with the document, and read back from graphs written
before sentences were kept."""

import json

from kqa.graph.builder import GraphBuilder, remove_documents
from kqa.graph.codec import decode_op, dump_state, encode_op, load_state
from kqa.graph.config import GraphConfig
from kqa.graph.engines import LocalParser, decode_document, encode_extraction
from kqa.graph.extract import Extraction
from kqa.graph.model import AddDocument, Changes, Document, Triple
from kqa.graph.store import GraphStore

SENTENCES = ("Metabolism divides into catabolic and anabolic reactions.", "Catabolism breaks molecules down.")


def doc(doc_id="d1", name="bio.txt", sentences=SENTENCES) -> Document:
    triple = Triple("catabolism", "break", "molecule", SENTENCES[1], "test", 0.5)
    return Document(doc_id, name, (triple,), (), sentences)


def test_sentences_persist_through_the_log_and_a_snapshot(tmp_path):
    with GraphStore.open(tmp_path, writable=True, create=True) as store:
        store.commit([AddDocument(doc()), AddDocument(doc("d2", "empty.txt", ()))])
    with GraphStore.open(tmp_path) as store:  # replayed from the log
        assert list(store.sentences()) == [("d1", SENTENCES)]  # a document without sentences is not listed
        assert store.document_name("d1") == "bio.txt" and store.document_name("nope") == ""
    with GraphStore.open(tmp_path, writable=True) as store:
        store.compact()
    with GraphStore.open(tmp_path) as store:  # read from the snapshot
        assert list(store.sentences()) == [("d1", SENTENCES)]
    remove_documents(tmp_path, ["bio.txt"])
    with GraphStore.open(tmp_path) as store:
        assert list(store.sentences()) == []


def test_without_sentences_the_formats_are_as_before():
    """A document without sentences writes the log line and snapshot line kqa wrote before it kept them."""
    encoded = encode_op(AddDocument(doc(sentences=())))
    assert set(encoded) == {"op", "id", "name", "triples", "concepts"}
    assert encode_op(AddDocument(doc()))["sentences"] == list(SENTENCES)
    state = load_state([])
    state.apply(AddDocument(doc(sentences=())), Changes())
    assert json.loads(next(dump_state(state))) == {"doc": "d1", "names": ["bio.txt"]}


def test_a_graph_written_before_sentences_still_loads():
    """Log and snapshot lines of the earlier format (no `sentences` key) read as documents without sentences."""
    old_op = {"op": "add", "id": "d1", "name": "bio.txt", "concepts": [],
              "triples": [["catabolism", "break", "molecule", "Catabolism breaks molecules down.", "x", 0.5]]}
    assert decode_op(old_op).document.sentences == ()
    old_edge = {"edge": "e1", "h": "catabolism", "r": "break", "t": "molecule",
                "s": [["d1", "Catabolism breaks molecules down.", "x", 0.5]], "st": "active"}
    old_snapshot = ['{"doc": "d1", "names": ["bio.txt"]}', json.dumps(old_edge)]
    state = load_state(old_snapshot)
    assert state.docs["d1"].sentences == () and state.counts()["edges"] == 1
    round_trip = load_state(list(dump_state(state)))
    assert list(dump_state(round_trip)) == list(dump_state(state))


def test_the_parser_keeps_the_sentences_its_triples_quote(nlp_sm, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "fish.txt").write_text("An aquarium is a tank for keeping fish.\nFish live in the aquarium.\n")
    parser = LocalParser(GraphConfig(), nlp_sm)
    GraphBuilder(parser=parser, progress=False).run(corpus, tmp_path / "g", create=True)
    with GraphStore.open(tmp_path / "g") as store:
        [(_, sentences)] = list(store.sentences())
        quoted = {s.sentence for e in store.edges() for s in e.supports}
    assert sentences == ("An aquarium is a tank for keeping fish.", "Fish live in the aquarium.")
    assert quoted <= set(sentences)  # provenance sentences are the document's own: retrieval joins them


def test_a_pipeline_without_sentence_boundaries_keeps_none(cheap_parser, corpus, tmp_path):
    GraphBuilder(parser=cheap_parser, progress=False).run(corpus, tmp_path / "g", create=True)  # spacy.blank
    with GraphStore.open(tmp_path / "g") as store:
        assert list(store.sentences()) == []


def test_the_ray_engine_carries_sentences():
    found = Extraction((Triple("a", "IsA", "b", "An a is a b.", "x", 0.8),), ())
    document = decode_document("d1", "a.txt", encode_extraction(found, ("An a is a b.", "More.")))
    assert document.sentences == ("An a is a b.", "More.") and document.triples == found.triples
    assert decode_document("d1", "a.txt", json.dumps({"t": [], "c": []})).sentences == ()  # an older worker
