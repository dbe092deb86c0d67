"""Fixtures of the web tests: the small retrieval graph, a tiny-model pipeline over it, a real server in a thread."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from kqa.config import ModelConfig, PipelineConfig, ScorerConfig
from kqa.graph.builder import import_documents
from kqa.graph.store import GraphStore
from kqa.pipeline import KQAPipeline
from kqa.retrieval.config import RetrievalConfig
from kqa.retrieval.linking import ConceptLinker
from kqa.retrieval.retriever import FactRetriever
from kqa.scoring import CausalLMScorer
from tests.retrieval.conftest import TRIPLES, document

FISH = ("Where would you keep a live fish?", ["aquarium", "desert", "oven"])


@pytest.fixture
def graph_dir(tmp_path):
    folder = tmp_path / "graph"
    import_documents(folder, [document("d1", TRIPLES[:10], "A fish lives in an aquarium."),
                              document("d2", TRIPLES[10:], "Water is found in the sea.")])
    return folder


@pytest.fixture(scope="session")
def nlp():
    from kqa.models import load_spacy

    return load_spacy("en-core-web-sm")


def retriever_over(graph, nlp) -> FactRetriever:
    """Graph paths only (no dense index to build), sharing the session's spaCy pipeline."""
    store = GraphStore.open(graph)
    config = RetrievalConfig(dense_k=0)
    return FactRetriever(store, ConceptLinker(store.vocabulary(), nlp, config.linking), None, None, config)


@pytest.fixture
def tiny_pipeline(graph_dir, nlp, tiny_llama, minilm_tokenizer) -> KQAPipeline:
    """The tiny random Llama reading the retrieved facts: fast, and exercises the whole answer path."""
    config = PipelineConfig(graph={"path": str(graph_dir)}, scorer={"use_facts": True})
    reader = CausalLMScorer(ModelConfig(), ScorerConfig(use_facts=True), model=tiny_llama, tokenizer=minilm_tokenizer)
    return KQAPipeline(config, reader, retriever_over(graph_dir, nlp))


@contextmanager
def running(app):
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
