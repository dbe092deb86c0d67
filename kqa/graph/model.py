"""Graph records and the in-memory graph state that the store persists.

`GraphState.apply` is the only code that changes a graph: the store replays its log through it, so a graph read
back from disk equals the graph that was written, operation for operation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kqa.types import Provenance

ACTIVE = "active"  # edge status; validation sets "quarantined:<reason>" (kept in the store, never retrieved)
QUARANTINED = "quarantined:"


def quarantined(reason: str) -> str:
    """The status of an edge quarantined for `reason` (e.g. "quarantined:self-loop")."""
    return QUARANTINED + reason


def triple_id(head: str, relation: str, tail: str) -> str:
    """Stable id of a triple: the same (head, relation, tail) has the same id in every graph and every run."""
    return hashlib.sha1(f"{head}\t{relation}\t{tail}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Triple:
    """One extracted or imported statement, with where it came from inside its document."""

    head: str
    relation: str
    tail: str
    sentence: str = ""
    extractor: str = ""
    confidence: float = 1.0

    @property
    def id(self) -> str:
        return triple_id(self.head, self.relation, self.tail)


@dataclass(frozen=True)
class ConceptInfo:
    """What a document says about a concept beyond its edges: an NER label or a description (a gloss)."""

    name: str
    label: str = ""
    description: str = ""


@dataclass(frozen=True)
class Document:
    """A parsed document. `id` is its content hash; `name` is the path or JSONL id it was read from.

    `sentences`: its sentences in order, as the parser split them (what retrieval reads as passages beside the
    triples); empty for imported documents and for graphs built before sentences were kept."""

    id: str
    name: str
    triples: tuple[Triple, ...] = ()
    concepts: tuple[ConceptInfo, ...] = ()
    sentences: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddDocument:
    document: Document


@dataclass(frozen=True)
class RemoveName:
    """Detach `name` from document `doc_id`; a document with no name left loses all its support."""

    doc_id: str
    name: str


@dataclass(frozen=True)
class SetStatus:
    edge_id: str
    status: str


@dataclass(frozen=True)
class Merge:
    """From now on `alias` names the same node as `canonical` (its edges show under the canonical name)."""

    alias: str
    canonical: str


@dataclass(frozen=True)
class Unmerge:
    """Undo the merge of `alias`: its own edges show under its own name again."""

    alias: str


Operation = AddDocument | RemoveName | SetStatus | Merge | Unmerge


@dataclass(frozen=True)
class Edge:
    """A public, read-only view of one edge and every source that supports it."""

    id: str
    head: str
    relation: str
    tail: str
    supports: tuple[Provenance, ...]
    status: str = ACTIVE

    @property
    def confidence(self) -> float:
        return max((s.confidence for s in self.supports), default=0.0)


@dataclass(frozen=True)
class Concept:
    name: str
    label: str  # NER label ("" when none)
    description: str  # e.g. a WordNet gloss ("" when none)
    degree: int
    aliases: tuple[str, ...] = ()  # names merged into this concept (entity resolution)


@dataclass(slots=True)
class EdgeRecord:
    head: str
    relation: str
    tail: str
    supports: list[Provenance]
    status: str = ACTIVE


@dataclass(slots=True)
class ConceptRecord:
    edges: set[str] = field(default_factory=set)  # ids of the edges that touch it
    notes: dict[str, tuple[str, str]] = field(default_factory=dict)  # doc id -> (label, description)


@dataclass(slots=True)
class DocRecord:
    names: set[str]
    edges: set[str] = field(default_factory=set)
    concepts: set[str] = field(default_factory=set)  # concepts it labels or describes
    sentences: tuple[str, ...] = ()  # the document's sentences in order (Document.sentences)


@dataclass
class Changes:
    """Net edge changes of one batch: an edge added and removed in the same batch is in neither set."""

    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)

    def created(self, tid: str) -> None:
        if tid in self.removed:
            self.removed.discard(tid)  # it existed before the batch: no net change
        else:
            self.added.add(tid)

    def deleted(self, tid: str) -> None:
        if tid in self.added:
            self.added.discard(tid)
        else:
            self.removed.add(tid)
