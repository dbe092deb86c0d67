"""What a write to a graph returns (UpdateResult) and how writers open the graph.

Every writer (builder, importers, inference, validation, resolution) builds on this module, so none of them needs
another to report or to open the store.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from kqa.graph.config import GraphConfig
from kqa.graph.corpus import Skipped
from kqa.graph.model import Changes
from kqa.graph.store import MANIFEST, GraphStore


@dataclass(frozen=True)
class UpdateResult:
    """What one build/update/remove/import did. `added`/`removed` are triple ids (for indexes kept beside the graph)."""

    parsed: int = 0
    unchanged: int = 0
    removed_documents: int = 0
    skipped: tuple[Skipped, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    triples: int = 0  # triples extracted or imported (before merging into edges)
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # what a command adds to the common fields (e.g. counts per rule)

    def to_dict(self) -> dict:
        return {**self.details, "documents_parsed": self.parsed, "documents_unchanged": self.unchanged,
                "documents_removed": self.removed_documents,
                "skipped": [{"document": s.name, "reason": s.reason} for s in self.skipped],
                "triples_extracted": self.triples, "edges_added": len(self.added), "edges_removed": len(self.removed),
                "added_ids": list(self.added), "removed_ids": list(self.removed),
                "seconds": round(self.seconds, 3), "graph": self.counts}

    def then(self, later: UpdateResult) -> UpdateResult:
        """Two results as one (e.g. WordNet relations, then its glosses)."""
        tally = Tally()
        tally.add(Changes(set(self.added), set(self.removed)))
        tally.add(Changes(set(later.added), set(later.removed)))
        return UpdateResult(self.parsed + later.parsed, self.unchanged + later.unchanged,
                            self.removed_documents + later.removed_documents, self.skipped + later.skipped,
                            tuple(sorted(tally.total.added)), tuple(sorted(tally.total.removed)),
                            self.triples + later.triples, self.seconds + later.seconds, later.counts)

    def summary(self, max_skipped: int = 10) -> str:
        c = self.counts
        lines = [f"documents  parsed {self.parsed}, unchanged {self.unchanged}, removed {self.removed_documents}, "
                 f"skipped {len(self.skipped)}",
                 f"triples    extracted {self.triples}; edges added {len(self.added)}, removed {len(self.removed)}",
                 f"graph      {c.get('nodes', 0)} concepts, {c.get('edges', 0)} edges, "
                 f"{c.get('documents', 0)} documents",
                 f"time       {self.seconds:.1f} s"]
        lines += [f"{key:<10} {value}" for key, value in self.details.items()]
        lines += [f"  skipped {s.name}: {s.reason}" for s in self.skipped[:max_skipped]]
        if len(self.skipped) > max_skipped:
            lines.append(f"  ... and {len(self.skipped) - max_skipped} more skipped")
        return "\n".join(lines)


class Tally:
    """Net edge changes over several committed batches."""

    def __init__(self) -> None:
        self.total = Changes()

    def add(self, batch: Changes) -> None:
        for tid in batch.removed:
            self.total.deleted(tid)
        for tid in batch.added:
            self.total.created(tid)


def open_for_writing(graph: str | Path, config: GraphConfig, create: bool) -> GraphStore:
    return GraphStore.open(graph, writable=True, create=create, compact_min_bytes=config.compact_min_bytes)


def open_existing(graph: str | Path, config: GraphConfig):
    """The graph opened for writing as a context manager, or nullcontext(None) when there is none yet."""
    return open_for_writing(graph, config, False) if (Path(graph) / MANIFEST).exists() else nullcontext(None)


def open_graph(graph: str | Path | GraphStore, config: GraphConfig = GraphConfig()):
    """An existing graph opened for writing (validate, infer, resolve use it), as a context manager.

    Given a GraphStore already open for writing, use it and leave it open: a caller running several steps on a big
    graph reads it once.
    """
    if isinstance(graph, GraphStore):
        return nullcontext(graph)
    return open_for_writing(graph, config, False)
