"""The in-memory graph: edges with their supports, concepts, documents, and the operations that change them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from kqa.graph.aliases import AliasIndex
from kqa.graph.model import (
    AddDocument,
    Changes,
    Concept,
    ConceptRecord,
    DocRecord,
    Document,
    Edge,
    EdgeRecord,
    Merge,
    Operation,
    RemoveName,
    SetStatus,
    Unmerge,
)
from kqa.types import Provenance


class GraphState:
    """Edges keyed by triple id; a concept lives while an edge touches it or a document describes it.

    `edges` and `concepts` hold the raw graph, as documents stated it. Readers see it through the alias table
    (`alias`, see aliases.py): merged names show as their canonical concept, and changes are reported that way.
    """

    def __init__(self) -> None:
        self.edges: dict[str, EdgeRecord] = {}
        self.concepts: dict[str, ConceptRecord] = {}
        self.docs: dict[str, DocRecord] = {}
        self.names: dict[str, str] = {}  # document name -> content hash
        self.relations: Counter[str] = Counter()
        self.alias = AliasIndex()

    # ---- changes -------------------------------------------------------------------------------------------------
    def apply(self, op: Operation, changes: Changes) -> None:
        if isinstance(op, AddDocument):
            self._add(op.document, changes)
        elif isinstance(op, RemoveName):
            self._remove_name(op.doc_id, op.name, changes)
        elif isinstance(op, SetStatus):
            for tid in self.alias.groups.get(op.edge_id, (op.edge_id,)):  # a merged edge: all of its raw edges
                if tid in self.edges:
                    self.edges[tid].status = op.status
        elif isinstance(op, Merge):
            if self.alias.can_merge(op.alias, op.canonical):
                self._realias(op.alias, changes, lambda: self.alias.add_alias(op.alias, op.canonical))
        elif isinstance(op, Unmerge):
            if op.alias in self.alias.aliases:
                self._realias(op.alias, changes, lambda: self.alias.drop_alias(op.alias))

    def _realias(self, alias: str, changes: Changes, change) -> None:
        """Re-show every raw edge of `alias` (and of names merged into it) around a change of the alias table."""
        touched = sorted({t for n in self.alias.closure(alias) if n in self.concepts for t in self.concepts[n].edges})
        for tid in touched:
            self.alias.unindex(tid, changes)
        self.alias.park(touched)
        change()
        for tid in touched:
            self.alias.index(tid, self.edges, changes)

    def _add(self, doc: Document, changes: Changes) -> None:
        old = self.names.get(doc.name)
        if old is not None and old != doc.id:
            self._remove_name(old, doc.name, changes)  # a name points at one content hash at a time
        self.names[doc.name] = doc.id
        if doc.id in self.docs:  # same content under another name: its support is already there
            self.docs[doc.id].names.add(doc.name)
            return
        record = self.docs[doc.id] = DocRecord(names={doc.name}, sentences=tuple(doc.sentences))
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
            self.alias.index(tid, self.edges, changes)
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
        self.alias.unindex(tid, changes)
        del self.edges[tid]
        self.relations[edge.relation] -= 1
        if not self.relations[edge.relation]:
            del self.relations[edge.relation]
        for concept in dict.fromkeys((edge.head, edge.tail)):  # once each: a self-loop's head is its tail
            self.concepts[concept].edges.discard(tid)
            self._drop_if_unused(concept)

    def _concept(self, name: str) -> ConceptRecord:
        record = self.concepts.get(name)
        if record is None:
            record = self.concepts[name] = ConceptRecord(set(), {})
        return record

    def _drop_if_unused(self, name: str) -> None:
        record = self.concepts.get(name)
        if record is not None and not record.edges and not record.notes:
            del self.concepts[name]

    # ---- reading (the resolved view) -------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        return self.alias.resolve(name)

    def edge(self, tid: str) -> Edge | None:
        if tid in self.alias.groups:
            return self._group_edge(tid)
        record = self.edges.get(tid)
        if record is None or tid in self.alias.res_map:
            return None
        return Edge(tid, record.head, record.relation, record.tail, tuple(record.supports), record.status)

    def _group_edge(self, rid: str) -> Edge:
        members = sorted(self.alias.groups[rid], key=lambda t: (t != rid, t))  # the canonical's own edge first
        first = self.edges[members[0]]
        supports = list(dict.fromkeys(s for t in members for s in self.edges[t].supports))
        return Edge(rid, self.resolve(first.head), first.relation, self.resolve(first.tail), tuple(supports),
                    self.alias.status(rid, self.edges))

    def iter_edges(self) -> Iterator[Edge]:
        seen: set[str] = set()
        for tid in self.edges:
            rid = self.alias.resolved_id(tid)
            if rid is None or rid in seen:
                continue
            if rid in self.alias.groups:
                seen.add(rid)
            yield self.edge(rid)

    def concept(self, name: str) -> Concept | None:
        name = self.resolve(name)
        names = [n for n in self.alias.closure(name) if n in self.concepts]
        if not names:
            return None
        notes = [self.concepts[n].notes[k] for n in names for k in sorted(self.concepts[n].notes)]  # not history
        label = next((lab for lab, _ in notes if lab), "")
        description = next((desc for _, desc in notes if desc), "")
        degree = len(self.neighbours(name)) if self.alias.aliases else len(self.concepts[name].edges)
        return Concept(name, label, description, degree, tuple(sorted(n for n in names if n != name)))

    def neighbours(self, name: str) -> list[Edge]:
        name = self.resolve(name)
        tids = {t for n in self.alias.closure(name) if n in self.concepts for t in self.concepts[n].edges}
        rids = {r for r in map(self.alias.resolved_id, tids) if r is not None}
        return sorted((self.edge(r) for r in rids), key=lambda e: (-e.confidence, e.relation, e.id))

    def vocabulary(self) -> frozenset[str]:
        """Every concept name as shown: merged aliases are not nodes of their own."""
        if not self.alias.aliases:
            return frozenset(self.concepts)
        return frozenset(map(self.resolve, self.concepts))

    def counts(self) -> dict:
        if not self.alias.aliases:
            return {"nodes": len(self.concepts), "edges": len(self.edges), "documents": len(self.docs),
                    "relations": dict(sorted(self.relations.items()))}
        relations = Counter(self.relations)
        hidden = self.alias.adjust_counts(self.edges, relations)
        return {"nodes": len(self.vocabulary()), "edges": len(self.edges) - hidden, "documents": len(self.docs),
                "relations": {r: n for r, n in sorted(relations.items()) if n > 0},
                "aliases": len(self.alias.aliases)}
