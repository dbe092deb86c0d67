"""The indexes beside a graph (GRAPH/index/: facts, and corpus sentences) follow every write to it.

Each writer (GraphBuilder.run, remove_documents, import_documents and the importers, infer, validate_graph, restore,
resolve_entities, merge, unmerge) takes `index`, the collaborator that keeps them in step: anything with
`sync(graph, added, removed)` (IndexSync), called once per operation after its change is committed. The default,
BESIDE, syncs the indexes the folder holds with the retrieval package's IndexesBeside (added edges and the sentences
of added documents embedded, removed ones dropped), as `kqa graph ...` does, since the CLI calls these functions; a
folder without an index costs nothing. `index=None` leaves the indexes as they are: a later load refuses them as out
of date until `kqa index build` rebuilds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from kqa.graph.store import GraphStore

INDEX_FOLDER = "index"  # kqa.retrieval.index.INDEX_DIR: the fact index, and the sentence index inside it


class IndexSync(Protocol):
    """Keeps an index beside a graph in step with a committed change (tests pass fakes)."""

    def sync(self, graph: Path, added: Sequence[str], removed: Sequence[str]) -> None:
        """`added`/`removed`: the triple ids that entered/left the graph; both may be empty when only documents
        changed (a sentence index holds their sentences)."""
        ...


class _Beside:
    """The default collaborator: the retrieval indexes in GRAPH/index, when there are any."""

    def sync(self, graph: Path, added: Sequence[str], removed: Sequence[str]) -> None:
        if not (graph / INDEX_FOLDER).is_dir():
            return  # no index: nothing to load, and retrieval (FAISS) is not even imported
        from kqa.retrieval.service import IndexesBeside

        IndexesBeside().sync(graph, added, removed)

    def __repr__(self) -> str:
        return "BESIDE"


BESIDE: IndexSync = _Beside()


def keep_in_step(graph: str | Path | GraphStore, index: IndexSync | None, added: Sequence[str],
                 removed: Sequence[str], documents: int = 0) -> None:
    """After a write to `graph`: `index.sync` when an edge changed or `documents` (parsed or removed) is not 0."""
    if index is None or not (added or removed or documents):
        return
    index.sync(graph.path if isinstance(graph, GraphStore) else Path(graph), added, removed)
