"""Every write to a graph keeps the indexes beside it in step (kqa.graph.indexes), through the Python API exactly as
through `kqa graph ...`, which calls it: GraphBuilder.run, remove_documents, the importers, infer and the others.

The fake embedder of test_index stands in for MiniLM: a collaborator built with it (IndexesBeside(config, embedder))
embeds what is added; the default collaborator needs no embedder for removals."""

from __future__ import annotations

import pytest
import spacy

from kqa.errors import StoreError
from kqa.graph.builder import GraphBuilder, import_documents, remove_documents
from kqa.graph.config import GraphConfig
from kqa.graph.engines import LocalParser
from kqa.graph.importers import import_conceptnet
from kqa.graph.indexes import BESIDE, INDEX_FOLDER
from kqa.graph.inference import infer
from kqa.graph.store import GraphStore
from kqa.retrieval import service
from kqa.retrieval.index import INDEX_DIR, SENTENCE_DIR, FactIndex, IndexConfig, edge_set_checksum, read_manifest
from kqa.retrieval.sentences import build_sentence_index, sentence_checksum, sentence_counts
from kqa.retrieval.service import IndexesBeside
from tests.graph.conftest import ROOT, IsAExtractor
from tests.retrieval.conftest import document
from tests.retrieval.test_index import FakeEmbedder, current

FAKE = IndexConfig(embedder="fake")


def fake_indexes() -> IndexesBeside:
    return IndexesBeside(FAKE, FakeEmbedder())


def in_step(graph) -> int:
    """The fact index loads against the graph as it is now (a retriever refuses it otherwise); its fact count."""
    ids, _ = current(graph)
    index = FactIndex.load(graph, FAKE, embedder="fake", graph_checksum=edge_set_checksum(ids))
    assert index.manifest.count == len(ids)
    return index.manifest.count


def sentences_in_step(graph) -> int:
    with GraphStore.open(graph) as store:
        counts = sentence_counts(store)
    manifest = read_manifest(graph, SENTENCE_DIR)
    assert manifest.graph_checksum == sentence_checksum(counts)
    return manifest.count


@pytest.fixture
def indexed(graph_dir):
    """The retrieval test graph with a fact index beside it, built with the fake embedder."""
    FactIndex.build(*current(graph_dir), FakeEmbedder(), FAKE).save(graph_dir)
    return graph_dir


def parser(sentences: bool = False) -> LocalParser:
    """The cheap 'X is a Y' parser of the graph tests; with `sentences`, documents keep theirs (sentence index)."""
    nlp = spacy.blank("en")
    if sentences:
        nlp.add_pipe("sentencizer")
    return LocalParser(GraphConfig(), nlp, IsAExtractor())


class Recorder:
    """An IndexSync that records its calls."""

    def __init__(self):
        self.calls = []

    def sync(self, graph, added, removed):
        self.calls.append((graph, tuple(added), tuple(removed)))


def test_remove_documents_keeps_the_index_in_step_by_default(indexed):
    before = in_step(indexed)
    result = remove_documents(indexed, ["d2.txt"])  # removals only: the default needs no embedder
    assert result.removed and in_step(indexed) == before - len(result.removed)


def test_removing_a_negation_that_was_never_indexed_keeps_the_index_in_step(indexed):
    """Negated edges (Not<Rel>) are never retrievable, so never indexed: removing a document that held one must not
    count it as a removed fact (found on SciQ: the next removal was refused as out of date)."""
    added = import_documents(indexed, [document("d3", [("penguin", "NotCapableOf", "fly"),
                                                         ("penguin", "CapableOf", "swim")])], index=fake_indexes())
    before = in_step(indexed)
    assert len(added.added) == 2  # the negation is in the graph, not in the index
    remove_documents(indexed, ["d3.txt"])
    assert in_step(indexed) == before - 1
    remove_documents(indexed, ["d2.txt"])  # and the index still follows the next change
    in_step(indexed)


def test_index_none_leaves_the_index_as_it_was_and_it_is_refused(indexed):
    remove_documents(indexed, ["d2.txt"], index=None)
    with pytest.raises(StoreError, match=r"out of date with the graph .* kqa index build --graph"):
        in_step(indexed)


def test_importers_keep_the_index_in_step(indexed):
    before = in_step(indexed)
    added = import_documents(indexed, [document("d3", [("cat", "CapableOf", "climb")])], index=fake_indexes())
    assert in_step(indexed) == before + 1 == before + len(added.added)
    result = import_conceptnet(indexed, ROOT / "data" / "conceptnet_sample.csv", index=fake_indexes())
    assert result.added and in_step(indexed) == before + 1 + len(result.added)


def test_graph_builder_keeps_the_fact_and_the_sentence_index_in_step(tmp_path):
    corpus, graph = tmp_path / "corpus", tmp_path / "g"
    corpus.mkdir()
    (corpus / "a.txt").write_text("A dog is an animal. A cat is an animal.")
    builder = GraphBuilder(GraphConfig(), parser(sentences=True), progress=False, index=fake_indexes())
    builder.run(corpus, graph, create=True)
    FactIndex.build(*current(graph), FakeEmbedder(), FAKE).save(graph)
    build_sentence_index(graph, FAKE, progress=False, embedder=FakeEmbedder())
    (corpus / "b.txt").write_text("An oak is a tree. Oaks grow slowly.")
    assert builder.run(corpus, graph).parsed == 1
    assert in_step(graph) == 3 and sentences_in_step(graph) == 4


def test_one_sync_per_change_with_its_edge_ids(tmp_path):
    corpus, graph, recorder = tmp_path / "corpus", tmp_path / "g", Recorder()
    corpus.mkdir()
    (corpus / "a.txt").write_text("A dog is an animal. A dog is a pet.")
    builder = GraphBuilder(GraphConfig(), parser(), progress=False, index=recorder)
    built = builder.run(corpus, graph, create=True)
    assert builder.run(corpus, graph).unchanged == 1  # nothing changed: no sync
    removed = remove_documents(graph, ["a.txt"], index=recorder)
    assert recorder.calls == [(graph, built.added, ()), (graph, (), removed.removed)]


def test_infer_syncs_what_it_derived(graph_dir):
    recorder = Recorder()
    result = infer(graph_dir, index=recorder)
    assert result.added and recorder.calls == [(graph_dir, result.added, result.removed)]


def test_the_default_touches_retrieval_only_for_a_graph_with_an_index(graph_dir, monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(service, "IndexesBeside", lambda: recorder)
    remove_documents(graph_dir, ["d1.txt"])
    assert recorder.calls == []  # no GRAPH/index: nothing loaded, nothing synced
    (graph_dir / INDEX_FOLDER).mkdir()
    result = remove_documents(graph_dir, ["d2.txt"], index=BESIDE)
    assert recorder.calls == [(graph_dir, result.added, result.removed)]


def test_the_graph_looks_for_indexes_where_retrieval_writes_them():
    assert INDEX_FOLDER == INDEX_DIR and SENTENCE_DIR.startswith(INDEX_FOLDER + "/")
