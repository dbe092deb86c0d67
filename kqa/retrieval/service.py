"""Library functions behind `kqa index build`, `kqa link` and the index sync after `kqa graph update/remove`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from kqa.graph.store import GraphStore
from kqa.retrieval.facts import edge_fact, is_retrievable, retrievable
from kqa.retrieval.index import INDEX_DIR, Embedder, FactIndex, IndexConfig, IndexManifest, edge_set_checksum
from kqa.retrieval.linking import ConceptLinker, LinkedConcept, LinkingConfig

logger = logging.getLogger(__name__)


def build_index(graph: str | Path, config: IndexConfig = IndexConfig(), progress: bool = True) -> IndexManifest:
    """Embed every retrievable edge of the graph and write the index beside it."""
    with GraphStore.open(graph) as store:
        ids, texts = retrievable(store.edges())
    index = FactIndex.build(ids, texts, Embedder(config.embedder, config.batch_size), config, progress=progress)
    index.save(graph)
    logger.info("indexed %d facts of %s with %s (%s)", len(ids), graph, config.embedder, config.factory)
    return index.manifest


def sync_index(graph: str | Path, added: Sequence[str], removed: Sequence[str],
               config: IndexConfig = IndexConfig()) -> IndexManifest | None:
    """After a graph change, embed only the added edges and drop the removed ones. No index yet: nothing to do."""
    if not (Path(graph) / INDEX_DIR / "manifest.json").is_file():
        return None
    with GraphStore.open(graph) as store:
        ids, _ = retrievable(store.edges())
        edges = [e for e in (store.edge(t) for t in added) if e is not None and is_retrievable(e)]
    new_checksum = edge_set_checksum(ids)
    old_ids = set(ids) - {e.id for e in edges} | set(removed)
    index = FactIndex.load(graph, config, embedder=_manifest_embedder(graph), graph_checksum=edge_set_checksum(old_ids))
    embedder = Embedder(index.manifest.embedder, config.batch_size)
    index.update([e.id for e in edges], [edge_fact(e).text for e in edges], removed, embedder, new_checksum)
    index.save(graph)
    return index.manifest


def _manifest_embedder(graph: str | Path) -> str:
    from kqa.retrieval.index import read_manifest

    return read_manifest(graph).embedder


def link_text(graph: str | Path, text: str, spacy_model: str = "en-core-web-sm",
              config: LinkingConfig = LinkingConfig()) -> list[dict]:
    """The graph concepts mentioned in `text` (for `kqa link`)."""
    from kqa.models import load_spacy

    with GraphStore.open(graph) as store:
        linker = ConceptLinker(store.vocabulary(), load_spacy(spacy_model), config)
        concepts: tuple[LinkedConcept, ...] = linker.link_text(text)
    return [asdict(c) for c in concepts]
