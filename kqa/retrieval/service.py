"""Library functions behind `kqa index build` and `kqa link`, and IndexesBeside, the index sync every write to a graph
runs by default (kqa.graph.indexes)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from kqa.errors import StoreError
from kqa.graph.store import GraphStore
from kqa.retrieval.facts import edge_fact, is_retrievable, retrievable
from kqa.retrieval.index import (
    INDEX_DIR,
    SENTENCE_DIR,
    Embedder,
    FactIndex,
    IndexConfig,
    IndexManifest,
    edge_set_checksum,
    read_manifest,
)
from kqa.retrieval.linking import ConceptLinker, LinkedConcept, LinkingConfig
from kqa.retrieval.sentences import build_sentence_index, sync_sentence_index

logger = logging.getLogger(__name__)


def build_index(graph: str | Path, config: IndexConfig = IndexConfig(), progress: bool = True, *,
                sentences: bool | None = None) -> IndexManifest:
    """Embed every retrievable edge of the graph and write the index beside it; with `sentences`, also every
    sentence the graph keeps, into the sentence index (GRAPH/index/sentences, for `retrieval.sentences`).
    `sentences` None: rebuild the sentence index when there is one already. Returns the fact index's manifest."""
    with GraphStore.open(graph) as store:
        ids, texts = retrievable(store.edges())
    if not ids:
        raise StoreError(f"{graph} has no fact to index: it has no edges, or only negated or quarantined ones "
                         f"(kqa graph stats --graph {graph}); add documents or import a graph first.")
    embedder = Embedder(config.embedder, config.batch_size)
    index = FactIndex.build(ids, texts, embedder, config, progress=progress)
    index.save(graph)
    logger.info("indexed %d facts of %s with %s (%s)", len(ids), graph, config.embedder, index.manifest.factory)
    if sentences or (sentences is None and (Path(graph) / SENTENCE_DIR / "manifest.json").is_file()):
        build_sentence_index(graph, config, progress, embedder)
    return index.manifest


class IndexesBeside:
    """The fact and sentence indexes beside a graph, kept in step with its writes (kqa.graph.indexes.IndexSync).

    The graph writers use one with the defaults; pass your own (`index=IndexesBeside(config, embedder)`) to set the
    batch size or to reuse a loaded embedder, used when it is the one an index was built with."""

    def __init__(self, config: IndexConfig = IndexConfig(), embedder: Embedder | None = None):
        self.config, self.embedder = config, embedder

    def sync(self, graph: Path, added: Sequence[str], removed: Sequence[str]) -> None:
        manifest = sync_index(graph, added, removed, self.config, self.embedder)
        if manifest is not None:
            logger.info("fact index of %s kept in step: %d facts", graph, manifest.count)


def sync_index(graph: str | Path, added: Sequence[str], removed: Sequence[str],
               config: IndexConfig = IndexConfig(), embedder: Embedder | None = None) -> IndexManifest | None:
    """After a graph change, embed only the added edges and drop the removed ones, and bring a sentence index in
    step with the graph's documents (`embedder`: one already loaded, used when it is the index's own). Returns the
    fact index's manifest; no fact index yet: None. Every graph writer calls it (IndexesBeside) unless told not to."""
    manifest, embedder = _sync_facts(graph, added, removed, config, embedder)
    sync_sentence_index(graph, config, embedder)
    return manifest


def _sync_facts(graph: str | Path, added: Sequence[str], removed: Sequence[str], config: IndexConfig,
                embedder: Embedder | None) -> tuple[IndexManifest | None, Embedder | None]:
    """The fact index's manifest after the change, and the embedder it used (`embedder` as given when it needed
    none)."""
    if not (Path(graph) / INDEX_DIR / "manifest.json").is_file():
        return None, embedder
    if not added and not removed:
        return read_manifest(graph), embedder
    with GraphStore.open(graph) as store:
        ids, _ = retrievable(store.edges())
        edges = [e for e in (store.edge(t) for t in added) if e is not None and is_retrievable(e)]
    index = FactIndex.load(graph, config, embedder=read_manifest(graph).embedder, graph_checksum=None)
    removed = index.held(removed)  # a removed negation was never indexed
    old_ids = set(ids) - {e.id for e in edges} | set(removed)
    if edge_set_checksum(old_ids) != index.manifest.graph_checksum:  # the index missed an earlier change
        raise StoreError(f"{Path(graph) / INDEX_DIR}: the index is out of date with the graph. Rebuild it: "
                         f"kqa index build --graph {graph}")
    if embedder is None or embedder.name != index.manifest.embedder:
        embedder = Embedder(index.manifest.embedder, config.batch_size)
    index.update([e.id for e in edges], [edge_fact(e).text for e in edges], removed, embedder, edge_set_checksum(ids))
    index.save(graph)
    return index.manifest, embedder


def link_text(graph: str | Path, text: str, spacy_model: str = "en-core-web-sm",
              config: LinkingConfig = LinkingConfig()) -> list[dict]:
    """The graph concepts mentioned in `text` (for `kqa link`)."""
    from kqa.models import load_spacy

    with GraphStore.open(graph) as store:
        linker = ConceptLinker(store.vocabulary(), load_spacy(spacy_model), config)
        concepts: tuple[LinkedConcept, ...] = linker.link_text(text)
    return [asdict(c) for c in concepts]
