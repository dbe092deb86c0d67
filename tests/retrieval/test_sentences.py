"""Corpus sentences as evidence (issue #17): per-choice fusion with provenance, and the sentence index kept in step
with the graph's documents."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from kqa.data import question_from_text
from kqa.errors import StoreError
from kqa.graph import cli as graph_cli
from kqa.graph.builder import import_documents, remove_documents
from kqa.graph.model import Document, Triple
from kqa.graph.store import GraphStore
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.index import SENTENCE_DIR, FactIndex, IndexConfig, read_manifest
from kqa.retrieval.linking import ConceptLinker
from kqa.retrieval.paths import ScoredEdge
from kqa.retrieval.retriever import FactRetriever
from kqa.retrieval.sentences import (
    SentenceSearch,
    build_sentence_index,
    sentence_checksum,
    sentence_id,
    sync_sentence_index,
)
from tests.retrieval.test_index import FakeEmbedder

FISH = ("An aquarium is a tank for keeping fish.", "Fish live in the aquarium.")
OVEN = ("An oven is used for baking bread.",)
DESERT = ("A desert is dry.", "Camels cross the desert.")
QUESTION = question_from_text("Where do fish live?", ["aquarium", "oven", "desert"])
FAKE = IndexConfig(embedder="fake")


def corpus_doc(doc_id: str, sentences: tuple[str, ...], *triples: tuple[str, str, str, int]) -> Document:
    """A parsed document: its sentences, and triples quoting sentence number i (as the extractor does)."""
    quoting = tuple(Triple(h, r, t, sentences[i], "test", 0.8) for h, r, t, i in triples)
    return Document(doc_id, f"{doc_id}.txt", quoting, (), sentences)


DOCS = [corpus_doc("fish", FISH, ("aquarium", "IsA", "tank", 0), ("fish", "AtLocation", "aquarium", 1)),
        corpus_doc("oven", OVEN, ("oven", "UsedFor", "bake bread", 0)),
        corpus_doc("desert", DESERT, ("desert", "HasProperty", "dry", 0))]


@pytest.fixture
def graph(tmp_path):
    folder = tmp_path / "graph"
    import_documents(folder, DOCS)
    return folder


class FixedHits:
    """A sentence index that answers every query with the same (sentence id, cosine) hits."""

    def __init__(self, hits):
        self.hits = hits

    def search(self, queries, k):
        return [self.hits[:k] for _ in queries]


def search(graph, hits=(), **config) -> SentenceSearch:
    with GraphStore.open(graph) as store:
        return SentenceSearch(store, FixedHits(list(hits)), RetrievalConfig(sentences=True, **config))


def scored(search: SentenceSearch, head: str, relation: str, tail: str, score: float) -> ScoredEdge:
    edge = next(e for e in search.store.edges() if (e.head, e.relation, e.tail) == (head, relation, tail))
    return ScoredEdge(edge, score, "direct")


# ---- fusion ----------------------------------------------------------------------------------------------------------
def test_sentences_fuse_graph_and_dense_on_the_facts_scale(graph):
    hits = [(sentence_id("fish", 0), 0.8), (sentence_id("desert", 1), -0.2), ("ffffffffffffffff", 0.9)]
    for mix, expected in [(0.5, [("fish", 0, 0.4), ("fish", 1, 0.3)]), (1.0, [("fish", 1, 0.6)]),
                          (0.0, [("fish", 0, 0.8)])]:
        found = search(graph, hits, mix=mix)
        facts = found.run([scored(found, "fish", "AtLocation", "aquarium", 0.6)], hits)
        assert [(f.id, f.score) for f in facts] == [(f"sentence:{d}:{i}", s) for d, i, s in expected], mix
    fact = facts[0]
    assert (fact.head, fact.relation, fact.tail, fact.text) == ("fish.txt", "Sentence", FISH[0], FISH[0])
    assert fact.origin == "sentence" and fact.provenance[0].source == "fish" and fact.provenance[0].sentence == FISH[0]


def test_sentence_k_caps_and_the_same_text_counts_once(tmp_path):
    import_documents(tmp_path / "g", [*DOCS, corpus_doc("copy", FISH)])  # the fish sentences again, elsewhere
    hits = [(sentence_id(d, i), 0.9 - 0.1 * n) for n, (d, i) in enumerate([("fish", 1), ("copy", 1), ("fish", 0)])]
    facts = search(tmp_path / "g", hits, mix=0.0).run([], hits)
    assert [f.text for f in facts] == [FISH[1], FISH[0]]
    assert len(search(tmp_path / "g", hits, mix=0.0, sentence_k=1).run([], hits)) == 1


def test_each_choice_gets_its_sentences_beside_its_facts(graph, nlp):
    config = RetrievalConfig(sentences=True, dense_k=0, top_k=2, sentence_k=2)
    with GraphStore.open(graph) as store:
        retriever = FactRetriever(store, ConceptLinker(store.vocabulary(), nlp), None, None, config)
        evidence = retriever.run(QUESTION)
    aquarium, oven, desert = evidence.per_choice
    assert {f.text for f in aquarium if f.origin == "sentence"} == set(FISH)
    assert [f.text for f in oven if f.origin == "sentence"] == list(OVEN)  # its own, not another choice's
    assert [f.text for f in desert if f.origin == "sentence"] == [DESERT[0]]  # the one its edge quotes
    for facts in evidence.per_choice:
        assert any(f.origin != "sentence" for f in facts)  # the facts stay
        assert [f.score for f in facts] == sorted((f.score for f in facts), reverse=True)  # one ranking
    assert all(f.provenance[0].sentence == f.text for f in aquarium if f.origin == "sentence")


def test_sentences_are_off_by_default(graph, nlp):
    with GraphStore.open(graph) as store:
        retriever = FactRetriever(store, ConceptLinker(store.vocabulary(), nlp), None, None, RetrievalConfig(dense_k=0))
        evidence = retriever.run(QUESTION)
    assert retriever.sentences is None
    assert all(f.origin != "sentence" for facts in evidence.per_choice for f in facts)


class RecordingEmbedder:
    def __init__(self):
        self.calls = []

    def encode(self, texts, progress=False):
        self.calls.append(list(texts))
        return np.eye(len(texts), 4, dtype=np.float32)  # (C, 4)


def test_one_encode_call_serves_the_fact_and_the_sentence_index(graph, nlp):
    embedder = RecordingEmbedder()
    config = RetrievalConfig(sentences=True)
    with GraphStore.open(graph) as store:
        sentences = SentenceSearch(store, FixedHits([(sentence_id("fish", 1), 0.7)]), config)
        retriever = FactRetriever(store, ConceptLinker(store.vocabulary(), nlp), FixedHits([]), embedder, config,
                                  sentences)
        evidence = retriever.run(QUESTION)
    assert len(embedder.calls) == 1
    assert all(any(f.id == "sentence:fish:1" for f in facts) for facts in evidence.per_choice)


# ---- the sentence index --------------------------------------------------------------------------------------------
def load(graph, config=FAKE) -> SentenceSearch:
    with GraphStore.open(graph) as store:
        return SentenceSearch.open(store, RetrievalConfig(sentences=True, index=config))


def nearest(graph, text: str, config=FAKE) -> list[str]:
    found = load(graph, config)
    return [sid for sid, _ in found.search(FakeEmbedder().encode([text]))[0]]


@pytest.mark.parametrize("factory", ["Flat", "HNSW32,Flat"])
def test_removing_and_adding_a_document_syncs_its_sentences(graph, factory):
    config = IndexConfig(embedder="fake", factory=factory)
    assert build_sentence_index(graph, config, progress=False, embedder=FakeEmbedder()).count == 5
    oven = sentence_id("oven", 0)
    assert nearest(graph, OVEN[0], config)[0] == oven
    remove_documents(graph, ["oven.txt"], index=None)  # synced by hand here, with the fake embedder
    manifest = sync_sentence_index(graph, config, FakeEmbedder())
    assert manifest.count == 4
    assert json.loads((graph / SENTENCE_DIR / "documents.json").read_text()) == {"desert": 2, "fish": 2}
    assert oven not in nearest(graph, OVEN[0], config)
    import_documents(graph, [DOCS[1]], index=None)
    assert sync_sentence_index(graph, config, FakeEmbedder()).count == 5
    assert nearest(graph, OVEN[0], config)[0] == oven
    rebuilt = FactIndex.build(*_all_sentences(graph), FakeEmbedder(), config)
    queries = FakeEmbedder().encode([*FISH, *DESERT])
    synced = load(graph, config).index
    for got, want in zip(synced.search(queries, 3), rebuilt.search(queries, 3)):
        assert [i for i, _ in got] == [i for i, _ in want]


def _all_sentences(graph):
    with GraphStore.open(graph) as store:
        pairs = [(sentence_id(d, i), text) for d, sentences in store.sentences() for i, text in enumerate(sentences)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_a_sentence_index_out_of_step_is_refused_with_the_fix(graph):
    with pytest.raises(StoreError, match=r"no sentence index at .* Build it: kqa index build --graph .* --sentences$"):
        load(graph)
    build_sentence_index(graph, FAKE, progress=False, embedder=FakeEmbedder())
    remove_documents(graph, ["desert.txt"], index=None)  # and no sync
    with pytest.raises(StoreError, match=r"out of date with the graph \(sentence checksum .*--sentences$"):
        load(graph)
    (graph / SENTENCE_DIR / "documents.json").write_text('{"fish": 2}')
    with pytest.raises(StoreError, match=r"documents.json: does not match the index manifest's checksum"):
        sync_sentence_index(graph, FAKE, FakeEmbedder())


def test_a_graph_without_sentences_cannot_be_sentence_indexed(tmp_path):
    import_documents(tmp_path / "g", [Document("d", "d.txt", (Triple("a", "IsA", "b"),))])
    with pytest.raises(StoreError, match=r"keeps no sentences .* kqa graph build CORPUS --graph"):
        build_sentence_index(tmp_path / "g", FAKE, progress=False, embedder=FakeEmbedder())


def test_graph_remove_syncs_sentences_even_when_no_edge_changes(tmp_path):
    """A document of sentences only (no triple) changes no edge; `kqa graph remove` still drops its sentences."""
    graph = tmp_path / "g"
    import_documents(graph, [*DOCS, Document("notes", "notes.txt", (), (), ("Metabolism has two parts.",))])
    build_sentence_index(graph, FAKE, progress=False, embedder=FakeEmbedder())
    result = CliRunner().invoke(graph_cli.app, ["remove", "notes.txt", "--graph", str(graph), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["edges_removed"] == 0
    manifest = read_manifest(graph, SENTENCE_DIR)
    assert manifest.count == 5 and manifest.graph_checksum == sentence_checksum({"desert": 2, "fish": 2, "oven": 1})


# ---- the recall benchmark's measure ------------------------------------------------------------------------------
def test_recall_counts_the_own_paragraph_among_the_top_k():
    from dataclasses import replace

    from benchmarks.bench_corpus_recall import recall
    from kqa.retrieval.sentences import sentence_fact
    from kqa.types import Evidence

    question = replace(question_from_text("q?", ["a", "b"]), answer="B")
    a = (sentence_fact("other", 0, "x", score=0.9), sentence_fact("other", 1, "y", score=0.8))
    b = (sentence_fact("other", 0, "x", score=0.9), sentence_fact("own", 0, "z", score=0.5))
    got = recall(question, Evidence(question.id, (a, b)), "own", ks=(2, 3))
    assert got == {"recall@2": False, "recall@3": True, "gold_recall@2": True, "gold_recall@3": True}


def test_index_build_rebuilds_an_existing_sentence_index(graph, monkeypatch):
    from kqa.retrieval import service

    built = []
    monkeypatch.setattr(service, "FactIndex", _NoFacts)
    monkeypatch.setattr(service, "build_sentence_index", lambda graph, *args: built.append(graph))
    service.build_index(graph, FAKE, progress=False)  # no sentence index yet: none built
    service.build_index(graph, FAKE, progress=False, sentences=True)
    (graph / SENTENCE_DIR).mkdir(parents=True)
    (graph / SENTENCE_DIR / "manifest.json").write_text("{}")
    service.build_index(graph, FAKE, progress=False)  # there is one: it is rebuilt with the facts
    service.build_index(graph, FAKE, progress=False, sentences=False)
    assert built == [graph, graph]


class _NoFacts:
    """Stands in for FactIndex where only the sentence index matters."""

    manifest = SimpleNamespace(factory="Flat")

    @classmethod
    def build(cls, *args, **kwargs):
        return cls()

    def save(self, graph):
        pass


def test_the_library_sync_after_a_change_syncs_the_sentence_index_too(graph):
    """`sync_index(graph, result.added, result.removed)`, what every graph writer runs after its change (as
    `kqa graph update/remove` do), keeps the sentence index in step as well."""
    from kqa.retrieval.service import sync_index

    build_sentence_index(graph, FAKE, progress=False, embedder=FakeEmbedder())
    result = remove_documents(graph, ["fish.txt"], index=None)
    assert sync_index(graph, result.added, result.removed, FAKE) is None  # no fact index here
    assert read_manifest(graph, SENTENCE_DIR).count == 3
    load(graph)  # in step: it loads
