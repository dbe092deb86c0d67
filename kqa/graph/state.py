"""The in-memory graph: edges with their supports, concepts, documents, and the operations that change them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from kqa.graph.model import (
    AddDocument,
    Changes,
    Concept,
    ConceptRecord,
    DocRecord,
    Document,
    Edge,
    EdgeRecord,
    Operation,
    RemoveName,
    SetStatus,
)
from kqa.types import Provenance


class GraphState:
    """Edges keyed by triple id; a concept lives while an edge touches it or a document describes it."""

    def __init__(self) -> None:
        self.edges: dict[str, EdgeRecord] = {}
        self.concepts: dict[str, ConceptRecord] = {}
        self.docs: dict[str, DocRecord] = {}
        self.names: dict[str, str] = {}  # document name -> content hash
        self.relations: Counter[str] = Counter()

    # ---- changes -------------------------------------------------------------------------------------------------
    def apply(self, op: Operation, changes: Changes) -> None:
        if isinstance(op, AddDocument):
            self._add(op.document, changes)
        elif isinstance(op, RemoveName):
            self._remove_name(op.doc_id, op.name, changes)
        elif isinstance(op, SetStatus):
            if op.edge_id in self.edges:
                self.edges[op.edge_id].status = op.status

    def _add(self, doc: Document, changes: Changes) -> None:
        old = self.names.get(doc.name)
        if old is not None and old != doc.id:
            self._remove_name(old, doc.name, changes)  # a name points at one content hash at a time
        self.names[doc.name] = doc.id
        if doc.id in self.docs:  # same content under another name: its support is already there
            self.docs[doc.id].names.add(doc.name)
            return
        record = self.docs[doc.id] = DocRecord(names={doc.name})
        interned: dict[tuple, Provenance] = {}  # imported triples share one support value: keep one object
        for t in doc.triples:
            key = (t.sentence, t.extractor, t.confidence)
            support = interned.get(key) or interned.setdefault(key, Provenance(doc.id, *key))
            self.add_support(t.id, t.head, t.relation, t.tail, support, changes)
        for info in doc.concepts:
            if info.label or info.description:
                self._concept(info.name).notes[doc.id] = (info.label, info.description)
                record.concepts.add(info.name)

    def add_support(self, tid: str, head: str, rel: str, tail: str, support: Provenance, changes: Changes) -> None:
        edge = self.edges.get(tid)
        if edge is None:
            edge = self.edges[tid] = EdgeRecord(head, rel, tail, [])
            self._concept(head).edges.add(tid)
            self._concept(tail).edges.add(tid)
            self.relations[rel] += 1
            changes.created(tid)
        if support not in edge.supports:  # the same sentence twice in one document is one support
            edge.supports.append(support)
        self.docs[support.source].edges.add(tid)

    def _remove_name(self, doc_id: str, name: str, changes: Changes) -> None:
        record = self.docs.get(doc_id)
        if record is None or name not in record.names:
            return  # already gone: removing twice changes nothing
        record.names.discard(name)
        if self.names.get(name) == doc_id:
            del self.names[name]
        if record.names:
            return
        for tid in record.edges:
            self._retract(tid, doc_id, changes)
        for concept in record.concepts:
            self.concepts[concept].notes.pop(doc_id, None)
            self._drop_if_unused(concept)
        del self.docs[doc_id]

    def _retract(self, tid: str, doc_id: str, changes: Changes) -> None:
        edge = self.edges[tid]
        edge.supports = [s for s in edge.supports if s.source != doc_id]
        if edge.supports:
            return
        del self.edges[tid]
        self.relations[edge.relation] -= 1
        if not self.relations[edge.relation]:
            del self.relations[edge.relation]
        for concept in (edge.head, edge.tail):
            self.concepts[concept].edges.discard(tid)
            self._drop_if_unused(concept)
        changes.deleted(tid)

    def _concept(self, name: str) -> ConceptRecord:
        record = self.concepts.get(name)
        if record is None:
            record = self.concepts[name] = ConceptRecord(set(), {})
        return record

    def _drop_if_unused(self, name: str) -> None:
        record = self.concepts.get(name)
        if record is not None and not record.edges and not record.notes:
            del self.concepts[name]

    # ---- reading -------------------------------------------------------------------------------------------------
    def edge(self, tid: str) -> Edge | None:
        record = self.edges.get(tid)
        if record is None:
            return None
        return Edge(tid, record.head, record.relation, record.tail, tuple(record.supports), record.status)

    def iter_edges(self) -> Iterator[Edge]:
        for tid in self.edges:
            yield self.edge(tid)

    def concept(self, name: str) -> Concept | None:
        record = self.concepts.get(name)
        if record is None:
            return None
        notes = [record.notes[k] for k in sorted(record.notes)]  # sorted: the answer must not depend on history
        label = next((lab for lab, _ in notes if lab), "")
        description = next((desc for _, desc in notes if desc), "")
        return Concept(name, label, description, len(record.edges))

    def neighbours(self, name: str) -> list[Edge]:
        record = self.concepts.get(name)
        if record is None:
            return []
        return sorted((self.edge(t) for t in record.edges), key=lambda e: (-e.confidence, e.relation, e.id))

    def counts(self) -> dict:
        return {"nodes": len(self.concepts), "edges": len(self.edges), "documents": len(self.docs),
                "relations": dict(sorted(self.relations.items()))}
