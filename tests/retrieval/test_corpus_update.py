"""Knowledge from your own corpus, updated without retraining (issue #17): remove the document that answers a
question and its sentences and facts leave the question's evidence; add it back and they return. Between the two,
only `kqa graph remove/update` run (they keep both indexes in step): the reader is the same object, never trained.

Real models at a small size: spaCy en-core-web-sm parses four short documents, MiniLM embeds their facts and
sentences."""

import shutil

from typer.testing import CliRunner

from kqa.config import PipelineConfig
from kqa.data import question_from_text
from kqa.graph import cli as graph_cli
from kqa.graph.builder import GraphBuilder
from kqa.graph.config import GraphConfig
from kqa.graph.corpus import content_id
from kqa.graph.engines import LocalParser
from kqa.pipeline import KQAPipeline
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.index import SENTENCE_DIR, read_manifest
from kqa.retrieval.retriever import FactRetriever
from kqa.retrieval.service import build_index

ANSWER = "Catabolic reactions break down molecules and release energy."
CORPUS = {
    "metabolism.txt": f"Metabolism divides into catabolic and anabolic reactions. {ANSWER}",
    "plants.txt": "Plants make food by photosynthesis. Photosynthesis uses light energy.",
    "volcano.txt": "A volcano is an opening in the crust of the Earth. Lava flows out of a volcano.",
    "cells.txt": "A cell is the smallest unit of life. Cells contain a nucleus.",
}
QUESTION = question_from_text("Which reactions break down molecules and release energy?",
                              ["catabolic reactions", "photosynthesis", "lava"])
CONFIG = RetrievalConfig(sentences=True, top_k=3, sentence_k=3)


class ReadingReader:
    """A reader that records the evidence it read (and scores a choice by how much it got); it has no training step."""

    name, uses_facts = "reading", True

    def __init__(self):
        self.read = []

    def warm_up(self):
        pass

    def run(self, questions, evidence=None):
        self.read.extend(evidence)
        return [tuple(float(len(facts)) for facts in e.per_choice) for e in evidence]


def sources(prediction) -> set[str]:
    return {p.source for f in prediction.evidence for p in f.provenance}


def answer(graph, reader):
    retriever = FactRetriever.from_graph(graph, "en-core-web-sm", CONFIG)  # refuses an index out of step
    return KQAPipeline(PipelineConfig(), reader, retriever).answer(QUESTION)


def invoke(*args):
    result = CliRunner().invoke(graph_cli.app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_removing_the_answering_document_removes_its_evidence_and_adding_it_back_restores_it(tmp_path, nlp):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text + "\n")
    graph = tmp_path / "graph"
    GraphBuilder(GraphConfig(), parser=LocalParser(GraphConfig(), nlp), progress=False).run(corpus, graph, create=True)
    build_index(graph, progress=False, sentences=True)
    doc_id = content_id(CORPUS["metabolism.txt"])  # the reader strips the file's text before hashing it
    reader = ReadingReader()

    before = answer(graph, reader)
    assert doc_id in sources(before)
    catabolic = before.choices[0].evidence
    assert ANSWER in {f.text for f in catabolic if f.origin == "sentence"}
    assert any(f.origin != "sentence" and f.provenance[0].source == doc_id for f in catabolic)  # a fact of it too
    sentences = read_manifest(graph, SENTENCE_DIR).count

    shutil.move(corpus / "metabolism.txt", tmp_path / "metabolism.txt")
    invoke("remove", "metabolism.txt", "--graph", graph)  # keeps the fact and the sentence index in step
    assert read_manifest(graph, SENTENCE_DIR).count == sentences - 2
    without = answer(graph, reader)
    assert doc_id not in sources(without)
    assert ANSWER not in {f.text for f in without.evidence}

    shutil.move(tmp_path / "metabolism.txt", corpus / "metabolism.txt")
    invoke("update", corpus, "--graph", graph, "--no-progress")
    assert read_manifest(graph, SENTENCE_DIR).count == sentences
    again = answer(graph, reader)
    assert doc_id in sources(again)
    assert [f.id for f in again.choices[0].evidence] == [f.id for f in catabolic]  # the same evidence as before
    assert len(reader.read) == 3  # one reader throughout: it read three times and was never trained
